// Tasuke end-to-end channel: the browser (and Node 20) twin of the Python package tasuke.e2e.
//
// The wire format is normative in docs/protocol.md section 2. This module uses WebCrypto only
// (crypto.subtle: X25519, ECDH P-256, HKDF, HMAC, AES-GCM, SHA-256) and has no dependencies.
// Every constant here is checked against tests/vectors/e2e.json (generated from the Python
// code) by tests/js/e2e.test.mjs, so the two implementations cannot drift apart silently.
//
// Sans-I/O like its Python twin: feed binary WebSocket frames to receiveFrame(), write
// framesToSend() to the socket, act on eventsReceived(). Methods that touch WebCrypto are async;
// calls are serialised internally, so records keep their order even if callers do not await.

const subtle = globalThis.crypto.subtle;

export const PROTOCOL_VERSION = 1;
export const SESSION_ID_LENGTH = 16;
export const MESSAGE_TYPES = Object.freeze({ commit: 1, accept: 2, reveal: 3, confirm: 4, record: 16 });
export const SUITES = Object.freeze({ x25519: 1, p256: 2 });
export const PUBLIC_KEY_LENGTH = Object.freeze({ x25519: 32, p256: 65 });
export const CHANNEL_CONTROL = 0;
export const CHANNEL_RFB = 1;
export const CHANNELS = Object.freeze({ control: CHANNEL_CONTROL, rfb: CHANNEL_RFB });
export const DIRECTION_AGENT_TO_CONSOLE = Uint8Array.of(0, 0, 0, 1);
export const DIRECTION_CONSOLE_TO_AGENT = Uint8Array.of(0, 0, 0, 2);
export const MAX_OFFERED_SUITES = 8;
export const MAX_RECORD_PLAINTEXT = 1024 * 1024; // tasuke.limits.MAX_RECORD_PLAINTEXT
export const MAX_HANDSHAKE_MESSAGE = 4 * 1024; // tasuke.limits.MAX_HANDSHAKE_MESSAGE
export const LABELS = Object.freeze({
  transcript: "tasuke-e2e v1 transcript",
  info_agent_to_console: "tasuke-e2e v1 key agent to console",
  info_console_to_agent: "tasuke-e2e v1 key console to agent",
  info_confirm: "tasuke-e2e v1 confirm",
  info_sas: "tasuke-e2e v1 sas",
  confirm_agent: "tasuke-e2e v1 confirm agent",
  confirm_console: "tasuke-e2e v1 confirm console",
});

// The handshake state machine: [state, event, next state]. Anything not listed is refused.
export const TRANSITIONS = Object.freeze({
  agent: [
    ["start", "initiate", "wait_accept"],
    ["wait_accept", "accept", "wait_confirm"],
    ["wait_confirm", "confirm", "established"],
    ["established", "record", "established"],
    ["established", "send", "established"],
  ],
  console: [
    ["start", "commit", "wait_reveal"],
    ["wait_reveal", "reveal", "wait_confirm"],
    ["wait_confirm", "confirm", "established"],
    ["established", "record", "established"],
    ["established", "send", "established"],
  ],
});

const TAG_LENGTH = 16;
const RECORD_HEADER_LENGTH = 9;
const MIN_RECORD_FRAME = RECORD_HEADER_LENGTH + 1 + TAG_LENGTH;
const MAX_RECORD_FRAME = RECORD_HEADER_LENGTH + MAX_RECORD_PLAINTEXT + TAG_LENGTH;
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
// DER PKCS#8 headers for a bare private key (RFC 8410 for X25519; RFC 5915 ECPrivateKey
// without the optional public key for P-256); the 32 key bytes follow.
const X25519_PKCS8 = hex("302e020100300506032b656e04220420");
const P256_PKCS8 = hex("3041020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420");
const SUITE_BY_ID = new Map(Object.entries(SUITES).map(([name, id]) => [id, name]));
const TYPE_BY_ID = new Map(Object.entries(MESSAGE_TYPES).map(([name, id]) => [id, name]));
const TABLES = Object.fromEntries(
  Object.entries(TRANSITIONS).map(([role, rows]) => [role, new Map(rows.map(([s, e, n]) => [`${s} ${e}`, n]))]),
);
const utf8 = new TextEncoder();

/** Any handshake or record failure; the session is dead afterwards. */
export class E2EError extends Error {
  constructor(reason) {
    super(reason);
    this.name = "E2EError";
    this.reason = reason;
  }
}

/** Both sides hold the same keys; show `sas` (6 digits) to the operator. */
export class HandshakeComplete {
  constructor(sas) {
    this.type = "handshake_complete";
    this.sas = sas;
  }
}

/** One decrypted record: `data` (Uint8Array) arrived on `channel`. */
export class ChannelData {
  constructor(channel, data) {
    this.type = "channel_data";
    this.channel = channel;
    this.data = data;
  }
}

// --- byte helpers -------------------------------------------------------------------------

export function hex(text) {
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
  return out;
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function u64(value) {
  const out = new Uint8Array(8);
  new DataView(out.buffer).setBigUint64(0, value);
  return out;
}

function base64url(text) {
  const bin = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

async function sha256(data) {
  return new Uint8Array(await subtle.digest("SHA-256", data));
}

function take(rng, n) {
  const data = rng(n);
  if (!(data instanceof Uint8Array) || data.length !== n) {
    throw new E2EError("random source returned the wrong number of bytes");
  }
  return data;
}

function defaultRng(n) {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

// --- suites ---------------------------------------------------------------------------------

const ALGORITHM = { x25519: { name: "X25519" }, p256: { name: "ECDH", namedCurve: "P-256" } };

/** The suites this runtime supports, preferred first (X25519 is missing in older browsers). */
export async function detectSuites() {
  try {
    await subtle.generateKey(ALGORITHM.x25519, false, ["deriveBits"]);
    return ["x25519", "p256"];
  } catch {
    return ["p256"];
  }
}

/**
 * A key pair for `suite` from `rng`, exactly as the Python side makes it: X25519 private key =
 * rng(32); P-256 scalar d = (rng(40) as big-endian integer mod (n - 1)) + 1.
 */
export async function generateKeyPair(suite, rng) {
  let secret;
  if (suite === "x25519") {
    secret = concat(X25519_PKCS8, take(rng, 32));
  } else {
    let c = 0n;
    for (const b of take(rng, 40)) c = (c << 8n) | BigInt(b);
    const d = (c % (P256_ORDER - 1n)) + 1n;
    const scalar = new Uint8Array(32);
    for (let i = 31, v = d; i >= 0; i--, v >>= 8n) scalar[i] = Number(v & 0xffn);
    secret = concat(P256_PKCS8, scalar);
    scalar.fill(0);
  }
  try {
    // WebCrypto cannot derive a public key directly: import once extractable to read it from
    // the JWK, then keep only a non-extractable copy of the private key.
    const readable = await subtle.importKey("pkcs8", secret, ALGORITHM[suite], true, ["deriveBits"]);
    const jwk = await subtle.exportKey("jwk", readable);
    const publicKey =
      suite === "x25519" ? base64url(jwk.x) : concat(Uint8Array.of(4), base64url(jwk.x), base64url(jwk.y));
    const privateKey = await subtle.importKey("pkcs8", secret, ALGORITHM[suite], false, ["deriveBits"]);
    return { suite, privateKey, publicKey };
  } finally {
    secret.fill(0);
  }
}

async function exchange(pair, peerPublic) {
  if (peerPublic.length !== PUBLIC_KEY_LENGTH[pair.suite]) throw new E2EError("peer public key has the wrong length");
  if (pair.suite === "p256" && peerPublic[0] !== 4) throw new E2EError("P-256 public key must be an uncompressed point");
  let shared;
  try {
    const peer = await subtle.importKey("raw", peerPublic, ALGORITHM[pair.suite], false, []);
    const name = ALGORITHM[pair.suite].name;
    shared = new Uint8Array(await subtle.deriveBits({ name, public: peer }, pair.privateKey, 256));
  } catch {
    throw new E2EError("peer public key rejected");
  }
  // RFC 7748 section 6.1: an all-zero X25519 result means a low-order peer key.
  if (shared.every((b) => b === 0)) throw new E2EError("peer public key rejected");
  return shared;
}

// --- key schedule (docs/protocol.md 2.4) ---------------------------------------------------------

export function commitment(suite, publicKey) {
  return sha256(concat(Uint8Array.of(SUITES[suite]), publicKey));
}

/** The transcript: each field prefixed by its 2-byte big-endian length. */
export function transcript(sessionId, commitFrame, suite, agentPublic, consolePublic) {
  const fields = [
    utf8.encode(LABELS.transcript),
    Uint8Array.of(PROTOCOL_VERSION),
    sessionId,
    commitFrame,
    Uint8Array.of(SUITES[suite]),
    utf8.encode("agent"),
    agentPublic,
    utf8.encode("console"),
    consolePublic,
  ];
  return concat(...fields.flatMap((f) => [Uint8Array.of(f.length >> 8, f.length & 0xff), f]));
}

/** HKDF-SHA256 outputs (raw bytes) with salt = SHA-256(transcript); exported for the vectors. */
export async function keySchedule(sharedSecret, transcriptBytes) {
  const transcriptHash = await sha256(transcriptBytes);
  const ikm = await subtle.importKey("raw", sharedSecret, "HKDF", false, ["deriveBits"]);
  const expand = async (label) =>
    new Uint8Array(
      await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt: transcriptHash, info: utf8.encode(label) }, ikm, 256),
    );
  return {
    transcriptHash,
    agentToConsole: await expand(LABELS.info_agent_to_console),
    consoleToAgent: await expand(LABELS.info_console_to_agent),
    confirm: await expand(LABELS.info_confirm),
    sas: await expand(LABELS.info_sas),
  };
}

/** 6 digits: the first 8 bytes of the SAS key, big-endian, mod 10^6, zero-padded. */
export function sasDigits(sasKey) {
  const value = new DataView(sasKey.buffer, sasKey.byteOffset, 8).getBigUint64(0);
  return (value % 1000000n).toString().padStart(6, "0");
}

function confirmData(role, transcriptHash) {
  return concat(utf8.encode(role === "agent" ? LABELS.confirm_agent : LABELS.confirm_console), transcriptHash);
}

// --- the session ---------------------------------------------------------------------------

export class E2ESession {
  #role;
  #sessionId;
  #rng;
  #suites;
  #state = "start";
  #chain = Promise.resolve();
  #out = [];
  #events = [];
  #pairs = new Map();
  #commitFrame = null;
  #commitments = new Map();
  #suite = null;
  #hash = null;
  #confirmKey = null;
  #sasKey = null;
  #sendKey = null;
  #receiveKey = null;
  #sendSeq = 0n;
  #receiveSeq = 0n;
  #sas = null;

  /**
   * @param {{role: "agent"|"console", sessionId: Uint8Array, rng?: (n: number) => Uint8Array,
   *          suites?: string[]}} options  suites default to what this runtime supports.
   */
  constructor({ role, sessionId, rng = defaultRng, suites = null }) {
    if (role !== "agent" && role !== "console") throw new E2EError("role must be agent or console");
    if (!(sessionId instanceof Uint8Array) || sessionId.length !== SESSION_ID_LENGTH) {
      throw new E2EError("session id must be 16 bytes");
    }
    if (suites !== null && (!suites.length || new Set(suites).size !== suites.length || !suites.every((s) => s in SUITES))) {
      throw new E2EError("suites must be non-empty, known and distinct");
    }
    this.#role = role;
    this.#sessionId = Uint8Array.from(sessionId);
    this.#rng = rng;
    this.#suites = suites;
  }

  get role() { return this.#role; }
  get established() { return this.#state === "established"; }
  get sas() { return this.established ? this.#sas : null; }
  get suite() { return this.#suite; }

  /** Agent only: make a key pair per offered suite and queue the Commit. */
  initiate() {
    return this.#serial("initiate", async () => {
      const offers = [];
      for (const suite of await this.#supported()) {
        const pair = await generateKeyPair(suite, this.#rng);
        this.#pairs.set(suite, pair);
        offers.push(Uint8Array.of(SUITES[suite]), await commitment(suite, pair.publicKey));
      }
      this.#commitFrame = concat(Uint8Array.of(MESSAGE_TYPES.commit, PROTOCOL_VERSION, offers.length / 2), ...offers);
      this.#out.push(this.#commitFrame);
    });
  }

  /** Process one binary frame (Uint8Array or ArrayBuffer) from the peer. */
  receiveFrame(frame) {
    // Copy now: the caller may reuse its buffer before our turn comes.
    const bytes =
      frame instanceof ArrayBuffer ? new Uint8Array(frame.slice(0)) : ArrayBuffer.isView(frame) ? Uint8Array.from(frame) : null;
    return this.#serial(() => {
      if (bytes === null) throw new E2EError("frame must be bytes");
      if (!bytes.length) throw new E2EError("empty frame");
      const kind = TYPE_BY_ID.get(bytes[0]);
      if (bytes[0] !== MESSAGE_TYPES.record && bytes.length > MAX_HANDSHAKE_MESSAGE) {
        throw new E2EError("handshake message too large");
      }
      if (kind === undefined) throw new E2EError(`unknown message type ${bytes[0]}`);
      return kind;
    }, (kind) => this.#handlers[kind](bytes));
  }

  /** Encrypt `payload` (Uint8Array) for `channel` and queue the record. */
  send(channel, payload) {
    const data = Uint8Array.from(payload);
    return this.#serial("send", async () => {
      if (channel !== CHANNEL_CONTROL && channel !== CHANNEL_RFB) throw new E2EError(`unknown channel ${channel}`);
      if (1 + data.length > MAX_RECORD_PLAINTEXT) throw new E2EError("record payload too large");
      const seq = u64(this.#sendSeq);
      this.#sendSeq += 1n;
      const dir = this.#role === "agent" ? DIRECTION_AGENT_TO_CONSOLE : DIRECTION_CONSOLE_TO_AGENT;
      const sealed = await subtle.encrypt(
        { name: "AES-GCM", iv: concat(dir, seq), additionalData: concat(this.#sessionId, dir, seq), tagLength: 128 },
        this.#sendKey,
        concat(Uint8Array.of(channel), data),
      );
      this.#out.push(concat(Uint8Array.of(MESSAGE_TYPES.record), seq, new Uint8Array(sealed)));
    });
  }

  /** Return and forget the frames queued for the peer (Uint8Array each), in order. */
  framesToSend() {
    this.#alive();
    const frames = this.#out;
    this.#out = [];
    return frames;
  }

  /** Return and forget the events (HandshakeComplete, ChannelData) produced so far. */
  eventsReceived() {
    this.#alive();
    const events = this.#events;
    this.#events = [];
    return events;
  }

  /** Drop every key and end the session; later calls throw E2EError. */
  destroy() {
    this.#state = "dead";
    this.#pairs.clear();
    this.#hash = this.#confirmKey = this.#sendKey = this.#receiveKey = this.#sas = null;
    this.#sasKey?.fill(0);
    this.#sasKey = null;
    this.#out = [];
    this.#events = [];
  }

  // --- internals ----------------------------------------------------------------------------

  #alive() {
    if (this.#state === "dead") throw new E2EError("the end-to-end session has ended");
  }

  #advance(event) {
    this.#alive();
    const next = TABLES[this.#role].get(`${this.#state} ${event}`);
    if (next === undefined) throw new E2EError(`${event} not allowed in state ${this.#state}`);
    this.#state = next;
  }

  // Run `work` after every earlier call finished; the state check happens in order too.
  // Any failure kills the session and surfaces as E2EError.
  #serial(event, work) {
    const run = async () => {
      try {
        const name = typeof event === "function" ? event() : event;
        this.#advance(name);
        await work(name);
      } catch (err) {
        this.destroy();
        throw err instanceof E2EError ? err : new E2EError(`end-to-end failure: ${err?.message ?? err}`);
      }
    };
    const result = this.#chain.then(run);
    this.#chain = result.catch(() => {});
    return result;
  }

  async #supported() {
    if (this.#suites === null) this.#suites = await detectSuites();
    return this.#suites;
  }

  #handlers = {
    commit: (f) => this.#onCommit(f),
    accept: (f) => this.#onAccept(f),
    reveal: (f) => this.#onReveal(f),
    confirm: (f) => this.#onConfirm(f),
    record: (f) => this.#onRecord(f),
  };

  async #onCommit(frame) {
    if (frame.length < 3) throw new E2EError("truncated commit");
    const [, version, count] = frame;
    if (version !== PROTOCOL_VERSION) throw new E2EError(`unsupported protocol version ${version}`);
    if (count < 1 || count > MAX_OFFERED_SUITES) throw new E2EError("commit must offer 1 to 8 suites");
    if (frame.length !== 3 + count * 33) throw new E2EError("commit has the wrong length");
    const offered = [];
    for (let i = 3; i < frame.length; i += 33) {
      if (this.#commitments.has(frame[i])) throw new E2EError("commit lists a suite twice");
      this.#commitments.set(frame[i], frame.slice(i + 1, i + 33));
      offered.push(frame[i]);
    }
    const mine = await this.#supported();
    // The agent's order of preference decides among the suites both sides support.
    const choice = offered.map((id) => SUITE_BY_ID.get(id)).find((s) => s !== undefined && mine.includes(s));
    if (choice === undefined) throw new E2EError("no common suite");
    this.#commitFrame = frame;
    this.#suite = choice;
    const pair = await generateKeyPair(choice, this.#rng);
    this.#pairs.set(choice, pair);
    this.#out.push(concat(Uint8Array.of(MESSAGE_TYPES.accept, SUITES[choice]), pair.publicKey));
  }

  async #onAccept(frame) {
    if (frame.length < 2) throw new E2EError("truncated accept");
    const suite = SUITE_BY_ID.get(frame[1]);
    if (suite === undefined) throw new E2EError(`unknown suite ${frame[1]}`);
    const consolePublic = frame.slice(2);
    if (consolePublic.length !== PUBLIC_KEY_LENGTH[suite]) throw new E2EError("accept has a public key of the wrong length");
    const pair = this.#pairs.get(suite);
    if (pair === undefined) throw new E2EError("console chose a suite that was not offered");
    this.#suite = suite;
    for (const other of [...this.#pairs.keys()]) if (other !== suite) this.#pairs.delete(other);
    await this.#derive(pair, pair.publicKey, consolePublic);
    const mac = await subtle.sign("HMAC", this.#confirmKey, confirmData("agent", this.#hash));
    this.#out.push(
      concat(Uint8Array.of(MESSAGE_TYPES.reveal), pair.publicKey),
      concat(Uint8Array.of(MESSAGE_TYPES.confirm), new Uint8Array(mac)),
    );
  }

  async #onReveal(frame) {
    if (frame.length !== 1 + PUBLIC_KEY_LENGTH[this.#suite]) throw new E2EError("reveal has a public key of the wrong length");
    const agentPublic = frame.slice(1);
    const expected = this.#commitments.get(SUITES[this.#suite]);
    if (!equal(await commitment(this.#suite, agentPublic), expected)) {
      throw new E2EError("agent key does not match its commitment");
    }
    const pair = this.#pairs.get(this.#suite);
    await this.#derive(pair, agentPublic, pair.publicKey);
  }

  async #onConfirm(frame) {
    if (frame.length !== 33) throw new E2EError("confirm has the wrong length");
    const peer = this.#role === "agent" ? "console" : "agent";
    const ok = await subtle.verify("HMAC", this.#confirmKey, frame.slice(1), confirmData(peer, this.#hash));
    if (!ok) throw new E2EError("key confirmation failed");
    if (this.#role === "console") {
      const mac = await subtle.sign("HMAC", this.#confirmKey, confirmData("console", this.#hash));
      this.#out.push(concat(Uint8Array.of(MESSAGE_TYPES.confirm), new Uint8Array(mac)));
    }
    this.#sas = sasDigits(this.#sasKey);
    // The handshake secrets have done their job; only the record keys live on.
    this.#sasKey.fill(0);
    this.#sasKey = this.#confirmKey = null;
    this.#pairs.clear();
    this.#events.push(new HandshakeComplete(this.#sas));
  }

  async #onRecord(frame) {
    if (frame.length < MIN_RECORD_FRAME) throw new E2EError("truncated record");
    if (frame.length > MAX_RECORD_FRAME) throw new E2EError("record too large");
    const seqBytes = frame.slice(1, RECORD_HEADER_LENGTH);
    const seq = new DataView(seqBytes.buffer).getBigUint64(0);
    if (seq !== this.#receiveSeq) throw new E2EError(`record sequence ${seq} where ${this.#receiveSeq} was due`);
    const dir = this.#role === "agent" ? DIRECTION_CONSOLE_TO_AGENT : DIRECTION_AGENT_TO_CONSOLE;
    let plain;
    try {
      plain = new Uint8Array(
        await subtle.decrypt(
          { name: "AES-GCM", iv: concat(dir, seqBytes), additionalData: concat(this.#sessionId, dir, seqBytes), tagLength: 128 },
          this.#receiveKey,
          frame.slice(RECORD_HEADER_LENGTH),
        ),
      );
    } catch {
      throw new E2EError("record failed authentication");
    }
    this.#receiveSeq = seq + 1n;
    if (plain[0] !== CHANNEL_CONTROL && plain[0] !== CHANNEL_RFB) throw new E2EError(`record for unknown channel ${plain[0]}`);
    this.#events.push(new ChannelData(plain[0], plain.slice(1)));
  }

  async #derive(pair, agentPublic, consolePublic) {
    if (equal(agentPublic, consolePublic)) throw new E2EError("peer reflected our own public key");
    const shared = await exchange(pair, this.#role === "agent" ? consolePublic : agentPublic);
    const keys = await keySchedule(shared, transcript(this.#sessionId, this.#commitFrame, this.#suite, agentPublic, consolePublic));
    shared.fill(0);
    const agentSide = this.#role === "agent";
    const aes = (raw, usage) => subtle.importKey("raw", raw, "AES-GCM", false, [usage]);
    this.#sendKey = await aes(agentSide ? keys.agentToConsole : keys.consoleToAgent, "encrypt");
    this.#receiveKey = await aes(agentSide ? keys.consoleToAgent : keys.agentToConsole, "decrypt");
    this.#confirmKey = await subtle.importKey("raw", keys.confirm, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"]);
    this.#hash = keys.transcriptHash;
    this.#sasKey = keys.sas;
    keys.agentToConsole.fill(0);
    keys.consoleToAgent.fill(0);
    keys.confirm.fill(0);
  }
}
