// The DOM side of the live session page: every write to the page goes through here,
// and only through textContent, attributes and CSSOM (CSP forbids inline code, and
// strings from the customer's agent are hostile).

import { TEXT, customerFacts, formatSas, remainingText } from "./session_text.js";

function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`session page is missing #${id}`);
  return el;
}

export class SessionView {
  constructor(root) {
    this.root = root;
    this.status = byId("session-status");
    this.consent = byId("consent-status");
    this.customer = byId("customer");
    this.facts = byId("customer-facts");
    this.verify = byId("verify");
    this.sas = byId("sas");
    this.verifyButton = byId("verify-button");
    this.verifiedNote = byId("verified-note");
    this.endButton = byId("end-session");
    this.screen = byId("screen");
    this.expiry = byId("session-expiry");
    this.copyButton = byId("copy-number");
    this.numberEl = byId("session-number");
    this.monitorPicker = byId("monitor-picker");
    this.monitorSelect = byId("monitor-select");
    this.monitorNotice = byId("monitor-notice");
    this._expiryTimer = null;
    this.root.dataset.rfbRecords = "0";
  }

  setState(state, text) {
    this.root.dataset.state = state;
    if (text) this.status.textContent = text;
  }

  /** Show who the customer is; facts come from the server or the agent (hostile). */
  showCustomer(info, address) {
    const rows = customerFacts(info, address);
    this.facts.replaceChildren();
    for (const [label, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = value;
      this.facts.append(dt, dd);
    }
    this.customer.hidden = false;
  }

  showSas(sas) {
    this.sas.textContent = formatSas(sas);
    this.root.dataset.sas = sas;
    this.verify.hidden = false;
    this.verifyButton.disabled = false;
  }

  markVerified() {
    this.root.dataset.verified = "true";
    this.verifyButton.disabled = true;
    this.verifyButton.hidden = true;
    this.verifiedNote.textContent = TEXT.verified;
    this.verifiedNote.hidden = false;
  }

  /** The consent the customer's agent reported on channel 0 (authoritative). */
  showConsent(state, scope, text) {
    delete this.root.dataset.consentReported;
    this.root.dataset.consent = state;
    this.root.dataset.scope = scope ?? "";
    this.consent.textContent = text;
    this.consent.hidden = false;
  }

  /** The server's copy, shown as reported only; it never sets data-consent. */
  showReportedConsent(state, text) {
    this.root.dataset.consentReported = state;
    this.consent.textContent = text;
    this.consent.hidden = false;
  }

  /**
   * Offer the customer's monitors ([{value, label}] from monitorOptions); none hides
   * the selector. Labels are built from numbers only, and set as text.
   */
  showMonitors(options) {
    this.monitorSelect.replaceChildren();
    for (const { value, label } of options) {
      const option = document.createElement("option");
      option.value = String(value);
      option.textContent = label;
      this.monitorSelect.append(option);
    }
    this.monitorSelect.value = "0";
    this.root.dataset.monitor = "0";
    this.monitorPicker.hidden = options.length === 0;
  }

  /** Call onSelect(value) when the operator picks another monitor. */
  onMonitorChange(onSelect) {
    this.monitorSelect.addEventListener("change", () => onSelect(this.monitorSelect.value));
  }

  /** Say why the monitor shown or the list changed; "" hides the note. Plain text. */
  showMonitorNotice(text) {
    this.monitorNotice.textContent = text;
    this.monitorNotice.hidden = !text;
  }

  markMonitor(value) {
    this.root.dataset.monitor = String(value);
  }

  countRfbRecord() {
    this.root.dataset.rfbRecords = String(Number(this.root.dataset.rfbRecords) + 1);
  }

  countRfbSent(bytes) {
    this.root.dataset.rfbSent = String(Number(this.root.dataset.rfbSent ?? 0) + bytes);
  }

  setRfbState(state) {
    this.root.dataset.rfb = state;
  }

  showEnded(by, text) {
    this.root.dataset.endedBy = by;
    this.setState("ended", text);
    this.endButton.disabled = true;
    this.verifyButton.disabled = true;
    this.monitorSelect.disabled = true;
    this.stopExpiry();
  }

  /** Count down the number's validity until the customer joins. */
  startExpiry(expiresMs, now = () => Date.now()) {
    if (expiresMs === null) return;
    const tick = () => {
      this.expiry.textContent = remainingText(expiresMs, now());
    };
    tick();
    this._expiryTimer = setInterval(tick, 1000);
  }

  stopExpiry() {
    if (this._expiryTimer !== null) clearInterval(this._expiryTimer);
    this._expiryTimer = null;
  }

  hideExpiry() {
    this.stopExpiry();
    this.expiry.hidden = true;
  }

  onCopy(number) {
    this.copyButton.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(number);
      } catch {
        // No clipboard permission (plain http on another host): select it for Ctrl+C.
        window.getSelection().selectAllChildren(this.numberEl);
      }
    });
  }
}
