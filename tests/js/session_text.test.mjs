// Pure logic of the live session page (static/js/session_text.js).
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  TEXT,
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
