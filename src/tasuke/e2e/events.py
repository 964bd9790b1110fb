"""Events that an :class:`~tasuke.e2e.session.E2ESession` hands to its owner."""

from dataclasses import dataclass

__all__ = ["ChannelData", "Event", "HandshakeComplete"]


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """Both sides proved they hold the same keys; show ``sas`` to the person on this side."""

    sas: str
    """The 6-digit verification code, e.g. ``"042917"``."""


@dataclass(frozen=True, slots=True)
class ChannelData:
    """One decrypted record: ``data`` arrived on ``channel`` (0 = control, 1 = RFB)."""

    channel: int
    data: bytes


Event = HandshakeComplete | ChannelData
