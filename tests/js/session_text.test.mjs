// Pure logic of the live session page (static/js/session_text.js).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  ConsentSources,
  Deadline,
  HANDSHAKE_TIMEOUT_MS,
  TEXT,
  checkAgentControl,
  consentText,
  customerFacts,
  encodeChannelControl,
  endedText,
  formatNumber,
  formatSas,
  hexToBytes,
  parseChannelControl,
  parseExpiry,
  parseMessage,
  remainingText,
  shownString,
} from "../../src/tasuke/server/static/js/session_text.js";

const JAPANESE = /[\u3040-\u30ff\u4e00-\u9fff]/;

test("every status text is in English and Japanese", () => {
  for (const [key, text] of Object.entries(TEXT)) {
    assert.match(text, /[A-Za-z]/, key);
    assert.match(text, JAPANESE, key);
  }
});

test("session number shows as 3-3-3 and the code as 3-3", () => {
  assert.equal(formatNumber("123456789"), "123 456 789");
  assert.equal(formatSas("042137"), "042 137");
  assert.throws(() => formatSas("12345"));
  assert.throws(() => formatSas("<b>12</b>"));
});

test("session id hex becomes the 16 bytes of the E2E session id", () => {
  const bytes = hexToBytes("00ff10" + "ab".repeat(13));
  assert.equal(bytes.length, 16);
  assert.deepEqual([...bytes.slice(0, 3)], [0, 255, 16]);
  assert.throws(() => hexToBytes("xyz"));
  assert.throws(() => hexToBytes("abc"));
});

test("consent states map to what the operator reads", () => {
  assert.equal(consentText("pending", null), TEXT.consent_pending);
  assert.equal(consentText("granted", "control"), TEXT.consent_control);
  assert.equal(consentText("granted", "view"), TEXT.consent_view);
  assert.equal(consentText("denied", null), TEXT.consent_denied);
  assert.equal(consentText("granted-ish", null), null);
  assert.match(TEXT.consent_denied, /denied/);
});

test("who ended the session is said plainly; unknown means the server", () => {
  assert.match(endedText("customer"), /by the customer/);
  assert.match(endedText("operator"), /You ended/);
  assert.match(endedText("server"), /by the server/);
  assert.match(endedText("<script>"), /by the server/);
});

test("hostile agent strings are cut and stripped of control and bidi characters", () => {
  assert.equal(shownString("pc\u202e-01\n"), "pc-01");
  assert.equal(shownString(""), "—");
  assert.equal(shownString({ toString: () => "x" }), "—");
  const long = shownString("a".repeat(1000));
  assert.ok(long.length <= 201);
  const facts = customerFacts(
    { os: "<img src=x onerror=alert(1)>", hostname: "pc", screen: [1024, 768] },
    "192.0.2.1",
  );
  assert.deepEqual(facts.map((f) => f[1]), [
    "<img src=x onerror=alert(1)>", // shown as text by the view, never parsed as markup
    "pc",
    "1024 × 768",
    "192.0.2.1",
  ]);
  assert.equal(customerFacts({ screen: [1, "2"] })[2][1], "—");
  assert.equal(customerFacts(null).length, 3);
});

test("messages must be JSON objects with a type and within the limit", () => {
  assert.deepEqual(parseMessage('{"type":"waiting"}', 100), { type: "waiting" });
  assert.throws(() => parseMessage("[1]", 100), /object/);
  assert.throws(() => parseMessage("{", 100), /JSON/);
  assert.throws(() => parseMessage('{"type":1}', 100), /type/);
  assert.throws(() => parseMessage('{"type":"x"}', 5), /too large/);
});

test("channel-0 messages round-trip as UTF-8 JSON and reject bad UTF-8", () => {
  const bytes = encodeChannelControl({ type: "end", by: "operator", reason: "終了" });
  assert.deepEqual(parseChannelControl(bytes), { type: "end", by: "operator", reason: "終了" });
  assert.throws(() => parseChannelControl(new Uint8Array([0x7b, 0xff, 0x7d])));
  assert.throws(() => parseChannelControl(new Uint8Array(64 * 1024 + 1)), /too large/);
});

test("expiry parses epoch seconds and ISO dates (naive means UTC)", () => {
  assert.equal(parseExpiry(1767225600), 1767225600000);
  assert.equal(parseExpiry("2026-01-01 00:00:00"), Date.UTC(2026, 0, 1));
  assert.equal(parseExpiry("2026-01-01T09:00:00+09:00"), Date.UTC(2026, 0, 1));
  assert.equal(parseExpiry("None"), null);
  assert.equal(parseExpiry(""), null);
});

test("remaining validity counts down and then says expired", () => {
  assert.equal(remainingText(65_000, 0), "Valid for 1:05 / 残り 1分05秒");
  assert.equal(remainingText(0, 5), TEXT.expired);
});

/** Fake timers: nothing runs until the test advances the clock. */
function fakeTimers() {
  let now = 0;
  const pending = new Map();
  let next = 1;
  return {
    setTimeout(fn, ms) {
      pending.set(next, { at: now + ms, fn });
      return next++;
    },
    clearTimeout(id) {
      pending.delete(id);
    },
    advance(ms) {
      now += ms;
      for (const [id, t] of [...pending]) {
        if (t.at <= now) {
          pending.delete(id);
          t.fn();
        }
      }
    },
  };
}

test("the handshake deadline is the protocol's 30 s and fires once", () => {
  assert.equal(HANDSHAKE_TIMEOUT_MS, 30_000);
  const timers = fakeTimers();
  let fired = 0;
  const d = new Deadline(HANDSHAKE_TIMEOUT_MS, () => fired++, timers);
  d.start();
  d.start(); // a second peer_joined does not re-arm it
  timers.advance(HANDSHAKE_TIMEOUT_MS - 1);
  assert.equal(fired, 0);
  timers.advance(1);
  assert.equal(fired, 1);
  assert.ok(d.expired);
  timers.advance(HANDSHAKE_TIMEOUT_MS);
  assert.equal(fired, 1);
});

test("a completed handshake cancels the deadline", () => {
  const timers = fakeTimers();
  let fired = 0;
  const d = new Deadline(HANDSHAKE_TIMEOUT_MS, () => fired++, timers);
  d.start();
  timers.advance(10_000);
  d.cancel();
  timers.advance(HANDSHAKE_TIMEOUT_MS);
  assert.equal(fired, 0);
});

test("the handshake timeout is explained in both languages", () => {
  assert.match(TEXT.handshake_timeout, /not set up in time/);
  assert.match(TEXT.handshake_timeout, /時間内に確立できなかった/);
});

test("the server's consent copy is only a report, and ignored once channel 0 spoke", () => {
  const sources = new ConsentSources();
  const reported = sources.fromServer("granted", "control");
  assert.equal(reported.state, "granted");
  assert.match(reported.text, /^Reported by the server/);
  assert.ok(reported.text.includes(TEXT.consent_control));
  const fromAgent = sources.fromChannel("pending", null);
  assert.deepEqual(fromAgent, { state: "pending", scope: null, text: TEXT.consent_pending });
  // A forged "granted" from the server cannot override what the agent said.
  assert.equal(sources.fromServer("granted", "control"), null);
  assert.equal(sources.fromChannel("granted", "view").text, TEXT.consent_view);
  assert.equal(new ConsentSources().fromServer("maybe", null), null);
});

test("a malformed channel-0 consent is refused", () => {
  const sources = new ConsentSources();
  assert.throws(() => sources.fromChannel("granted", "everything"), /bad consent/);
  assert.throws(() => sources.fromChannel("yes", null), /bad consent/);
  assert.equal(sources.channelSpoke, false);
});

test("malformed info and end messages from the agent are refused", () => {
  const info = { type: "info", os: "Debian", hostname: "pc", screen: [800, 600] };
  assert.equal(checkAgentControl(info), info);
  assert.equal(checkAgentControl({ type: "end", by: "customer", reason: "x" }).type, "end");
  assert.throws(() => checkAgentControl({ ...info, screen: [800] }), /malformed info/);
  assert.throws(() => checkAgentControl({ ...info, os: 1 }), /malformed info/);
  assert.throws(() => checkAgentControl({ type: "end", reason: {} }), /malformed end/);
});

test("the deadline works with the platform's own timers", async () => {
  // Resolves only if the default timers call back (node --test fails on a hang).
  await new Promise((resolve) => new Deadline(1, resolve).start());
});
