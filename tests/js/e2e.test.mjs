// The JS twin of tasuke.e2e against the shared known-answer vectors, and on its own.
// Run: node --test tests/js/
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";

import * as e2e from "../../src/tasuke/server/static/js/e2e.js";

const { E2ESession, E2EError, HandshakeComplete, ChannelData, hex, toHex } = e2e;
const VECTORS = JSON.parse(readFileSync(new URL("../vectors/e2e.json", import.meta.url), "utf8"));
const C = VECTORS.constants;

function replayRng(hexBytes) {
  const data = hex(hexBytes);
  let at = 0;
  return (n) => {
    assert.ok(at + n <= data.length, "vector rng exhausted");
    const out = data.slice(at, at + n);
    at += n;
    return out;
  };
}

async function pump(a, b) {
  for (;;) {
    const fromA = a.framesToSend();
    const fromB = b.framesToSend();
    if (!fromA.length && !fromB.length) return;
    for (const f of fromA) await b.receiveFrame(f);
    for (const f of fromB) await a.receiveFrame(f);
  }
}

async function established(suites = ["x25519", "p256"], consoleSuites = suites) {
  const sessionId = hex("00112233445566778899aabbccddeeff");
  const agent = new E2ESession({ role: "agent", sessionId, suites });
  const consoleSide = new E2ESession({ role: "console", sessionId, suites: consoleSuites });
  await agent.initiate();
  await pump(agent, consoleSide);
  assert.deepEqual(agent.eventsReceived(), [new HandshakeComplete(agent.sas)]);
  assert.deepEqual(consoleSide.eventsReceived(), [new HandshakeComplete(agent.sas)]);
  return { agent, consoleSide };
}

const sortRows = (rows) => rows.map((r) => r.join(" ")).sort();

test("constants agree with the Python implementation", () => {
  assert.equal(e2e.PROTOCOL_VERSION, C.protocol_version);
  assert.deepEqual({ ...e2e.MESSAGE_TYPES }, C.message_types);
  assert.deepEqual({ ...e2e.SUITES }, C.suites);
  assert.deepEqual({ ...e2e.PUBLIC_KEY_LENGTH }, C.public_key_length);
  assert.deepEqual({ ...e2e.CHANNELS }, C.channels);
  assert.equal(toHex(e2e.DIRECTION_AGENT_TO_CONSOLE), C.direction_agent_to_console);
  assert.equal(toHex(e2e.DIRECTION_CONSOLE_TO_AGENT), C.direction_console_to_agent);
  assert.equal(e2e.MAX_OFFERED_SUITES, C.max_offered_suites);
  assert.equal(e2e.MAX_RECORD_PLAINTEXT, C.max_record_plaintext);
  assert.equal(e2e.MAX_HANDSHAKE_MESSAGE, C.max_handshake_message);
  assert.equal(e2e.SESSION_ID_LENGTH, C.session_id_length);
  assert.deepEqual({ ...e2e.LABELS }, C.labels);
  for (const role of ["agent", "console"]) {
    assert.deepEqual(sortRows(e2e.TRANSITIONS[role]), sortRows(C.transitions[role]));
  }
});

test("X25519 in WebCrypto matches RFC 7748 section 6.1", async () => {
  const v = VECTORS.rfc7748_x25519;
  const rng = replayRng(v.alice_private + v.bob_private);
  const alice = await e2e.generateKeyPair("x25519", rng);
  const bob = await e2e.generateKeyPair("x25519", rng);
  assert.equal(toHex(alice.publicKey), v.alice_public);
  assert.equal(toHex(bob.publicKey), v.bob_public);
  const peer = await crypto.subtle.importKey("raw", bob.publicKey, { name: "X25519" }, false, []);
  const shared = await crypto.subtle.deriveBits({ name: "X25519", public: peer }, alice.privateKey, 256);
  assert.equal(toHex(new Uint8Array(shared)), v.shared);
});

for (const vcase of VECTORS.cases) {
  test(`vectors: ${vcase.name} reproduced byte for byte`, async () => {
    const sessionId = hex(vcase.session_id);
    const sides = {
      agent: new E2ESession({ role: "agent", sessionId, rng: replayRng(vcase.agent_rng), suites: vcase.agent_suites }),
      console: new E2ESession({
        role: "console",
        sessionId,
        rng: replayRng(vcase.console_rng),
        suites: vcase.console_suites,
      }),
    };
    await sides.agent.initiate();
    const pending = { agent: [], console: [] };
    for (const step of vcase.handshake) {
      const receiver = step.from === "agent" ? sides.console : sides.agent;
      pending[step.from].push(...sides[step.from].framesToSend());
      const frame = pending[step.from].shift();
      assert.equal(toHex(frame), step.hex, `${step.from} frame`);
      await receiver.receiveFrame(frame);
    }
    assert.deepEqual(sides.agent.eventsReceived(), [new HandshakeComplete(vcase.sas)]);
    assert.deepEqual(sides.console.eventsReceived(), [new HandshakeComplete(vcase.sas)]);
    assert.equal(sides.agent.sas, vcase.sas);
    assert.equal(sides.console.suite, vcase.suite);
    for (const record of vcase.records) {
      const sender = sides[record.from];
      const receiver = record.from === "agent" ? sides.console : sides.agent;
      await sender.send(record.channel, hex(record.payload));
      const [frame] = sender.framesToSend();
      assert.equal(toHex(frame), record.frame);
      await receiver.receiveFrame(hex(record.frame));
      assert.deepEqual(receiver.eventsReceived(), [new ChannelData(record.channel, hex(record.payload))]);
    }
  });

  test(`vectors: ${vcase.name} key schedule steps`, async () => {
    const suite = vcase.suite;
    const t = e2e.transcript(
      hex(vcase.session_id),
      hex(vcase.handshake[0].hex),
      suite,
      hex(vcase.agent_public[suite]),
      hex(vcase.console_public),
    );
    assert.equal(toHex(t), vcase.transcript);
    const keys = await e2e.keySchedule(hex(vcase.shared_secret), t);
    assert.equal(toHex(keys.transcriptHash), vcase.transcript_hash);
    assert.equal(toHex(keys.agentToConsole), vcase.keys.agent_to_console);
    assert.equal(toHex(keys.consoleToAgent), vcase.keys.console_to_agent);
    assert.equal(toHex(keys.confirm), vcase.keys.confirm);
    assert.equal(toHex(keys.sas), vcase.keys.sas);
    assert.equal(e2e.sasDigits(keys.sas), vcase.sas);
  });
}

for (const [agentSuites, consoleSuites, expected] of [
  [["x25519", "p256"], ["x25519", "p256"], "x25519"],
  [["x25519", "p256"], ["p256"], "p256"],
]) {
  test(`pair round trip (${expected}) with real randomness`, async () => {
    const { agent, consoleSide } = await established(agentSuites, consoleSuites);
    assert.ok(agent.established && consoleSide.established);
    assert.equal(agent.suite, expected);
    assert.match(agent.sas, /^\d{6}$/);
    assert.equal(agent.sas, consoleSide.sas);
    const info = new TextEncoder().encode('{"type":"info"}');
    await agent.send(e2e.CHANNEL_CONTROL, info);
    await consoleSide.send(e2e.CHANNEL_RFB, new Uint8Array([1, 2, 3]));
    await pump(agent, consoleSide);
    assert.deepEqual(consoleSide.eventsReceived(), [new ChannelData(0, info)]);
    assert.deepEqual(agent.eventsReceived(), [new ChannelData(1, new Uint8Array([1, 2, 3]))]);
  });
}

test("default suites come from what the runtime supports (Node 20: both)", async () => {
  assert.deepEqual(await e2e.detectSuites(), ["x25519", "p256"]);
  const { agent } = await established(null);
  assert.equal(agent.suite, "x25519");
});

test("a tampered record aborts the session for good", async () => {
  const { agent, consoleSide } = await established();
  await agent.send(e2e.CHANNEL_RFB, new Uint8Array(64));
  const [frame] = agent.framesToSend();
  frame[frame.length - 5] ^= 1;
  await assert.rejects(consoleSide.receiveFrame(frame), E2EError);
  assert.equal(consoleSide.established, false);
  assert.equal(consoleSide.sas, null);
  assert.throws(() => consoleSide.framesToSend(), E2EError);
  await assert.rejects(consoleSide.send(0, new Uint8Array(1)), E2EError);
});

test("replayed and reordered records abort", async () => {
  let { agent, consoleSide } = await established();
  await agent.send(1, new Uint8Array([1]));
  const [one] = agent.framesToSend();
  await consoleSide.receiveFrame(one);
  await assert.rejects(consoleSide.receiveFrame(one), /sequence 0 where 1/);

  ({ agent, consoleSide } = await established());
  await agent.send(1, new Uint8Array([1]));
  await agent.send(1, new Uint8Array([2]));
  const [, second] = agent.framesToSend();
  await assert.rejects(consoleSide.receiveFrame(second), /sequence 1 where 0/);
});

test("a wrong confirmation MAC aborts", async () => {
  const sessionId = new Uint8Array(16);
  const agent = new E2ESession({ role: "agent", sessionId });
  const consoleSide = new E2ESession({ role: "console", sessionId });
  await agent.initiate();
  await consoleSide.receiveFrame(agent.framesToSend()[0]);
  await agent.receiveFrame(consoleSide.framesToSend()[0]);
  const [reveal, confirm] = agent.framesToSend();
  await consoleSide.receiveFrame(reveal);
  confirm[10] ^= 0x80;
  await assert.rejects(consoleSide.receiveFrame(confirm), /key confirmation failed/);
});

test("data before the handshake, oversize data and unknown types are refused", async () => {
  const sessionId = new Uint8Array(16);
  await assert.rejects(new E2ESession({ role: "agent", sessionId }).send(0, new Uint8Array(1)), /send not allowed/);
  const { agent } = await established();
  await assert.rejects(agent.send(1, new Uint8Array(e2e.MAX_RECORD_PLAINTEXT)), /too large/);
  const fresh = new E2ESession({ role: "console", sessionId });
  await assert.rejects(fresh.receiveFrame(new Uint8Array([0x99, 1, 2])), /unknown message type/);
  await assert.rejects(new E2ESession({ role: "console", sessionId }).receiveFrame("text"), E2EError);
  assert.throws(() => new E2ESession({ role: "agent", sessionId: new Uint8Array(15) }), E2EError);
});

test("sends issued without awaiting keep their order", async () => {
  const { agent, consoleSide } = await established();
  const sends = [];
  for (let i = 0; i < 20; i++) sends.push(agent.send(1, new Uint8Array([i])));
  await Promise.all(sends);
  await pump(agent, consoleSide);
  assert.deepEqual(
    consoleSide.eventsReceived().map((ev) => ev.data[0]),
    Array.from({ length: 20 }, (_, i) => i),
  );
});
