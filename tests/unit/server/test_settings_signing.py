"""Settings derived from the command line, and the server's signing key."""

import json
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tasuke.errors import ConfigError
from tasuke.server.security.signing import load_or_create_key, public_key_bytes, sign_grant
from tasuke.server.settings import Settings, parse_listen


def test_listen_parsing() -> None:
    assert parse_listen("127.0.0.1:8080") == ("127.0.0.1", 8080)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("8080", "host:", "host:99999", ":80"):
        with pytest.raises(ConfigError):
            parse_listen(bad)


def test_defaults_and_derived_values(tmp_path: Path) -> None:
    plain = Settings()
    assert plain.url == "http://127.0.0.1:8080"
    assert plain.origin == "http://127.0.0.1:8080"
    assert plain.session_cookie == "tasuke_session"
    assert not plain.secure
    proxied = Settings(public_url="https://Support.Example/")
    assert proxied.url == "https://Support.Example"
    assert proxied.origin == "https://support.example"
    assert proxied.ws_origin == "wss://support.example"
    assert proxied.session_cookie == "__Host-tasuke_session"
    assert proxied.secure


def test_bad_settings_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        Settings(tls_cert=tmp_path / "cert.pem")
    with pytest.raises(ConfigError):
        Settings(public_url="ftp://x")
    with pytest.raises(ConfigError):
        Settings(public_url="https://x/prefix")


def test_signing_key_is_private_and_stable(tmp_path: Path) -> None:
    path = tmp_path / "data" / "key.pem"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert public_key_bytes(load_or_create_key(path)) == public_key_bytes(key)
    path.write_text("garbage")
    with pytest.raises(ConfigError):
        load_or_create_key(path)


def test_grant_signature_verifies(tmp_path: Path) -> None:
    key = load_or_create_key(tmp_path / "key.pem")
    signed = sign_grant(key, {"operator": "佐藤 花子", "session_id": "ab" * 16})
    Ed25519PublicKey.from_public_bytes(signed.server_key).verify(signed.signature, signed.grant)
    assert json.loads(signed.grant)["operator"] == "佐藤 花子"
