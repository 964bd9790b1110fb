"""ContinuousUpdates and Fence (rfbproto community extensions), without I/O.

With continuous updates on, the server sends a FramebufferUpdate whenever the region changes,
without waiting for a request: no round trip per frame. What keeps a slow viewer from
receiving a backlog is that an update is only encoded once the previous one has been handed to
the stream (the stream applies backpressure), and, when the viewer supports Fence, that at
most :data:`tasuke.limits.RFB_FENCES_IN_FLIGHT` updates may be unacknowledged: after each
continuous update the server sends a Fence request, which the viewer answers once it has
processed everything before it. So the next frame is captured only when the viewer is ready
for it, and it is always the newest screen. The same answers measure the link
(:mod:`tasuke.rfb.adapt`): on a slow one, quality and then frame rate go down.

Messages (rfbproto): EnableContinuousUpdates (client, 150), EndOfContinuousUpdates
(server, 150, one byte), ClientFence / ServerFence (248: 3 padding bytes, U32 flags, U8 length,
payload of at most 64 bytes). A server announces ContinuousUpdates by sending
EndOfContinuousUpdates, and Fence by sending a Fence request, the first time it sees the
pseudo-encoding in SetEncodings.
"""

import struct
import time
from collections.abc import Callable

from tasuke import limits
from tasuke.rfb import constants as c
from tasuke.rfb.adapt import Adaptation
from tasuke.rfb.messages import EnableContinuousUpdates, Fence
from tasuke.rfb.tiles import Rect

__all__ = ["Flow", "fence_message"]

_FENCE = struct.Struct(">BxxxIB")
_END_OF_CU = bytes([c.MSG_END_OF_CONTINUOUS_UPDATES])
_OUR_PAYLOAD = b"tasuke"
# We process client messages strictly in order and answer a fence only after any update
# already being encoded (see RFBServer), so all three synchronisation flags hold.
_SUPPORTED_FLAGS = c.FENCE_BLOCK_BEFORE | c.FENCE_BLOCK_AFTER | c.FENCE_SYNC_NEXT


def fence_message(flags: int, payload: bytes) -> bytes:
    """A ServerFence message."""
    return _FENCE.pack(c.MSG_FENCE, flags, len(payload)) + payload


class Flow:
    """Per-connection state of the two extensions; methods return bytes to send."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.adapt = Adaptation(clock)
        """Quality cap and frame interval from the fence answers (stays idle without them)."""
        self.continuous: Rect | None = None
        self.fences_supported = False
        self._cu_announced = False
        self._unanswered = 0

    def on_encodings(self, encodings: tuple[int, ...]) -> bytes:
        """Announce the extensions the first time the client lists them."""
        out = b""
        if c.ENC_CONTINUOUS_UPDATES in encodings and not self._cu_announced:
            self._cu_announced = True
            out += _END_OF_CU
        if c.ENC_FENCE in encodings and not self.fences_supported:
            self.fences_supported = True
            # The announcement is an ordinary request; its answer must not count as one of
            # the throttling fences, so it carries another payload.
            out += fence_message(c.FENCE_REQUEST, b"hello")
        return out

    def on_enable(self, message: EnableContinuousUpdates, width: int, height: int) -> bytes:
        """Turn continuous updates on (for the clipped region) or off."""
        if not message.enable:
            self.continuous = None
            self._unanswered = 0
            self.adapt.link.forget_pending()
            return _END_OF_CU  # sent even if they were already off
        region = Rect(message.x, message.y, message.width, message.height).clip(width, height)
        self.continuous = region or Rect(0, 0, width, height)
        return b""

    def on_fence(self, message: Fence) -> bytes:
        """Answer a client's fence request; count an answer to one of ours."""
        if message.flags & c.FENCE_REQUEST:
            return fence_message(message.flags & _SUPPORTED_FLAGS, message.payload)
        if message.payload == _OUR_PAYLOAD and self._unanswered:
            self._unanswered -= 1
            self.adapt.answered()
        return b""

    @property
    def throttled(self) -> bool:
        """True while the viewer has not yet caught up with the updates already sent."""
        return self._unanswered >= limits.RFB_FENCES_IN_FLIGHT

    def after_update(self, nbytes: int = 0) -> bytes:
        """Bytes to follow a continuous update of ``nbytes``: a fence request when the
        viewer has Fence (its answer measures the link)."""
        if self.continuous is None or not self.fences_supported:
            return b""
        self._unanswered += 1
        fence = fence_message(c.FENCE_REQUEST | c.FENCE_BLOCK_BEFORE, _OUR_PAYLOAD)
        self.adapt.sent(nbytes + len(fence))
        return fence
