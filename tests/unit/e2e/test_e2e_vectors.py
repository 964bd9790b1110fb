"""The known-answer vectors in tests/vectors/e2e.json: up to date, and reproduced byte for byte.

The JS twin replays the same file in tests/js/e2e.test.mjs, so both implementations agree.
"""

import hashlib
import hmac
import json
from collections import deque
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from tasuke.e2e import ChannelData, E2ESession, HandshakeComplete, Role, Suite, keyschedule
from tests.vectors.make_e2e_vectors import VECTORS_PATH, iter_rng, render

VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
SUITES = {"x25519": Suite.X25519, "p256": Suite.P256}
CASES = VECTORS["cases"]


def test_vectors_file_is_what_the_generator_makes() -> None:
    assert VECTORS_PATH.read_text(encoding="utf-8") == render(), (
        "tests/vectors/e2e.json is stale: run python -m tests.vectors.make_e2e_vectors"
    )


def test_vectors_cover_both_suites() -> None:
    assert {case["suite"] for case in CASES} == {"x25519", "p256"}


def test_rfc7748_x25519_test_vector() -> None:
    """RFC 7748 section 6.1: the primitive under our X25519 suite is the standard one."""
    v = VECTORS["rfc7748_x25519"]
    alice = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(v["alice_private"]))
    bob = x25519.X25519PrivateKey.from_private_bytes(bytes.fromhex(v["bob_private"]))
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert alice.public_key().public_bytes(*raw).hex() == v["alice_public"]
    assert bob.public_key().public_bytes(*raw).hex() == v["bob_public"]
    assert alice.exchange(bob.public_key()).hex() == v["shared"]
    assert bob.exchange(alice.public_key()).hex() == v["shared"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_sessions_reproduce_every_frame(case: dict[str, Any]) -> None:
    session_id = bytes.fromhex(case["session_id"])
    agent = E2ESession(
        Role.AGENT,
        session_id,
        rng=iter_rng(bytes.fromhex(case["agent_rng"])),
        suites=[SUITES[s] for s in case["agent_suites"]],
    )
    console = E2ESession(
        Role.CONSOLE,
        session_id,
        rng=iter_rng(bytes.fromhex(case["console_rng"])),
        suites=[SUITES[s] for s in case["console_suites"]],
    )
    sides = {"agent": agent, "console": console}
    agent.initiate()
    pending: dict[str, deque[bytes]] = {"agent": deque(), "console": deque()}
    for step in case["handshake"]:
        sender = sides[step["from"]]
        receiver = console if sender is agent else agent
        pending[step["from"]].extend(sender.frames_to_send())
        frame = pending[step["from"]].popleft()
        assert frame.hex() == step["hex"]
        receiver.receive_frame(frame)
    assert not any(pending.values())
    expected = [HandshakeComplete(sas=case["sas"])]
    assert agent.events_received() == expected
    assert console.events_received() == expected
    for record in case["records"]:
        sender = sides[record["from"]]
        receiver = console if sender is agent else agent
        payload = bytes.fromhex(record["payload"])
        sender.send(record["channel"], payload)
        (frame,) = sender.frames_to_send()
        assert frame.hex() == record["frame"]
        receiver.receive_frame(frame)
        assert receiver.events_received() == [ChannelData(record["channel"], payload)]


def _hkdf_rfc5869(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    """HKDF-SHA256 written out from RFC 5869 with the stdlib, as an independent check."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    return hmac.new(prk, info + b"\x01", hashlib.sha256).digest()


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_key_schedule_steps(case: dict[str, Any]) -> None:
    suite = SUITES[case["suite"]]
    transcript = keyschedule.transcript(
        bytes.fromhex(case["session_id"]),
        bytes.fromhex(case["handshake"][0]["hex"]),
        suite,
        bytes.fromhex(case["agent_public"][case["suite"]]),
        bytes.fromhex(case["console_public"]),
    )
    assert transcript.hex() == case["transcript"]
    salt = hashlib.sha256(transcript).digest()
    assert salt.hex() == case["transcript_hash"]
    shared = bytes.fromhex(case["shared_secret"])
    labels = VECTORS["constants"]["labels"]
    for name, label in [
        ("agent_to_console", labels["info_agent_to_console"]),
        ("console_to_agent", labels["info_console_to_agent"]),
        ("confirm", labels["info_confirm"]),
        ("sas", labels["info_sas"]),
    ]:
        assert _hkdf_rfc5869(shared, salt, label.encode()).hex() == case["keys"][name]
    sas_key = bytes.fromhex(case["keys"]["sas"])
    assert f"{int.from_bytes(sas_key[:8], 'big') % 1_000_000:06d}" == case["sas"]
    confirm_key = bytes.fromhex(case["keys"]["confirm"])
    agent_mac = hmac.new(confirm_key, labels["confirm_agent"].encode() + salt, hashlib.sha256)
    confirms = [s["hex"] for s in case["handshake"] if s["hex"].startswith("04")]
    assert confirms[0] == "04" + agent_mac.hexdigest()
    for name, offered in case["agent_public"].items():
        digest = hashlib.sha256(bytes([SUITES[name]]) + bytes.fromhex(offered)).hexdigest()
        assert digest in case["handshake"][0]["hex"]
