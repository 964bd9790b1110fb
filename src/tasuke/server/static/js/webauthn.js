// Security keys and passkeys (WebAuthn) for the operator console: signing in with one on the
// second-factor page, and registering one on the account security page.
//
// A plain ES module, loaded with <script type="module" src>: the CSP forbids inline script.
// The server sends py_webauthn's JSON options (binary fields in base64url); this module turns
// them into what navigator.credentials wants, and the answer back into JSON.

const ERRORS = {
  NotAllowedError:
    "The security key did not answer or the request was cancelled. / セキュリティキーが応答しないか、操作が取り消されました。",
  InvalidStateError:
    "This security key is registered already. / このセキュリティキーは既に登録されています。",
};

export function fromBase64url(text) {
  const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
  const padded = base64 + "=".repeat((4 - (base64.length % 4)) % 4);
  const binary = atob(padded);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
  return bytes.buffer;
}

export function toBase64url(buffer) {
  const bytes = new Uint8Array(buffer);
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function csrfToken() {
  return document.querySelector('meta[name="csrf-token"]')?.content ?? "";
}

async function postJSON(url, body) {
  const response = await fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: {
      "X-CSRF-Token": csrfToken(),
      "Content-Type": "application/json",
      Accept: "application/json",
    },
    body: JSON.stringify(body ?? {}),
  });
  let payload = {};
  try {
    payload = await response.json();
  } catch {
    payload = {};
  }
  if (!response.ok) {
    throw new Error(payload.detail || `HTTP ${response.status}`);
  }
  return payload;
}

function descriptors(list) {
  return (list || []).map((item) => ({ ...item, id: fromBase64url(item.id) }));
}

export function creationOptions(json) {
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    user: { ...json.user, id: fromBase64url(json.user.id) },
    excludeCredentials: descriptors(json.excludeCredentials),
  };
}

export function requestOptions(json) {
  return {
    ...json,
    challenge: fromBase64url(json.challenge),
    allowCredentials: descriptors(json.allowCredentials),
  };
}

function registrationJSON(credential) {
  const response = credential.response;
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: toBase64url(response.clientDataJSON),
      attestationObject: toBase64url(response.attestationObject),
      transports: response.getTransports ? response.getTransports() : [],
    },
    clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
  };
}

function authenticationJSON(credential) {
  const response = credential.response;
  return {
    id: credential.id,
    rawId: toBase64url(credential.rawId),
    type: credential.type,
    response: {
      clientDataJSON: toBase64url(response.clientDataJSON),
      authenticatorData: toBase64url(response.authenticatorData),
      signature: toBase64url(response.signature),
      userHandle: response.userHandle ? toBase64url(response.userHandle) : undefined,
    },
    clientExtensionResults: credential.getClientExtensionResults(),
    authenticatorAttachment: credential.authenticatorAttachment ?? undefined,
  };
}

function explain(error) {
  return ERRORS[error?.name] || String(error?.message || error);
}

function showError(element, error) {
  if (!element) return;
  element.textContent = explain(error); // textContent only: server and browser text is data
  element.hidden = false;
}

async function signIn(button) {
  const root = document.getElementById("second-factor-step");
  const errorBox = document.getElementById("webauthn-error");
  const remember = document.getElementById("webauthn-remember");
  button.disabled = true;
  try {
    const options = await postJSON("/login/webauthn/options");
    const credential = await navigator.credentials.get({ publicKey: requestOptions(options) });
    const result = await postJSON("/login/webauthn/verify", {
      credential: authenticationJSON(credential),
      remember: Boolean(remember?.checked),
      next: root?.dataset.next || "/",
    });
    window.location.assign(result.next || "/");
  } catch (error) {
    showError(errorBox, error);
    button.disabled = false;
  }
}

async function register(button) {
  const errorBox = document.getElementById("webauthn-register-error");
  const label = document.getElementById("webauthn-label");
  button.disabled = true;
  try {
    const options = await postJSON("/account/webauthn/options");
    const credential = await navigator.credentials.create({ publicKey: creationOptions(options) });
    const result = await postJSON("/account/webauthn/register", {
      credential: registrationJSON(credential),
      label: label?.value || "",
    });
    window.location.assign(result.next || "/account/security");
  } catch (error) {
    showError(errorBox, error);
    button.disabled = false;
  }
}

function start() {
  const signInButton = document.getElementById("webauthn-sign-in");
  if (signInButton) signInButton.addEventListener("click", () => signIn(signInButton));
  const registerButton = document.getElementById("webauthn-register");
  if (registerButton) registerButton.addEventListener("click", () => register(registerButton));
  const unsupported = document.getElementById("webauthn-unsupported");
  if (unsupported && !window.PublicKeyCredential) unsupported.hidden = false;
}

if (typeof document !== "undefined") {
  start();
}
