// The data conversions of the WebAuthn module (static/js/webauthn.js): py_webauthn's JSON
// options use base64url for binary fields; navigator.credentials wants ArrayBuffers.
import { test } from "node:test";
import assert from "node:assert/strict";

import {
  creationOptions,
  fromBase64url,
  requestOptions,
  toBase64url,
} from "../../src/tasuke/server/static/js/webauthn.js";

test("base64url round-trips every byte value and length", () => {
  for (let length = 0; length < 70; length += 1) {
    const bytes = Uint8Array.from({ length }, (_, i) => (i * 37 + length) % 256);
    const text = toBase64url(bytes.buffer);
    assert.doesNotMatch(text, /[+/=]/);
    assert.deepEqual(new Uint8Array(fromBase64url(text)), bytes);
  }
  assert.equal(toBase64url(Uint8Array.of(0xfb, 0xff).buffer), "-_8");
});

test("creation options turn the challenge, user id and excluded ids into buffers", () => {
  const options = creationOptions({
    challenge: "AAEC",
    rp: { id: "localhost", name: "Tasuke" },
    user: { id: "AAAAAAAAAAE", name: "admin", displayName: "Admin" },
    pubKeyCredParams: [{ type: "public-key", alg: -7 }],
    excludeCredentials: [{ type: "public-key", id: "_w" }],
  });
  assert.deepEqual(new Uint8Array(options.challenge), Uint8Array.of(0, 1, 2));
  assert.deepEqual(new Uint8Array(options.user.id), Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(new Uint8Array(options.excludeCredentials[0].id), Uint8Array.of(255));
  assert.equal(options.rp.id, "localhost");
});

test("request options without allowed credentials stay valid", () => {
  const options = requestOptions({ challenge: "AAEC", rpId: "localhost" });
  assert.deepEqual(options.allowCredentials, []);
  assert.equal(options.rpId, "localhost");
});
