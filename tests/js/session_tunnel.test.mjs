// The noVNC <-> E2E seam (static/js/tunnel.js), checked against noVNC's own Websock.
import { test } from "node:test";
import assert from "node:assert/strict";

import { MAX_CHUNK, SerialQueue, TunnelChannel } from "../../src/tasuke/server/static/js/tunnel.js";

// noVNC's websock.js reads WebSocket.CONNECTING etc. at import time; Node 20 has no
// WebSocket global, so give it the constants only (the tunnel never needs a socket);
// its logging module looks for `window`.
globalThis.window ??= globalThis;
globalThis.WebSocket ??= { CONNECTING: 0, OPEN: 1, CLOSING: 2, CLOSED: 3 };
const { default: Websock } = await import("../../node_modules/@novnc/novnc/core/websock.js");

function waitFor(predicate, ms = 1000) {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error("condition not met in time"));
      else setTimeout(poll, 1);
    };
    poll();
  });
}

test("noVNC's Websock accepts the tunnel as a raw channel and sees it open", () => {
  const sock = new Websock();
  const tunnel = new TunnelChannel(() => {});
  sock.attach(tunnel);
  assert.equal(sock.readyState, "open");
  assert.equal(tunnel.binaryType, "arraybuffer");
});

test("decrypted payloads reach noVNC's receive queue in order", () => {
  const sock = new Websock();
  const tunnel = new TunnelChannel(() => {});
  let messages = 0;
  sock.on("message", () => messages++);
  sock.attach(tunnel);
  tunnel.deliver(new TextEncoder().encode("RFB 003"));
  tunnel.deliver(new TextEncoder().encode(".008\n"));
  assert.equal(messages, 2);
  assert.equal(sock.rQshiftStr(12), "RFB 003.008\n");
  assert.equal(tunnel.receivedBytes, 12);
});

test("what noVNC sends is copied before its buffer is reused", () => {
  const sent = [];
  const sock = new Websock();
  const tunnel = new TunnelChannel((piece) => sent.push(piece));
  sock.attach(tunnel);
  sock.sQpushString("RFB 003.008\n");
  sock.flush();
  sock.sQpushBytes(new Uint8Array([1]));
  sock.flush();
  assert.equal(sent.length, 2);
  assert.equal(new TextDecoder().decode(sent[0]), "RFB 003.008\n");
  assert.deepEqual([...sent[1]], [1]);
});

test("large sends are cut into records of at most MAX_CHUNK bytes", () => {
  const sent = [];
  const tunnel = new TunnelChannel((piece) => sent.push(piece));
  const big = new Uint8Array(MAX_CHUNK * 2 + 5).map((_, i) => i & 0xff);
  tunnel.send(big);
  assert.deepEqual(sent.map((p) => p.length), [MAX_CHUNK, MAX_CHUNK, 5]);
  const joined = new Uint8Array(big.length);
  let off = 0;
  for (const p of sent) {
    joined.set(p, off);
    off += p.length;
  }
  assert.deepEqual(joined, big);
});

test("a closed tunnel sends and delivers nothing and reports close once", async () => {
  const sent = [];
  let localCloses = 0;
  let closeEvents = 0;
  const tunnel = new TunnelChannel((p) => sent.push(p), () => localCloses++);
  let got = 0;
  tunnel.onmessage = () => got++;
  tunnel.onclose = () => closeEvents++;
  tunnel.close();
  tunnel.close();
  tunnel.closeRemote("again");
  tunnel.send(new Uint8Array([1]));
  tunnel.deliver(new Uint8Array([1]));
  await waitFor(() => closeEvents === 1);
  assert.equal(localCloses, 1);
  assert.equal(sent.length, 0);
  assert.equal(got, 0);
  assert.equal(tunnel.readyState, "closed");
});

test("the serial queue never lets a slow step be overtaken", async () => {
  const order = [];
  const q = new SerialQueue(() => {});
  q.push(async () => {
    await new Promise((r) => setTimeout(r, 20));
    order.push(1);
  });
  q.push(() => order.push(2));
  q.push(async () => {
    await Promise.resolve();
    order.push(3);
  });
  await q.drained();
  assert.deepEqual(order, [1, 2, 3]);
});

test("the serial queue stops at the first failure and reports it", async () => {
  const errors = [];
  const ran = [];
  const q = new SerialQueue((e) => errors.push(e.message));
  q.push(() => ran.push("a"));
  q.push(() => {
    throw new Error("bad record");
  });
  q.push(() => ran.push("c"));
  await q.drained();
  assert.deepEqual(ran, ["a"]);
  assert.deepEqual(errors, ["bad record"]);
  assert.ok(q.stopped);
});
