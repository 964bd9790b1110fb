"""The RFB 3.8 server side without I/O (RFC 6143).

Bytes from the client go in through :meth:`RFBServer.receive_data`; parsed input comes out of
:meth:`RFBServer.events_received`; bytes for the client come out of
:meth:`RFBServer.data_to_send`. Pictures go in through :meth:`RFBServer.update`, which sends a
FramebufferUpdate only when the client asked for one and something it asked about changed.

The handshake offers only security type None: on the agent path the end-to-end channel has
already authenticated both ends, and ``tasuke vnc`` listens on loopback only.
"""

import enum
import struct
import time
from collections.abc import Callable
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from tasuke import limits
from tasuke.desktop.base import Cursor, Frame
from tasuke.errors import LocalError, RFBError
from tasuke.rfb import constants as c
from tasuke.rfb.adapt import Adaptation
from tasuke.rfb.flow import Flow
from tasuke.rfb.job import UpdateJob, fit
from tasuke.rfb.layout import (
    REASON_CLIENT,
    REASON_SERVER,
    STATUS_OK,
    STATUS_PROHIBITED,
    Layout,
    layout_rectangle,
)
from tasuke.rfb.messages import (
    ClientMessage,
    EnableContinuousUpdates,
    Fence,
    FramebufferUpdateRequest,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
    parse_client_message,
)
from tasuke.rfb.pixelformat import DEFAULT_PIXEL_FORMAT
from tasuke.rfb.tiles import Rect
from tasuke.rfb.update import RECT, Picture, update_header

__all__ = ["RFBServer", "State", "UpdateJob"]


class State(enum.Enum):
    """Where the connection is in RFC 6143 section 7.1-7.3."""

    VERSION = "version"
    SECURITY = "security"
    CLIENT_INIT = "client-init"
    NORMAL = "normal"


class RFBServer:
    """One RFB connection, server side. Not thread-safe; drive it from one task.

    The server's ProtocolVersion is queued at construction; call :meth:`data_to_send` first.

    Raises:
        LocalError: (constructor) a framebuffer size outside 1..limits.MAX_FRAMEBUFFER_DIM.
    """

    def __init__(
        self,
        width: int,
        height: int,
        *,
        name: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        for dim in (width, height):
            if not 0 < dim <= limits.MAX_FRAMEBUFFER_DIM:
                raise LocalError(f"framebuffer size {width}x{height} is out of range")
        self.width = width
        self.height = height
        self.name = name
        self.state = State.VERSION
        self.minor_version = 8
        self.pixel_format = DEFAULT_PIXEL_FORMAT
        self.encodings: tuple[int, ...] = ()
        self._buffer = bytearray()
        self._out = bytearray(c.SERVER_VERSION)
        self._events: list[ClientMessage] = []
        self._picture = Picture(width, height, clock=clock)
        self._request: Rect | None = None
        self._full: Rect | None = None
        self._flow = Flow(clock)
        self._in_flight: UpdateJob | None = None
        self._screens: tuple[Rect, ...] = ()
        self._layout_sent: Layout | None = None
        self._layout_refused = False
        self._owed: tuple[UpdateJob, bool] | None = None
        """A job answered with the size or layout alone, whose pixels are still owed, and
        whether they are owed whole (after a resize the client's picture is gone)."""

    def close(self) -> None:
        """Free per-connection encoder state (the H.264 encoder); idempotent."""
        self._picture.close()

    # --- I/O boundary ---------------------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Feed bytes received from the client.

        Raises:
            RFBError: the client broke RFC 6143, or sent more than limits.MAX_RFB_BUFFER bytes
                that do not form a complete message.
        """
        self._buffer += data
        while self._buffer:
            used = self._step()
            if used == 0:
                break
            del self._buffer[:used]
        if len(self._buffer) > limits.MAX_RFB_BUFFER:
            raise RFBError(f"more than {limits.MAX_RFB_BUFFER} unparsed bytes from the client")

    def events_received(self) -> list[ClientMessage]:
        """Return and forget the client messages parsed so far (input and negotiation)."""
        events, self._events = self._events, []
        return events

    def data_to_send(self) -> bytes:
        """Return and forget the bytes queued for the client."""
        out = bytes(self._out)
        self._out.clear()
        return out

    # --- state machine --------------------------------------------------------------------

    def _step(self) -> int:
        buf = self._buffer
        if self.state is State.VERSION:
            return self._on_version(buf)
        if self.state is State.SECURITY:
            return self._on_security(buf[0])
        if self.state is State.CLIENT_INIT:
            self._send_server_init()
            self.state = State.NORMAL
            return 1  # the shared flag: every viewer shares the one screen
        parsed = parse_client_message(buf)
        if parsed is None:
            return 0
        message, used = parsed
        if isinstance(message, Fence) and self._in_flight is not None:
            # The answer must follow the update being encoded now (BlockBefore, SyncNext),
            # and nothing after the fence may be processed before the answer (BlockAfter):
            # leave it in the buffer until finish_update.
            return 0
        self._apply(message)
        self._events.append(message)
        return used

    def _on_version(self, buf: bytearray) -> int:
        if len(buf) < 12:
            if not c.SERVER_VERSION.startswith(bytes(buf[:4])):
                raise RFBError("the client did not send an RFB ProtocolVersion")
            return 0
        text = bytes(buf[:12])
        if not (text[:4] == b"RFB " and text[7:8] == b"." and text[11:12] == b"\n"):
            raise RFBError("malformed RFB ProtocolVersion")
        digits = text[4:7] + text[8:11]
        if not digits.isdigit() or int(text[4:7]) != 3:
            raise RFBError(f"unsupported RFB version {text[4:11]!r}")
        minor = int(text[8:11])
        # RFC 6143 7.1.1: unknown 3.x versions are to be treated as 3.3.
        self.minor_version = 8 if minor >= 8 else 7 if minor == 7 else 3
        if self.minor_version == 3:
            self._out += struct.pack(">I", c.SECURITY_NONE)
            self.state = State.CLIENT_INIT
        else:
            self._out += bytes([1, c.SECURITY_NONE])
            self.state = State.SECURITY
        return 12

    def _on_security(self, chosen: int) -> int:
        if chosen != c.SECURITY_NONE:
            if self.minor_version == 8:
                reason = b"only security type None is offered"
                self._out += struct.pack(">II", 1, len(reason)) + reason
            raise RFBError(f"the client chose security type {chosen}, which was not offered")
        if self.minor_version == 8:
            self._out += struct.pack(">I", 0)  # SecurityResult OK (3.7 omits it for None)
        self.state = State.CLIENT_INIT
        return 1

    def _send_server_init(self) -> None:
        name = self.name.encode("utf-8")
        self._out += struct.pack(">HH", self.width, self.height)
        self._out += self.pixel_format.pack()
        self._out += struct.pack(">I", len(name)) + name

    def _apply(self, message: ClientMessage) -> None:
        if isinstance(message, SetPixelFormat):
            self.pixel_format = message.pixel_format
        elif isinstance(message, SetEncodings):
            self.encodings = message.encodings
            levels = [
                e for e in message.encodings if c.ENC_ZLIB_LEVEL_MIN <= e <= c.ENC_ZLIB_LEVEL_MAX
            ]
            if levels:
                self._picture.set_zlib_level(levels[0] - c.ENC_ZLIB_LEVEL_MIN)
            self._out += self._flow.on_encodings(message.encodings)
        elif isinstance(message, FramebufferUpdateRequest):
            self._on_request(message)
        elif isinstance(message, EnableContinuousUpdates):
            self._out += self._flow.on_enable(message, self.width, self.height)
        elif isinstance(message, Fence):
            self._out += self._flow.on_fence(message)
        elif isinstance(message, SetDesktopSize):
            self._layout_refused = True  # answered by the next update

    def _on_request(self, req: FramebufferUpdateRequest) -> None:
        region = Rect(req.x, req.y, req.width, req.height).clip(self.width, self.height)
        if region is None:
            # Viewers ask for the old size right after a resize; that is not an error.
            region = Rect(0, 0, self.width, self.height)
        if req.incremental and self._flow.continuous is not None:
            return  # rfbproto: ignored while continuous updates are on
        self._request = region if self._request is None else self._request.union(region)
        if not req.incremental:
            self._full = region if self._full is None else self._full.union(region)

    # --- updates --------------------------------------------------------------------------

    @property
    def update_requested(self) -> bool:
        """True while the client has asked for an update that has not been sent yet (or has
        continuous updates on and has caught up with those already sent)."""
        if self.state is not State.NORMAL:
            return False
        return self._request is not None or self._continuous_region() is not None

    @property
    def refresh_pending(self) -> bool:
        """True while the client holds approximations (JPEG tiles, an H.264 region) that a
        still screen will replace, so polls must run the encoder even when nothing was drawn."""
        return self._picture.refresh_pending

    def _continuous_region(self) -> Rect | None:
        return None if self._flow.throttled else self._flow.continuous

    @property
    def adapt(self) -> Adaptation:
        """The link measurement and what it allows: quality cap, time between updates."""
        return self._flow.adapt

    @property
    def jpeg_level(self) -> int | None:
        """The client's JPEG quality level 0..9, or None if it did not ask for JPEG."""
        for e in self.encodings:
            if c.ENC_JPEG_QUALITY_MIN <= e <= c.ENC_JPEG_QUALITY_MAX:
                return e - c.ENC_JPEG_QUALITY_MIN
        return None

    @property
    def encoding(self) -> int:
        """The pixel encoding in use: the client's first choice among those implemented."""
        for e in self.encodings:
            if e in (c.ENC_RAW, c.ENC_TIGHT, c.ENC_ZRLE):
                return e
        return c.ENC_RAW

    def update(self, frame: Frame, cursor: Cursor | None = None) -> bool:
        """Send what changed in the requested region since the client last got it.

        ``frame`` is the whole screen (B, G, R, X). Returns True if a FramebufferUpdate was
        queued; False leaves an incremental request pending until something changes. This is
        :meth:`begin_update`, :meth:`encode_update` and :meth:`finish_update` in one call.
        """
        job = self.begin_update()
        if job is None:
            return False
        data = self.encode_update(job, frame, cursor)
        self.finish_update(job, data)
        return data is not None

    def begin_update(self) -> UpdateJob | None:
        """Take the pending request (None if there is none) as a job for :meth:`encode_update`.

        The job is a snapshot: requests and SetEncodings that arrive while it is encoded on
        another thread apply to the next update.
        """
        if not self.update_requested or self._in_flight is not None:
            return None
        requested, continuous = self._request, self._continuous_region()
        region = requested or continuous
        assert region is not None
        if requested is not None and continuous is not None:
            region = requested.union(continuous)
        job = UpdateJob(
            region, self._full, self.encoding, self._flow.adapt.jpeg(self.jpeg_level),
            self.pixel_format,
            c.ENC_CURSOR in self.encodings, c.ENC_DESKTOP_SIZE in self.encodings, requested,
            c.ENC_COPYRECT in self.encodings, c.ENC_H264 in self.encodings,
            c.ENC_EXTENDED_DESKTOP_SIZE in self.encodings, self._flow.adapt.video_rate,
        )  # fmt: skip
        self._request = self._full = None
        self._in_flight = job
        return job

    def encode_update(
        self,
        job: UpdateJob,
        frame: Frame,
        cursor: Cursor | None,
        damage: npt.NDArray[np.bool_] | None = None,
        *,
        clean: bool = False,
    ) -> bytes | None:
        """Encode the FramebufferUpdate for ``job``; None when nothing the client asked about
        changed. Safe to run on a worker thread while the event loop feeds :meth:`receive_data`
        (it touches only the per-client picture state and the encoders).

        ``damage`` is a (rows, cols) tile mask: the caller promises that ``frame`` equals the
        frame of the previous call outside those tiles, so only they are compared. ``clean``
        promises that every padding byte (X of B, G, R, X) is zero, which saves a pass."""
        frame = np.ascontiguousarray(frame)
        height, width = frame.shape[:2]
        if (width, height) != (self.width, self.height):
            if (job.desktop_size or job.extended_desktop_size) and self._resize(width, height):
                self._owed = (job, True)
                return update_header(1) + self._size_rectangle(job, REASON_SERVER, STATUS_OK)
            frame, damage = fit(frame, self.width, self.height), None
        if job.extended_desktop_size and (self._layout_refused or self._layout_sent != self.layout):
            refused, self._layout_refused = self._layout_refused, False
            reason, status = (REASON_CLIENT, STATUS_PROHIBITED) if refused else (REASON_SERVER, 0)
            # The size is unchanged, so the client keeps its picture (noVNC does).
            self._owed = (job, False)
            return update_header(1) + self._size_rectangle(job, reason, status)
        return self._picture.encode(job, frame, cursor, damage, clean=clean)

    @property
    def layout(self) -> Layout:
        """The framebuffer size and its screens (one per monitor shown)."""
        inside = tuple(r for s in self._screens if (r := s.clip(self.width, self.height)))
        return self.width, self.height, inside or (Rect(0, 0, self.width, self.height),)

    def set_screens(self, screens: tuple[Rect, ...]) -> None:
        """Say where the monitors are in the framebuffer; viewers that support
        ExtendedDesktopSize are told in their next update. Call it from the thread that runs
        :meth:`encode_update`."""
        self._screens = screens

    def _size_rectangle(self, job: UpdateJob, reason: int, status: int) -> bytes:
        if not job.extended_desktop_size:
            return RECT.pack(0, 0, self.width, self.height, c.ENC_DESKTOP_SIZE)
        self._layout_sent = self.layout
        return layout_rectangle(self._layout_sent, reason=reason, status=status)

    def finish_update(self, job: UpdateJob, data: bytes | None) -> None:
        """Queue the encoded update, or put the request back when there was nothing to send.

        Then parse what waited behind a fence; call :meth:`events_received` afterwards.
        """
        self._in_flight = None
        owed = self._owed is not None and self._owed[0] is job
        whole = job.region.clip(self.width, self.height)
        if owed and self._owed is not None and self._owed[1] and whole is not None:
            # A new size: the capture's damage is spent and the picture is new, so the next
            # capture must run even on a still screen.
            job = replace(job, full=whole, requested=whole)
        self._owed = None
        if data is not None:
            self._out += data + self._flow.after_update(len(data))
        if data is None or owed:
            if job.requested is not None:
                old = self._request
                self._request = job.requested if old is None else old.union(job.requested)
            if job.full is not None:
                self._full = job.full if self._full is None else self._full.union(job.full)
        self.receive_data(b"")

    def _resize(self, width: int, height: int) -> bool:
        if not (
            0 < width <= limits.MAX_FRAMEBUFFER_DIM and 0 < height <= limits.MAX_FRAMEBUFFER_DIM
        ):
            return False
        self.width, self.height = width, height
        # RFC 6143 7.8.2: the DesktopSize rectangle ends the update; the next one is all new.
        self._picture.resize(width, height)
        return True
