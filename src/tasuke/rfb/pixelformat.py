"""RFB pixel formats (RFC 6143 section 7.4) and conversion of captured frames into them.

Frames from a :class:`~tasuke.desktop.base.ScreenSource` are (height, width, 4) uint8 arrays
in B, G, R, X byte order. A client chooses how it wants pixels on the wire; everything here is
vectorised with numpy because it runs over every changed pixel.
"""

import struct
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tasuke.errors import RFBError

__all__ = ["DEFAULT_PIXEL_FORMAT", "PixelFormat"]

_STRUCT = struct.Struct(">BBBBHHHBBBxxx")


def _is_mask(value: int) -> bool:
    """True for 2**n - 1 with n >= 1, the only channel maxima a true-colour format can use."""
    return value > 0 and (value & (value + 1)) == 0


@dataclass(frozen=True, slots=True)
class PixelFormat:
    """The 16-byte PIXEL_FORMAT structure. Only true-colour formats are supported."""

    bits_per_pixel: int
    depth: int
    big_endian: bool
    true_colour: bool
    red_max: int
    green_max: int
    blue_max: int
    red_shift: int
    green_shift: int
    blue_shift: int

    @property
    def bytes_per_pixel(self) -> int:
        """Bytes one pixel takes on the wire."""
        return self.bits_per_pixel // 8

    @property
    def tight_24(self) -> bool:
        """True when Tight sends 3-byte TPIXELs (R, G, B) instead of whole pixels."""
        return (
            self.bits_per_pixel == 32
            and self.depth == 24
            and self.red_max == self.green_max == self.blue_max == 255
        )

    def pack(self) -> bytes:
        """Return the 16 wire bytes."""
        return _STRUCT.pack(
            self.bits_per_pixel,
            self.depth,
            int(self.big_endian),
            int(self.true_colour),
            self.red_max,
            self.green_max,
            self.blue_max,
            self.red_shift,
            self.green_shift,
            self.blue_shift,
        )

    @classmethod
    def unpack(cls, data: bytes) -> "PixelFormat":
        """Parse and validate 16 wire bytes from a SetPixelFormat message.

        Raises:
            RFBError: colour-map formats, or a format whose channels do not fit its pixels.
        """
        bpp, depth, big, true_colour, rmax, gmax, bmax, rs, gs, bs = _STRUCT.unpack(data)
        if not true_colour:
            raise RFBError("colour-map pixel formats are not supported; use true colour")
        if bpp not in (8, 16, 32):
            raise RFBError(f"unsupported bits-per-pixel {bpp}; use 8, 16 or 32")
        for value, shift in ((rmax, rs), (gmax, gs), (bmax, bs)):
            if not _is_mask(value) or value > 255:
                raise RFBError(f"channel maximum {value} is not 2**n-1 with n <= 8")
            if shift + value.bit_length() > bpp:
                raise RFBError(f"channel shift {shift} does not fit {bpp} bits per pixel")
        return cls(bpp, depth, bool(big), True, rmax, gmax, bmax, rs, gs, bs)

    def convert(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Convert B, G, R, X pixels of any leading shape into wire bytes.

        Returns an array of shape ``pixels.shape[:-1] + (bytes_per_pixel,)``.
        """
        lead = pixels.shape[:-1]
        if self.bits_per_pixel == 32 and self.red_max == self.green_max == self.blue_max == 255:
            positions = [s // 8 if not self.big_endian else 3 - s // 8 for s in self._shifts()]
            if all(s % 8 == 0 for s in self._shifts()) and len(set(positions)) == 3:
                out = np.zeros((*lead, 4), dtype=np.uint8)
                # source channel index in B, G, R, X order for red, green, blue
                for src, dst in zip((2, 1, 0), positions, strict=True):
                    out[..., dst] = pixels[..., src]
                return out
        value = np.zeros(lead, dtype=np.uint32)
        for src, cmax, shift in (
            (2, self.red_max, self.red_shift),
            (1, self.green_max, self.green_shift),
            (0, self.blue_max, self.blue_shift),
        ):
            channel = pixels[..., src].astype(np.uint32)
            if cmax != 255:
                channel = (channel * cmax + 127) // 255
            value |= channel << np.uint32(shift)
        order = ">" if self.big_endian else "<"
        wire = value.astype(f"{order}u{self.bytes_per_pixel}")
        return wire.view(np.uint8).reshape(*lead, self.bytes_per_pixel)

    def tpixels(self, pixels: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        """Convert B, G, R, X pixels into Tight TPIXELs (3-byte R, G, B or whole pixels)."""
        if self.tight_24:
            return np.ascontiguousarray(pixels[..., 2::-1])
        return self.convert(pixels)

    def _shifts(self) -> tuple[int, int, int]:
        return (self.red_shift, self.green_shift, self.blue_shift)


DEFAULT_PIXEL_FORMAT = PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0)
"""What ServerInit announces: little-endian 32-bit B, G, R, X, the capture's own layout."""
