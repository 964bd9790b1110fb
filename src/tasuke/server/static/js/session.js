// The operator's live session page.
//
// Two planes share one WebSocket to the server (docs/protocol.md):
//   text frames   control plane with the server (waiting, peer_joined, consent, session_ended)
//   binary frames E2E records with the customer's agent, which the server cannot read.
// Channel 0 of the E2E tunnel carries JSON (info, consent, monitors, monitor, end); channel 1
// carries the RFB byte stream, which is handed to noVNC through a WebSocket-like TunnelChannel.

import RFB from "../vendor/novnc/core/rfb.js";
import { E2ESession } from "./e2e.js";
import {
  CHANNEL_CONTROL,
  checkAgentControl,
  CHANNEL_RFB,
  ConsentSources,
  Deadline,
  HANDSHAKE_TIMEOUT_MS,
  MAX_TEXT_FRAME,
  TEXT,
  encodeChannelControl,
  endedText,
  formatNumber,
  hexToBytes,
  parseChannelControl,
  parseExpiry,
  parseMessage,
} from "./session_text.js";
import {
  checkMonitorsMessage,
  monitorMessage,
  monitorNotice,
  monitorOptions,
} from "./session_monitors.js";
import { SerialQueue, TunnelChannel } from "./tunnel.js";
import { SessionView } from "./session_view.js";

// An operator's own end must not wait on a stuck encryption for longer than this.
const END_FLUSH_TIMEOUT_MS = 500;

function withTimeout(promise, ms) {
  return Promise.race([promise, new Promise((resolve) => setTimeout(resolve, ms))]);
}

class ConsoleSession {
  constructor(root) {
    this.root = root;
    this.view = new SessionView(root);
    this.sessionIdHex = root.dataset.sessionId;
    this.number = root.dataset.number;
    this.ws = null;
    this.e2e = null;
    this.rfb = null;
    this.tunnel = null;
    this.scope = null;
    this.agentInfo = null;
    this.monitors = [];
    /** The monitor shown (0: all): as the agent last said, or as the operator last chose. */
    this.monitorShown = 0;
    this.address = undefined;
    this.ended = false;
    this.consent = new ConsentSources();
    this.handshakeDeadline = new Deadline(HANDSHAKE_TIMEOUT_MS, () => this._handshakeTimedOut());
    this.queue = new SerialQueue((err) => this._fail(err));
  }

  start() {
    const { view } = this;
    const shown = formatNumber(this.number);
    view.numberEl.textContent = shown;
    view.onCopy(shown);
    view.startExpiry(parseExpiry(this.root.dataset.expiresAt));
    view.verifyButton.addEventListener("click", () => this.verify());
    view.endButton.addEventListener("click", () => this.endByOperator());
    view.onMonitorChange((value) => this.selectMonitor(value));
    view.setState("connecting", TEXT.connecting);
    this._open().catch((err) => {
      console.error("tasuke: could not open the session", err);
      this._finish("error", TEXT.ticket_failed);
    });
  }

  async _open() {
    const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
    const resp = await fetch(`/api/sessions/${encodeURIComponent(this.sessionIdHex)}/ticket`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, Accept: "application/json" },
    });
    if (!resp.ok) throw new Error(`ticket request failed: ${resp.status}`);
    const body = await resp.json();
    if (typeof body.url !== "string" || !body.url.startsWith("/")) {
      throw new Error("ticket answer has no same-origin url");
    }
    const url = new URL(body.url, location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (this.ended) return;
    const ws = new WebSocket(url.href);
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) => this._onMessage(ev);
    ws.onclose = () => this._onClose();
    this.ws = ws;
  }

  _onMessage(ev) {
    if (this.ended) return;
    if (typeof ev.data === "string") {
      let msg;
      try {
        msg = parseMessage(ev.data, MAX_TEXT_FRAME);
      } catch (err) {
        console.warn("tasuke: ignoring a bad control message:", err.message);
        return;
      }
      this._onControl(msg);
      return;
    }
    const frame = new Uint8Array(ev.data);
    this.queue.push(() => this._onFrame(frame));
  }

  // --- control plane (server) -------------------------------------------------

  _onControl(msg) {
    switch (msg.type) {
      case "waiting":
        this.view.setState("waiting", TEXT.waiting);
        break;
      case "peer_joined":
        this._peerJoined(msg);
        break;
      case "consent": {
        // The server's copy of the agent's decision: the server could forge it, so it
        // is labelled as reported and ignored once the agent has spoken on channel 0.
        const shown = this.consent.fromServer(msg.decision, msg.scope);
        if (shown) this.view.showReportedConsent(shown.state, shown.text);
        break;
      }
      case "session_ended":
        this._finish(msg.by === "customer" || msg.by === "operator" ? msg.by : "server",
          endedText(msg.by));
        break;
      case "error":
        console.warn("tasuke: server error:", msg.code, msg.message);
        break;
      default:
        console.warn("tasuke: ignoring control message of type", msg.type);
    }
  }

  _peerJoined(msg) {
    if (this.e2e) return;
    this.view.hideExpiry();
    this.agentInfo = msg.agent;
    this.address = msg.address;
    this.view.showCustomer(this.agentInfo, this.address);
    this.view.setState("joined", TEXT.joined);
    this.e2e = new E2ESession({ role: "console", sessionId: hexToBytes(this.sessionIdHex) });
    // Protocol 2.5: a handshake that is not complete in time ends the session.
    this.handshakeDeadline.start();
  }

  _handshakeTimedOut() {
    if (this.ended || this.e2e?.established) return;
    console.warn("tasuke: the secure channel was not set up in time");
    this._sendControl({ type: "end", reason: "handshake_timeout" });
    this._finish("error", TEXT.handshake_timeout);
  }

  // --- data plane (E2E records) -----------------------------------------------

  async _onFrame(frame) {
    if (this.ended) return;
    if (!this.e2e) throw new Error("binary frame before the customer joined");
    await this.e2e.receiveFrame(frame);
    this._flush();
    for (const ev of this.e2e.eventsReceived()) {
      if (this.ended) return;
      if (typeof ev.sas === "string") {
        this.handshakeDeadline.cancel();
        this.view.showSas(ev.sas);
        this.view.setState("secure", TEXT.handshake_done);
      } else if (ev.channel === CHANNEL_CONTROL) {
        this._onChannelControl(checkAgentControl(parseChannelControl(ev.payload ?? ev.data)));
      } else if (ev.channel === CHANNEL_RFB) {
        this.view.countRfbRecord();
        this._ensureRfb();
        this.tunnel.deliver(ev.payload ?? ev.data);
      }
      // Further channels (files, chat) belong to later features: ignored here.
    }
  }

  _flush() {
    if (!this.e2e || !this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    for (const f of this.e2e.framesToSend()) this.ws.send(f);
  }

  _onChannelControl(msg) {
    switch (msg.type) {
      case "info":
        this.agentInfo = msg;
        this.view.showCustomer(msg, this.address);
        // checkAgentControl has checked the list; the selector offers only these.
        this._showMonitors(msg.monitors ?? [], 0);
        break;
      case "monitors": {
        // The customer's monitors changed, or the agent shows another than the operator
        // chose: the selector follows what the agent shows.
        const { monitors, selected } = checkMonitorsMessage(msg);
        const notice = monitorNotice(this.monitors, this.monitorShown, monitors, selected);
        this._showMonitors(monitors, selected);
        // Only the operator's own choice clears a note: an answer that says nothing new
        // (the reply to a choice that crossed a change) leaves it.
        if (notice) this.view.showMonitorNotice(notice);
        break;
      }
      case "consent": {
        const shown = this.consent.fromChannel(msg.state, msg.scope);
        this.view.showConsent(shown.state, shown.scope, shown.text);
        if (msg.state === "granted") {
          this.scope = msg.scope === "view" ? "view" : "control";
          this._ensureRfb();
          this.rfb.viewOnly = this.scope === "view";
        }
        break;
      }
      case "end":
        // Whatever the agent writes in `by`, an end on its channel is the customer's.
        this._finish("customer", TEXT.ended_customer);
        break;
      default:
        // Protocol 2.8: an unknown type on channel 0 ends the session (via _fail).
        throw new Error(`unknown channel-0 message type ${JSON.stringify(msg.type).slice(0, 40)}`);
    }
  }

  _showMonitors(monitors, selected) {
    this.monitors = monitors;
    this.monitorShown = selected;
    this.view.showMonitors(monitorOptions(monitors));
    // Without a selector (one monitor or none) there is no option to pick.
    if (monitors.length >= 2) this.view.monitorSelect.value = String(selected);
    this.view.markMonitor(selected);
  }

  _ensureRfb() {
    if (this.rfb) return;
    this.tunnel = new TunnelChannel((piece) => {
      this.queue.push(async () => {
        if (this.ended || !this.e2e) return;
        await this.e2e.send(CHANNEL_RFB, piece);
        this._flush();
        this.view.countRfbSent(piece.length);
      });
    });
    // No credentials: the RFB server inside the tunnel offers security type None only,
    // the E2E channel already authenticates both ends.
    const rfb = new RFB(this.view.screen, this.tunnel, { shared: true });
    rfb.scaleViewport = true;
    rfb.viewOnly = this.scope === "view";
    rfb.focusOnClick = true;
    rfb.addEventListener("connect", () => {
      this.view.setRfbState("connected");
      if (!this.ended) this.view.setState("connected", TEXT.screen_connected);
      this.view.screen.scrollIntoView({ block: "nearest" });
      if (!rfb.viewOnly) rfb.focus({ preventScroll: true });
    });
    rfb.addEventListener("disconnect", () => this.view.setRfbState("disconnected"));
    rfb.addEventListener("credentialsrequired", () => {
      console.error("tasuke: the remote screen asked for a password; refusing");
      rfb.disconnect();
    });
    this.rfb = rfb;
    this.view.setRfbState("connecting");
  }

  // --- operator actions -------------------------------------------------------

  verify() {
    if (this.ended || !this.e2e?.sas) return;
    this._sendControl({ type: "verified" });
    this.view.markVerified();
  }

  /** Ask the agent to show monitor `value` (0: all); noVNC gets the new size by RFB. */
  selectMonitor(value) {
    if (this.ended || !this.e2e?.established || this.queue.stopped) return;
    const message = monitorMessage(value, this.monitors.length);
    this.monitorShown = message.select;
    this.view.showMonitorNotice("");
    const e2e = this.e2e;
    this.queue.push(async () => {
      await e2e.send(CHANNEL_CONTROL, encodeChannelControl(message));
      this._flush();
      this.view.markMonitor(message.select);
    });
  }

  async endByOperator() {
    if (this.ended) return;
    this.ended = true;
    this.view.showEnded("operator", TEXT.ended_operator);
    const e2e = this.e2e;
    if (e2e?.established && !this.queue.stopped) {
      // Tell the agent inside the tunnel too, so it ends even if the server does not.
      const told = this.queue.push(async () => {
        await e2e.send(
          CHANNEL_CONTROL,
          encodeChannelControl({ type: "end", by: "operator", reason: "operator" }),
        );
        this._flush();
      });
      await withTimeout(told, END_FLUSH_TIMEOUT_MS);
    }
    this._sendControl({ type: "end", reason: "operator" });
    this._teardown();
  }

  _sendControl(msg) {
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(msg));
  }

  // --- endings ----------------------------------------------------------------

  _finish(by, text) {
    if (this.ended) return;
    this.ended = true;
    this.view.showEnded(by, text);
    this._teardown();
  }

  _fail(err) {
    if (this.ended) return;
    console.error("tasuke: secure channel failed:", err);
    this._sendControl({ type: "end", reason: "e2e_error" });
    this._finish("error", TEXT.e2e_failed);
  }

  _onClose() {
    this._finish("connection", TEXT.connection_lost);
  }

  _teardown() {
    this.handshakeDeadline.cancel();
    this.queue.stop();
    if (this.rfb) {
      try {
        this.rfb.disconnect();
      } catch (err) {
        console.warn("tasuke: noVNC disconnect:", err);
      }
    }
    this.tunnel?.closeRemote("session ended");
    if (this.e2e) {
      try {
        this.e2e.destroy();
      } catch (err) {
        console.warn("tasuke: destroy keys:", err);
      }
    }
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) this.ws.close(1000, "session ended");
  }
}

const root = document.getElementById("session");
if (root) {
  const session = new ConsoleSession(root);
  session.start();
}
