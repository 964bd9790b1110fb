// The seam between noVNC and the end-to-end channel.
//
// noVNC's Websock.attach() takes any object that looks like a WebSocket or an
// RTCDataChannel: it checks that the object (own keys plus its prototype's own names)
// has send, close, binaryType, onerror, onmessage, onopen, protocol and readyState, then
// installs its handlers. TunnelChannel is such an object: what noVNC sends goes to the
// E2E layer (to be encrypted as channel-1 records) and decrypted channel-1 payloads
// come back as message events. No byte of the RFB stream ever touches the network here.

/** Largest piece of the RFB byte stream put into one E2E record by the console. */
export const MAX_CHUNK = 64 * 1024;

/**
 * Runs async steps strictly one after another, in the order they were queued.
 * E2E receive and send are async (WebCrypto), and records carry a strict sequence
 * number, so nothing may overtake: every frame in and every record out goes through
 * one queue. A failing step is reported to onError and the queue stops.
 */
export class SerialQueue {
  constructor(onError) {
    this._tail = Promise.resolve();
    this._stopped = false;
    this._onError = onError;
  }

  get stopped() {
    return this._stopped;
  }

  /** Queue step (a function returning a value or a promise). */
  push(step) {
    this._tail = this._tail.then(async () => {
      if (this._stopped) return;
      try {
        await step();
      } catch (err) {
        this._stopped = true;
        this._onError(err);
      }
    });
    return this._tail;
  }

  /** Drop every step not yet started. */
  stop() {
    this._stopped = true;
  }

  /** A promise that settles when every step queued so far has run. */
  drained() {
    return this._tail;
  }
}

function copyBytes(data) {
  // noVNC hands over a view on its reusable send buffer: copy it before any await.
  if (data instanceof ArrayBuffer) return new Uint8Array(data.slice(0));
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  }
  throw new TypeError("TunnelChannel.send takes bytes");
}

/**
 * A WebSocket-like channel for noVNC over the E2E tunnel.
 *
 * sendBytes(u8) is called synchronously, in order, for each piece noVNC sends; it must
 * queue the encryption itself. onLocalClose() is called once when noVNC closes the channel.
 */
export class TunnelChannel {
  constructor(sendBytes, onLocalClose = () => {}) {
    // Own properties, so that Websock.attach() finds them by Object.keys().
    this.binaryType = "arraybuffer";
    this.protocol = "";
    // RTCDataChannel state names: noVNC understands them and they need no WebSocket global.
    this.readyState = "open";
    this.onopen = null;
    this.onmessage = null;
    this.onclose = null;
    this.onerror = null;
    this.sentBytes = 0;
    this.receivedBytes = 0;
    this._sendBytes = sendBytes;
    this._onLocalClose = onLocalClose;
  }

  /** Called by noVNC with the bytes of its RFB client messages. */
  send(data) {
    if (this.readyState !== "open") return;
    const bytes = copyBytes(data);
    for (let off = 0; off < bytes.length; off += MAX_CHUNK) {
      const piece = bytes.subarray(off, Math.min(off + MAX_CHUNK, bytes.length));
      this.sentBytes += piece.length;
      this._sendBytes(piece);
    }
  }

  /** Called by noVNC when it disconnects. */
  close() {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    this._onLocalClose();
    this._fireClose(1000, "closed by the viewer");
  }

  /** Hand one decrypted channel-1 payload to noVNC. */
  deliver(payload) {
    if (this.readyState !== "open" || payload.length === 0) return;
    this.receivedBytes += payload.length;
    const data = payload.buffer.slice(payload.byteOffset, payload.byteOffset + payload.byteLength);
    if (this.onmessage) this.onmessage({ data });
  }

  /** The tunnel ended under noVNC (session over): tell it as a WebSocket close would. */
  closeRemote(reason) {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    this._fireClose(1000, reason);
  }

  _fireClose(code, reason) {
    // Asynchronous, as a real WebSocket's close event is: noVNC calls close() from
    // inside its own state changes and expects the event to come later.
    setTimeout(() => {
      if (this.onclose) this.onclose({ code, reason, wasClean: true });
    }, 0);
  }
}
