// Pure helpers of the live session page: status texts (Japanese and English),
// formatting, and validation of the messages that arrive from the server and the agent.
// No DOM and no I/O here, so node --test covers all of it (tests/js/session_text.test.mjs).

import { checkMonitors } from "./session_monitors.js";

export const CHANNEL_CONTROL = 0;
export const CHANNEL_RFB = 1;

// Mirrors tasuke.limits.MAX_CONTROL_MESSAGE and MAX_TEXT_FRAME; a bigger message is hostile.
export const MAX_CONTROL_MESSAGE = 64 * 1024;
export const MAX_TEXT_FRAME = 16 * 1024;
// Agent-supplied strings are shown, escaped, but also cut so that a long one cannot
// push the page's controls off screen.
export const MAX_SHOWN_STRING = 200;
// Mirrors tasuke.limits.HANDSHAKE_TIMEOUT: from peer_joined to key confirmation (protocol 2.5).
export const HANDSHAKE_TIMEOUT_MS = 30_000;

/** Every status text of the page, English then Japanese, both shown. */
export const TEXT = Object.freeze({
  connecting: "Connecting to the server… / サーバーに接続しています…",
  waiting: "Waiting for the customer to join / お客様の接続を待っています",
  joined: "Customer joined: setting up the secure channel / お客様が接続しました。暗号化チャネルを準備しています",
  handshake_done:
    "Secure channel ready: compare the verification code / 暗号化チャネル確立。確認コードを照合してください",
  screen_connected: "Showing the customer's screen / お客様の画面を表示しています",
  consent_pending: "Waiting for the customer's permission / お客様の許可を待っています",
  consent_control: "Customer allowed control / お客様が操作を許可しました",
  consent_view: "Customer allowed view only / お客様が画面の表示のみを許可しました",
  consent_denied: "Customer denied the connection / お客様が接続を拒否しました",
  ended_customer: "Session ended by the customer / お客様がセッションを終了しました",
  ended_operator: "You ended the session / セッションを終了しました",
  ended_server: "Session ended by the server / サーバーがセッションを終了しました",
  connection_lost: "Connection to the server was lost / サーバーとの接続が切れました",
  e2e_failed:
    "The secure channel failed; the session was ended / 暗号化チャネルのエラーのため、セッションを終了しました",
  handshake_timeout:
    "The secure channel was not set up in time; the session was ended / 暗号化チャネルを時間内に確立できなかったため、セッションを終了しました",
  consent_reported:
    "Reported by the server, not yet confirmed by the customer's PC: / サーバーからの報告（お客様のPCでは未確認）:",
  ticket_failed: "Could not open the session / セッションを開けませんでした",
  verified: "Verified: codes match / 確認済み：確認コード一致",
  expired: "Expired / 有効期限切れ",
});

/** "123456789" -> "123 456 789"; anything else is returned unchanged. */
export function formatNumber(number) {
  const s = String(number);
  return /^\d{9}$/.test(s) ? `${s.slice(0, 3)} ${s.slice(3, 6)} ${s.slice(6)}` : s;
}

/** "123456" -> "123 456"; anything that is not six digits is refused. */
export function formatSas(sas) {
  const s = String(sas);
  if (!/^\d{6}$/.test(s)) {
    throw new Error("verification code must be six digits");
  }
  return `${s.slice(0, 3)} ${s.slice(3)}`;
}

/** 32 hex characters -> 16 bytes. Throws on anything else. */
export function hexToBytes(hex) {
  if (typeof hex !== "string" || !/^(?:[0-9a-fA-F]{2})+$/.test(hex)) {
    throw new Error("session id must be hex");
  }
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  }
  return out;
}

/** Status text for a consent state ("pending"|"granted"|"denied") and scope. */
export function consentText(state, scope) {
  if (state === "pending") return TEXT.consent_pending;
  if (state === "denied") return TEXT.consent_denied;
  if (state === "granted") return scope === "view" ? TEXT.consent_view : TEXT.consent_control;
  return null;
}

/**
 * Which consent the page shows. The agent's own word arrives encrypted on channel 0
 * and is authoritative; the server's copy (control plane) could be forged by the
 * server, so it is shown only as "reported by the server", and only while channel 0
 * has said nothing yet. Once channel 0 has spoken the server's copy is ignored.
 */
export class ConsentSources {
  constructor() {
    this.channelSpoke = false;
  }

  /** A channel-0 consent message: {state, scope, text}. Throws if malformed. */
  fromChannel(state, scope) {
    const text = consentText(state, scope);
    if (!text || (state === "granted" && scope !== "control" && scope !== "view")) {
      throw new Error("bad consent message");
    }
    this.channelSpoke = true;
    return { state, scope: state === "granted" ? scope : null, text };
  }

  /** The server's consent copy: {state, scope, text} labelled as reported, or null to ignore. */
  fromServer(decision, scope) {
    if (this.channelSpoke) return null;
    const text = consentText(decision, scope);
    if (!text) return null;
    return { state: decision, scope: scope ?? null, text: `${TEXT.consent_reported} ${text}` };
  }
}

/**
 * A one-shot timer with injectable timer functions (tests use fake ones).
 * start() arms it, cancel() disarms it; onExpire runs at most once.
 */
export class Deadline {
  // Wrapped, not passed bare: browsers refuse setTimeout called on another object.
  constructor(
    ms,
    onExpire,
    timers = { setTimeout: (fn, t) => setTimeout(fn, t), clearTimeout: (id) => clearTimeout(id) },
  ) {
    this._ms = ms;
    this._onExpire = onExpire;
    this._timers = timers;
    this._id = null;
    this.expired = false;
  }

  start() {
    if (this._id !== null || this.expired) return;
    this._id = this._timers.setTimeout(() => {
      this._id = null;
      this.expired = true;
      this._onExpire();
    }, this._ms);
  }

  cancel() {
    if (this._id !== null) this._timers.clearTimeout(this._id);
    this._id = null;
  }
}

/** Status text for who ended the session. Unknown values count as the server. */
export function endedText(by) {
  if (by === "customer") return TEXT.ended_customer;
  if (by === "operator") return TEXT.ended_operator;
  return TEXT.ended_server;
}

/** A hostile string made safe to show as text: a string, no control characters, cut short. */
export function shownString(value) {
  if (typeof value !== "string" && typeof value !== "number") return "—";
  // eslint-disable-next-line no-control-regex
  const s = String(value).replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, "");
  if (s.length === 0) return "—";
  return s.length > MAX_SHOWN_STRING ? `${s.slice(0, MAX_SHOWN_STRING)}…` : s;
}

/**
 * Check the fields of a channel-0 message from the agent (docs/protocol.md 2.8).
 * Throws on a malformed info or end; the session then ends. Consent is checked by
 * ConsentSources.fromChannel.
 */
export function checkAgentControl(msg) {
  const isDim = (n) => Number.isInteger(n) && n > 0 && n <= 16384;
  if (msg.type === "info") {
    const ok =
      typeof msg.os === "string" &&
      typeof msg.hostname === "string" &&
      Array.isArray(msg.screen) &&
      msg.screen.length === 2 &&
      msg.screen.every(isDim);
    if (!ok) throw new Error("malformed info message");
    checkMonitors(msg.monitors);
  } else if (msg.type === "end") {
    const ok =
      (msg.reason === undefined || typeof msg.reason === "string") &&
      (msg.by === undefined || typeof msg.by === "string");
    if (!ok) throw new Error("malformed end message");
  }
  return msg;
}

/** [w, h] -> "1920 × 1080"; anything malformed -> "—". */
export function screenText(screen) {
  if (!Array.isArray(screen) || screen.length !== 2) return "—";
  const [w, h] = screen;
  const ok = (n) => Number.isInteger(n) && n > 0 && n <= 16384;
  return ok(w) && ok(h) ? `${w} × ${h}` : "—";
}

/**
 * The customer facts to show, as [label, value] pairs, from the server's peer_joined
 * (agent + address) or the agent's own E2E info message. Values are plain strings
 * for textContent, never markup.
 */
export function customerFacts(info, address) {
  const i = info && typeof info === "object" ? info : {};
  const facts = [
    ["OS / OS", shownString(i.os)],
    ["Host name / ホスト名", shownString(i.hostname)],
    ["Screen / 画面", screenText(i.screen)],
  ];
  if (address !== undefined) facts.push(["Address / アドレス", shownString(address)]);
  return facts;
}

/**
 * Parse one JSON message (control-plane text frame or E2E channel-0 payload).
 * Returns an object with a string `type`, or throws with a short reason.
 */
export function parseMessage(text, limit) {
  if (typeof text !== "string") throw new Error("message is not text");
  if (text.length > limit) throw new Error("message too large");
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error("message is not JSON");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new Error("message is not an object");
  }
  if (typeof value.type !== "string") throw new Error("message has no type");
  return value;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Decode an E2E channel-0 payload (UTF-8 JSON). Throws on bad UTF-8 or JSON. */
export function parseChannelControl(bytes) {
  if (bytes.length > MAX_CONTROL_MESSAGE) throw new Error("control message too large");
  return parseMessage(utf8.decode(bytes), MAX_CONTROL_MESSAGE);
}

/** Encode a channel-0 message as UTF-8 JSON bytes. */
export function encodeChannelControl(message) {
  return new TextEncoder().encode(JSON.stringify(message));
}

/**
 * Parse an expiry given by the server: epoch seconds (number or digits) or an ISO
 * date (a space between date and time accepted). Returns epoch milliseconds or null.
 */
export function parseExpiry(value) {
  if (value === undefined || value === null || value === "") return null;
  const s = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(parseFloat(s) * 1000);
  let iso = s.replace(" ", "T");
  // A naive timestamp from the server is UTC (the server stores UTC).
  if (!/(Z|[+-]\d\d:?\d\d)$/.test(iso)) iso += "Z";
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : ms;
}

/** Remaining validity as "9:05 left / 残り 9分05秒", or the expired text. */
export function remainingText(expiresMs, nowMs) {
  const left = Math.floor((expiresMs - nowMs) / 1000);
  if (left <= 0) return TEXT.expired;
  const m = Math.floor(left / 60);
  const s = String(left % 60).padStart(2, "0");
  return `Valid for ${m}:${s} / 残り ${m}分${s}秒`;
}
