"""A relay that swaps in its own keys is caught: by the commitment, the confirmation MACs, or
the verification codes read aloud, and it never decrypts or forges real traffic unnoticed."""

import pytest

from tasuke.e2e import CHANNEL_CONTROL, CHANNEL_RFB, ChannelData, Role
from tasuke.e2e.suites import generate_key_pair
from tasuke.e2e.wire import MessageType, Suite
from tasuke.errors import E2EError
from tests.unit.e2e.pairing import KeySwappingRelay, counter_rng, pair


def test_full_interception_shows_different_codes() -> None:
    relay = KeySwappingRelay(reencrypt=True)
    p = pair(relay=relay)
    p.handshake()
    assert p.agent.established
    assert p.console.established
    assert p.agent.sas is not None
    assert p.console.sas is not None
    # The one thing that reveals a relay that runs two handshakes: the codes differ, so the
    # operator reading the code aloud to the customer notices.
    assert p.agent.sas != p.console.sas
    assert relay.to_agent.sas == p.agent.sas
    assert relay.to_console.sas == p.console.sas
    # Without that comparison such a relay would read everything, hence the spoken check.
    assert p.agent_to_console(CHANNEL_RFB, b"screen") == [ChannelData(CHANNEL_RFB, b"screen")]
    assert relay.plaintexts == [b"screen"]


def test_swapped_keys_then_forwarded_records_decrypt_nowhere() -> None:
    p = pair(relay=KeySwappingRelay(reencrypt=False))
    p.handshake()
    assert p.agent.sas != p.console.sas
    with pytest.raises(E2EError, match="authentication"):
        p.agent_to_console(CHANNEL_RFB, b"screen")
    assert not p.console.established

    p = pair(relay=KeySwappingRelay(reencrypt=False))
    p.handshake()
    with pytest.raises(E2EError, match="authentication"):
        p.console_to_agent(CHANNEL_CONTROL, b'{"type":"end"}')
    assert not p.agent.established


def test_swapped_keys_with_real_confirmations_fail_confirmation() -> None:
    p = pair(relay=KeySwappingRelay(forward_confirms=True))
    with pytest.raises(E2EError, match="key confirmation failed"):
        p.handshake()
    assert not p.console.established
    assert not p.agent.established
    assert p.agent.sas is None


def test_key_substituted_after_commitment_is_caught() -> None:
    """A relay that swaps the revealed key for its own, keeping the agent's Commit."""
    mitm = generate_key_pair(Suite.X25519, counter_rng(b"evil"))

    def relay(sender: Role, frame: bytes) -> list[tuple[Role, bytes]]:
        if frame[0] == MessageType.REVEAL:
            frame = bytes([MessageType.REVEAL]) + mitm.public
        return [(Role.CONSOLE if sender is Role.AGENT else Role.AGENT, frame)]

    p = pair(relay=relay)
    with pytest.raises(E2EError, match="commitment"):
        p.handshake()
    assert not p.console.established


def test_downgrade_by_stripping_x25519_from_the_offer_fails_confirmation() -> None:
    """Removing X25519 from the Commit changes the transcript, so the MACs do not match."""

    def relay(sender: Role, frame: bytes) -> list[tuple[Role, bytes]]:
        if frame[0] == MessageType.COMMIT:
            assert frame[3] == Suite.X25519
            frame = bytes([MessageType.COMMIT, frame[1], 1]) + frame[3 + 33 : 3 + 66]
        return [(Role.CONSOLE if sender is Role.AGENT else Role.AGENT, frame)]

    p = pair(relay=relay)
    with pytest.raises(E2EError, match="key confirmation failed"):
        p.handshake()
