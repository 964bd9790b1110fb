"""Generate tests/vectors/e2e.json, the known-answer vectors of the end-to-end channel.

Run ``.venv/bin/python -m tests.vectors.make_e2e_vectors`` after a deliberate change to the wire
format (and bump PROTOCOL_VERSION). The Python tests (tests/unit/e2e/test_e2e_vectors.py) fail
if the file differs from what this script produces, and both the Python and the JS tests
(tests/js/e2e.test.mjs) replay every case byte for byte.

Randomness is SHA-256 in counter mode over a fixed seed; the exact bytes each side consumed are
stored, so a reader needs no knowledge of how they were made.
"""

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tasuke import limits
from tasuke.e2e import _state, keyschedule, wire
from tasuke.e2e.session import E2ESession
from tasuke.e2e.suites import generate_key_pair
from tasuke.e2e.wire import Suite

__all__ = ["VECTORS_PATH", "RecordingRng", "build_vectors", "iter_rng", "main", "render"]

VECTORS_PATH = Path(__file__).with_name("e2e.json")

SUITE_NAMES = {Suite.X25519: "x25519", Suite.P256: "p256"}

# RFC 7748 section 6.1 (Diffie-Hellman test vector for X25519).
RFC7748_6_1 = {
    "source": "RFC 7748 section 6.1, https://www.rfc-editor.org/rfc/rfc7748#section-6.1",
    "alice_private": "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "alice_public": "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
    "bob_private": "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "bob_public": "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
    "shared": "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742",
}

RECORDS = [
    ("agent", wire.CHANNEL_CONTROL, b'{"type":"info","os":"Debian","screen":[1024,768]}'),
    ("console", wire.CHANNEL_RFB, b"RFB 003.008\n"),
    ("agent", wire.CHANNEL_RFB, b"RFB 003.008\n"),
    ("console", wire.CHANNEL_CONTROL, b'{"type":"end","by":"operator","reason":"done"}'),
    ("agent", wire.CHANNEL_RFB, b""),
]

CASES = [
    ("x25519", (Suite.X25519, Suite.P256), (Suite.X25519, Suite.P256)),
    ("p256-fallback", (Suite.X25519, Suite.P256), (Suite.P256,)),
    ("p256-only", (Suite.P256,), (Suite.X25519, Suite.P256)),
]


class RecordingRng:
    """Deterministic bytes (SHA-256 counter mode over ``seed``) that remembers what it gave."""

    def __init__(self, seed: bytes) -> None:
        self._seed = seed
        self._counter = 0
        self.given = bytearray()

    def __call__(self, n: int) -> bytes:
        out = bytearray()
        while len(out) < n:
            out += hashlib.sha256(self._seed + self._counter.to_bytes(4, "big")).digest()
            self._counter += 1
        self.given += out[:n]
        return bytes(out[:n])


def _constants() -> dict[str, Any]:
    return {
        "protocol_version": wire.PROTOCOL_VERSION,
        "message_types": {m.name.lower(): int(m) for m in wire.MessageType},
        "suites": {SUITE_NAMES[s]: int(s) for s in Suite},
        "public_key_length": {SUITE_NAMES[s]: n for s, n in wire.PUBLIC_KEY_LENGTH.items()},
        "channels": {"control": wire.CHANNEL_CONTROL, "rfb": wire.CHANNEL_RFB},
        "direction_agent_to_console": wire.DIRECTION_AGENT_TO_CONSOLE.hex(),
        "direction_console_to_agent": wire.DIRECTION_CONSOLE_TO_AGENT.hex(),
        "max_offered_suites": wire.MAX_OFFERED_SUITES,
        "max_record_plaintext": limits.MAX_RECORD_PLAINTEXT,
        "max_handshake_message": limits.MAX_HANDSHAKE_MESSAGE,
        "session_id_length": wire.SESSION_ID_LENGTH,
        "labels": {
            "transcript": keyschedule.TRANSCRIPT_LABEL.decode(),
            "info_agent_to_console": keyschedule.INFO_AGENT_TO_CONSOLE.decode(),
            "info_console_to_agent": keyschedule.INFO_CONSOLE_TO_AGENT.decode(),
            "info_confirm": keyschedule.INFO_CONFIRM.decode(),
            "info_sas": keyschedule.INFO_SAS.decode(),
            "confirm_agent": keyschedule.CONFIRM_LABEL_AGENT.decode(),
            "confirm_console": keyschedule.CONFIRM_LABEL_CONSOLE.decode(),
        },
        "transitions": {
            role.value: sorted(
                [state.value, event.name.lower(), following.value]
                for (state, event), following in table.items()
            )
            for role, table in _state.TRANSITIONS.items()
        },
    }


def _case(name: str, agent_suites: tuple[Suite, ...], console_suites: tuple[Suite, ...]) -> Any:
    session_id = hashlib.sha256(b"session id " + name.encode()).digest()[:16]
    agent_rng = RecordingRng(b"tasuke e2e vectors agent " + name.encode())
    console_rng = RecordingRng(b"tasuke e2e vectors console " + name.encode())
    agent = E2ESession(_state.Role.AGENT, session_id, rng=agent_rng, suites=agent_suites)
    console = E2ESession(_state.Role.CONSOLE, session_id, rng=console_rng, suites=console_suites)
    frames: list[dict[str, str]] = []
    agent.initiate()
    for sender, receiver in [(agent, console), (console, agent)] * 2:
        for frame in sender.frames_to_send():
            frames.append({"from": sender.role.value, "hex": frame.hex()})
            receiver.receive_frame(frame)
    assert agent.sas is not None
    assert agent.sas == console.sas
    suite = agent.suite
    assert suite is not None

    # Recompute the intermediate values from the consumed rng bytes, for readers and for
    # the tests that pin each step of the key schedule.
    replay = iter_rng(bytes(agent_rng.given))
    agent_keys = {s: generate_key_pair(s, replay) for s in agent_suites}
    console_pair = generate_key_pair(suite, iter_rng(bytes(console_rng.given)))
    agent_pair = agent_keys[suite]
    shared = agent_pair.exchange(console_pair.public)
    transcript = keyschedule.transcript(
        session_id, bytes.fromhex(frames[0]["hex"]), suite, agent_pair.public, console_pair.public
    )
    schedule = keyschedule.derive(shared, transcript)

    records = []
    for who, channel, payload in RECORDS:
        sender, receiver = (agent, console) if who == "agent" else (console, agent)
        sender.send(channel, payload)
        (frame,) = sender.frames_to_send()
        receiver.receive_frame(frame)
        records.append(
            {"from": who, "channel": channel, "payload": payload.hex(), "frame": frame.hex()}
        )
    return {
        "name": name,
        "session_id": session_id.hex(),
        "agent_suites": [SUITE_NAMES[s] for s in agent_suites],
        "console_suites": [SUITE_NAMES[s] for s in console_suites],
        "agent_rng": agent_rng.given.hex(),
        "console_rng": console_rng.given.hex(),
        "agent_public": {SUITE_NAMES[s]: p.public.hex() for s, p in agent_keys.items()},
        "console_public": console_pair.public.hex(),
        "suite": SUITE_NAMES[suite],
        "handshake": frames,
        "shared_secret": shared.hex(),
        "transcript": transcript.hex(),
        "transcript_hash": schedule.transcript_hash.hex(),
        "keys": {
            "agent_to_console": schedule.agent_to_console.hex(),
            "console_to_agent": schedule.console_to_agent.hex(),
            "confirm": schedule.confirm.hex(),
            "sas": schedule.sas.hex(),
        },
        "sas": agent.sas,
        "records": records,
    }


def iter_rng(data: bytes) -> Callable[[int], bytes]:
    """An rng that hands out ``data`` in order and fails when asked for more."""
    view = memoryview(data)
    position = 0

    def rng(n: int) -> bytes:
        nonlocal position
        if position + n > len(view):
            raise AssertionError("vector rng exhausted")
        chunk = bytes(view[position : position + n])
        position += n
        return chunk

    return rng


def build_vectors() -> dict[str, Any]:
    """Return the whole vectors document."""
    return {
        "description": "Known-answer vectors of the Tasuke end-to-end channel "
        "(docs/protocol.md section 2). Generated by tests/vectors/make_e2e_vectors.py.",
        "constants": _constants(),
        "rfc7748_x25519": RFC7748_6_1,
        "cases": [_case(*case) for case in CASES],
    }


def render() -> str:
    """The vectors as the exact text stored in e2e.json."""
    return json.dumps(build_vectors(), indent=1) + "\n"


def main() -> None:
    """Write tests/vectors/e2e.json."""
    VECTORS_PATH.write_text(render(), encoding="utf-8")


if __name__ == "__main__":
    main()
