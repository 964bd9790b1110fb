"""XFixes cursor pixels to the RGBA that viewers draw."""

import numpy as np

from tasuke.desktop.x11 import argb_to_rgba


def test_opaque_and_transparent_pixels_keep_their_colour() -> None:
    longs = np.array([0xFF102030, 0x00000000], dtype=np.uint32)
    rgba = argb_to_rgba(longs, 2, 1)
    assert rgba.shape == (1, 2, 4)
    assert rgba.tolist() == [[[0x10, 0x20, 0x30, 0xFF], [0, 0, 0, 0]]]


def test_translucent_pixels_are_unpremultiplied() -> None:
    # Half-transparent white is stored premultiplied as 0x80808080.
    longs = np.array([0x80808080, 0x40200000], dtype=np.uint32)
    rgba = argb_to_rgba(longs, 1, 2)
    assert rgba[0, 0].tolist() == [255, 255, 255, 0x80]
    assert rgba[1, 0].tolist() == [128, 0, 0, 0x40]


def test_rows_are_laid_out_top_to_bottom() -> None:
    longs = np.array([0xFF0000FF, 0xFF00FF00, 0xFFFF0000, 0xFFFFFFFF], dtype=np.uint32)
    rgba = argb_to_rgba(longs, 2, 2)
    assert rgba[0, 0].tolist() == [0, 0, 255, 255]
    assert rgba[0, 1].tolist() == [0, 255, 0, 255]
    assert rgba[1, 0].tolist() == [255, 0, 0, 255]
