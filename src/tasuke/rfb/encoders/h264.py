"""H.264 rectangles (RFB encoding 50) through PyAV's libx264, server side.

The rectangle format is the one noVNC 1.7 decodes with WebCodecs (``core/decoders/h264.js``):
after the usual rectangle header, a U32 length and U32 flags, then ``length`` bytes of an
Annex-B byte stream (start codes, SPS and PPS in band before each IDR picture). Flag bit 0
resets the viewer's decoder for this rectangle's (x, y, width, height), bit 1 resets all of
them. The viewer keeps one decoder per rectangle geometry, so one stream must always be sent
for the same rectangle, and a new stream starts with a reset and an IDR picture.

x264 runs with preset ultrafast, tune zerolatency (no B-frames, no lookahead: each frame in
gives its packet out at once) and the baseline profile (Constrained Baseline, which every
WebCodecs H.264 decoder handles), 4:2:0, one thread and so one slice per picture. The
quality is a constant rate factor; on a slow link a rate cap is added (x264's VBV: CRF with a
maximum rate and a buffer of :data:`_VBV_SECONDS`, the usual low-latency setup), so a busy
picture costs at most the cap. PyAV 18.1 sets the cap only when the encoder opens (it does
not expose ``rc_buffer_size``, and ``max_bit_rate`` is read-only), so a new cap is a new
stream. PyAV and FFmpeg errors become LocalError here.
"""

import struct
from fractions import Fraction

import av
import av.error
import numpy as np

from tasuke.desktop.base import Frame
from tasuke.errors import LocalError

__all__ = ["FLAG_RESET_ALL", "FLAG_RESET_CONTEXT", "H264Encoder", "crf_for_quality"]

FLAG_RESET_CONTEXT = 1
FLAG_RESET_ALL = 2
_HEADER = struct.Struct(">II")
_CODEC = "libx264"
_NOMINAL_FPS = 30
_BT601 = 6
"""FFmpeg's AVCOL_SPC / AVCOL_PRI / AVCOL_TRC value SMPTE 170M (BT.601 525)."""
_LIMITED_RANGE = 1
"""AVCOL_RANGE_MPEG: Y 16..235."""
_VBV_SECONDS = 0.5
"""The VBV buffer holds this many seconds at the cap: how far one picture (an IDR) may go
over its share, and so the longest burst the link sees."""
_MIN_RATE = 1000
"""The lowest cap in bytes per second (FFmpeg hands x264 whole kbit/s; 0 would turn VBV off)."""


def crf_for_quality(level: int | None) -> int:
    """x264's constant rate factor for the viewer's JPEG quality level 0..9 (None: default).

    Level 6 (noVNC's default) gives 26; each level is 2 steps, so 9 gives 20 and 0 gives 38.
    """
    if level is None:
        return 24
    return 38 - 2 * max(0, min(9, level))


class H264Encoder:
    """One H.264 stream for one fixed rectangle size. Not thread-safe.

    ``max_rate`` (bytes per second, None: no cap) bounds the stream with x264's VBV. x264
    budgets every picture as 1/30 s (the time base FFmpeg gives it as the frame rate), so at
    fewer pictures a second the stream stays below the cap by that ratio.

    Raises:
        LocalError: (constructor) an odd or empty size, a cap under 1000 bytes/s, or libx264
            missing from PyAV's FFmpeg.
    """

    def __init__(
        self, width: int, height: int, *, quality: int | None = None, max_rate: float | None = None
    ) -> None:
        if width <= 0 or height <= 0 or width % 2 or height % 2:
            raise LocalError(f"H.264 needs an even, non-empty size, not {width}x{height}")
        if max_rate is not None and not max_rate >= _MIN_RATE:
            raise LocalError(f"an H.264 rate cap of {max_rate} bytes/s is too low")
        self.width = width
        self.height = height
        self.max_rate = max_rate
        """The cap in bytes per second, or None (constant rate factor alone)."""
        self.frames = 0
        try:
            ctx = av.CodecContext.create(_CODEC, "w")
        except (av.error.FFmpegError, ValueError) as exc:
            raise LocalError(f"PyAV has no {_CODEC} encoder: {exc}") from exc
        assert isinstance(ctx, av.VideoCodecContext)
        ctx.width, ctx.height = width, height
        ctx.pix_fmt = "yuv420p"
        # One slice per picture: noVNC hands each slice NAL to WebCodecs as a picture of its
        # own, so the sliced threads of tune zerolatency would arrive as broken pictures.
        ctx.thread_count = 1
        # swscale converts B, G, R to YUV with the BT.601 matrix in limited range; say so in
        # the stream, or a browser may assume BT.709 and shift every colour.
        ctx.colorspace = _BT601
        ctx.color_primaries = _BT601
        ctx.color_trc = _BT601
        ctx.color_range = _LIMITED_RANGE
        ctx.time_base = Fraction(1, _NOMINAL_FPS)
        options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "crf": str(crf_for_quality(quality)),
        }
        if max_rate is not None:
            # FFmpeg's generic options, in bits: rc_max_rate and rc_buffer_size, which
            # libx264 turns into vbv-maxrate and vbv-bufsize.
            bits = 8 * max_rate
            options |= {"maxrate": str(int(bits)), "bufsize": str(int(bits * _VBV_SECONDS))}
        ctx.options = options
        self._ctx: av.VideoCodecContext | None = ctx

    def encode(self, pixels: Frame) -> bytes:
        """Encode one (height, width, 4) B, G, R, X picture; return its Annex-B bytes.

        The first call returns an IDR picture with SPS and PPS in front.

        Raises:
            LocalError: wrong picture size, or the encoder failed.
        """
        if pixels.shape[:2] != (self.height, self.width):
            raise LocalError(f"picture {pixels.shape[:2]} for a {self.width}x{self.height} stream")
        if self._ctx is None:
            raise LocalError("the H.264 stream was closed")
        try:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="bgra")
            frame.pts = self.frames
            packets = self._ctx.encode(frame)
        except (av.error.FFmpegError, ValueError) as exc:
            raise LocalError(f"H.264 encoding failed: {exc}") from exc
        self.frames += 1
        return b"".join(bytes(p) for p in packets)

    def rectangle_body(self, pixels: Frame, *, reset: bool) -> bytes:
        """The bytes that follow an encoding-50 rectangle header: length, flags, stream."""
        data = self.encode(pixels)
        return _HEADER.pack(len(data), FLAG_RESET_CONTEXT if reset else 0) + data

    def close(self) -> None:
        """Free the encoder (idempotent)."""
        self._ctx = None
