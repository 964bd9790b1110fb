"""Handshake: negotiation, commitment, key confirmation and the state rules."""

from collections.abc import Callable

import pytest

from tasuke.e2e import (
    CHANNEL_CONTROL,
    ChannelData,
    E2ESession,
    HandshakeComplete,
    Role,
    Suite,
)
from tasuke.e2e.wire import MessageType
from tasuke.errors import E2EError
from tests.unit.e2e.pairing import SESSION_ID, Pair, Relay, pair


def _tamper_relay(kind: MessageType, edit: Callable[[bytes], bytes]) -> Relay:
    def relay(sender: Role, frame: bytes) -> list[tuple[Role, bytes]]:
        receiver = Role.CONSOLE if sender is Role.AGENT else Role.AGENT
        if frame[0] == kind:
            frame = edit(frame)
        return [(receiver, frame)]

    return relay


def _flip_last(frame: bytes) -> bytes:
    return frame[:-1] + bytes([frame[-1] ^ 0x01])


@pytest.mark.parametrize(
    ("agent_suites", "console_suites", "expected"),
    [
        ((Suite.X25519, Suite.P256), (Suite.X25519, Suite.P256), Suite.X25519),
        ((Suite.X25519, Suite.P256), (Suite.P256,), Suite.P256),
        ((Suite.P256,), (Suite.X25519, Suite.P256), Suite.P256),
        ((Suite.P256, Suite.X25519), (Suite.X25519, Suite.P256), Suite.P256),
    ],
)
def test_handshake_gives_both_sides_the_same_code(
    agent_suites: tuple[Suite, ...], console_suites: tuple[Suite, ...], expected: Suite
) -> None:
    p = pair(agent_suites=agent_suites, console_suites=console_suites)
    agent_events, console_events = p.handshake()
    assert p.agent.established
    assert p.console.established
    assert p.agent.suite is p.console.suite is expected
    assert p.agent.sas is not None
    assert len(p.agent.sas) == 6
    assert p.agent.sas.isdigit()
    assert agent_events == [HandshakeComplete(sas=p.agent.sas)]
    assert console_events == [HandshakeComplete(sas=p.agent.sas)]
    assert [(role, f[0]) for role, f in p.log] == [
        (Role.AGENT, MessageType.COMMIT),
        (Role.CONSOLE, MessageType.ACCEPT),
        (Role.AGENT, MessageType.REVEAL),
        (Role.AGENT, MessageType.CONFIRM),
        (Role.CONSOLE, MessageType.CONFIRM),
    ]


def test_fresh_keys_give_a_different_code_each_session() -> None:
    codes = {pair(seed=bytes([i])).handshake()[0][0] for i in range(8)}
    assert len(codes) > 1


def test_default_randomness_works_end_to_end() -> None:
    p = Pair(E2ESession(Role.AGENT, SESSION_ID), E2ESession(Role.CONSOLE, SESSION_ID))
    p.handshake()
    assert p.agent.sas == p.console.sas
    assert p.agent_to_console(CHANNEL_CONTROL, b"{}") == [ChannelData(CHANNEL_CONTROL, b"{}")]


def test_no_common_suite_aborts() -> None:
    p = pair(agent_suites=(Suite.X25519,), console_suites=(Suite.P256,))
    with pytest.raises(E2EError, match="no common suite"):
        p.handshake()
    with pytest.raises(E2EError):
        p.console.frames_to_send()


def test_commitment_mismatch_aborts() -> None:
    p = pair(relay=_tamper_relay(MessageType.REVEAL, _flip_last))
    with pytest.raises(E2EError, match="commitment"):
        p.handshake()
    assert not p.console.established


def test_wrong_confirmation_mac_from_agent_aborts() -> None:
    p = pair(relay=_tamper_relay(MessageType.CONFIRM, _flip_last))
    with pytest.raises(E2EError, match="key confirmation failed"):
        p.handshake()
    assert not p.console.established
    assert p.console.sas is None


def test_wrong_confirmation_mac_from_console_aborts() -> None:
    def relay(sender: Role, frame: bytes) -> list[tuple[Role, bytes]]:
        if sender is Role.CONSOLE and frame[0] == MessageType.CONFIRM:
            frame = _flip_last(frame)
        return [(Role.AGENT if sender is Role.CONSOLE else Role.CONSOLE, frame)]

    p = pair(relay=relay)
    with pytest.raises(E2EError, match="key confirmation failed"):
        p.handshake()
    assert not p.agent.established


def test_accept_choosing_a_suite_not_offered_aborts() -> None:
    p = pair(agent_suites=(Suite.X25519,), console_suites=(Suite.X25519,))
    p.agent.initiate()
    p.agent.frames_to_send()
    fake_accept = bytes([MessageType.ACCEPT, Suite.P256]) + b"\x04" + bytes(64)
    with pytest.raises(E2EError, match="not offered"):
        p.agent.receive_frame(fake_accept)


def test_accept_with_unknown_suite_aborts() -> None:
    p = pair()
    p.agent.initiate()
    with pytest.raises(E2EError, match="unknown suite"):
        p.agent.receive_frame(bytes([MessageType.ACCEPT, 0x7F]) + bytes(32))


def test_commit_with_only_unknown_suites_aborts_and_unknown_ones_are_skipped() -> None:
    console = E2ESession(Role.CONSOLE, SESSION_ID)
    with pytest.raises(E2EError, match="no common suite"):
        console.receive_frame(bytes([MessageType.COMMIT, 1, 1, 0x7F]) + bytes(32))
    console = E2ESession(Role.CONSOLE, SESSION_ID)
    console.receive_frame(
        bytes([MessageType.COMMIT, 1, 2, 0x7F]) + bytes(32) + bytes([2]) + bytes(32)
    )
    (accept,) = console.frames_to_send()
    assert accept[:2] == bytes([MessageType.ACCEPT, Suite.P256])


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (bytes([MessageType.COMMIT, 2, 1, 1]) + bytes(32), "version"),
        (bytes([MessageType.COMMIT, 1, 0]), "1 to 8"),
        (bytes([MessageType.COMMIT, 1, 9]) + bytes(9 * 33), "1 to 8"),
        (bytes([MessageType.COMMIT, 1, 1, 1]) + bytes(31), "wrong length"),
        (bytes([MessageType.COMMIT, 1, 2, 1]) + bytes(32) + bytes([1]) + bytes(32), "twice"),
        (bytes([MessageType.COMMIT, 1]), "truncated"),
    ],
)
def test_malformed_commit_aborts(frame: bytes, reason: str) -> None:
    console = E2ESession(Role.CONSOLE, SESSION_ID)
    with pytest.raises(E2EError, match=reason):
        console.receive_frame(frame)


def _initiate_twice(session: E2ESession) -> None:
    session.initiate()
    session.initiate()


def _commit_to_agent(session: E2ESession) -> None:
    session.initiate()
    session.receive_frame(bytes([MessageType.COMMIT, 1, 1, 1]) + bytes(32))


@pytest.mark.parametrize(
    ("role", "action"),
    [
        (Role.CONSOLE, E2ESession.initiate),
        (Role.AGENT, _initiate_twice),
        (Role.AGENT, _commit_to_agent),
        (Role.CONSOLE, lambda s: s.receive_frame(bytes([MessageType.CONFIRM]) + bytes(32))),
        (Role.CONSOLE, lambda s: s.receive_frame(bytes([MessageType.RECORD]) + bytes(30))),
        (Role.AGENT, lambda s: s.receive_frame(bytes([MessageType.REVEAL]) + bytes(32))),
    ],
)
def test_wrong_state_kills_the_session(role: Role, action: Callable[[E2ESession], None]) -> None:
    session = E2ESession(role, SESSION_ID)
    with pytest.raises(E2EError, match="not allowed"):
        action(session)
    with pytest.raises(E2EError, match="ended"):
        session.frames_to_send()


def test_data_before_established_raises() -> None:
    p = pair()
    with pytest.raises(E2EError, match="send not allowed"):
        p.agent.send(CHANNEL_CONTROL, b"{}")
    p = pair()
    p.agent.initiate()
    p.console.receive_frame(p.agent.frames_to_send()[0])
    with pytest.raises(E2EError, match="send not allowed"):
        p.console.send(CHANNEL_CONTROL, b"{}")


def test_console_data_arriving_before_its_confirm_aborts_the_agent() -> None:
    p = pair()
    p.agent.initiate()
    p.console.receive_frame(p.agent.frames_to_send()[0])
    p.agent.receive_frame(p.console.frames_to_send()[0])
    for frame in p.agent.frames_to_send():
        p.console.receive_frame(frame)
    (_confirm,) = p.console.frames_to_send()
    p.console.send(CHANNEL_CONTROL, b"{}")
    (record,) = p.console.frames_to_send()
    with pytest.raises(E2EError, match="record not allowed"):
        p.agent.receive_frame(record)


def test_reflected_public_key_aborts() -> None:
    agent = E2ESession(Role.AGENT, SESSION_ID, suites=(Suite.X25519,))
    agent.initiate()
    own_public = agent._key_pairs[Suite.X25519].public
    with pytest.raises(E2EError, match="reflected"):
        agent.receive_frame(bytes([MessageType.ACCEPT, Suite.X25519]) + own_public)


@pytest.mark.parametrize("suite", [Suite.X25519, Suite.P256])
def test_invalid_console_public_key_aborts(suite: Suite) -> None:
    agent = E2ESession(Role.AGENT, SESSION_ID, suites=(suite,))
    agent.initiate()
    bad = bytes(32) if suite is Suite.X25519 else b"\x04" + bytes(64)  # low order / off curve
    with pytest.raises(E2EError, match="rejected"):
        agent.receive_frame(bytes([MessageType.ACCEPT, suite]) + bad)


def test_compressed_p256_point_is_refused() -> None:
    agent = E2ESession(Role.AGENT, SESSION_ID, suites=(Suite.P256,))
    agent.initiate()
    with pytest.raises(E2EError):
        agent.receive_frame(bytes([MessageType.ACCEPT, Suite.P256, 0x02]) + bytes(64))


def test_destroy_wipes_keys_and_refuses_everything() -> None:
    p = pair()
    p.handshake()
    p.agent.destroy()
    p.agent.destroy()  # idempotent
    assert not p.agent.established
    assert p.agent.sas is None
    assert p.agent._records is None
    for call in (
        lambda: p.agent.send(CHANNEL_CONTROL, b"{}"),
        lambda: p.agent.receive_frame(b"\x10"),
        p.agent.frames_to_send,
        p.agent.events_received,
        p.agent.initiate,
    ):
        with pytest.raises(E2EError):
            call()


@pytest.mark.parametrize("session_id", [b"", bytes(15), bytes(17)])
def test_session_id_must_be_16_bytes(session_id: bytes) -> None:
    with pytest.raises(E2EError):
        E2ESession(Role.AGENT, session_id)


def test_short_rng_is_refused() -> None:
    agent = E2ESession(Role.AGENT, SESSION_ID, rng=lambda n: bytes(n - 1))
    with pytest.raises(E2EError, match="random"):
        agent.initiate()
