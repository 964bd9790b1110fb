"""ZRLE against the independent decoder: exact, in every pixel format, at any size."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tasuke.rfb import constants as c
from tasuke.rfb.server import RFBServer
from tests.unit.rfb.decoder import ClientFormat, Decoder
from tests.unit.rfb.fakes import client_init, request, rgb, sample_picture, set_encodings


def connect(width: int, height: int, fmt: ClientFormat | None = None) -> tuple[RFBServer, Decoder]:
    server = RFBServer(width, height, name="x")
    decoder = Decoder(fmt or ClientFormat())
    server.receive_data(client_init(8))
    decoder.handshake(server.data_to_send())
    if fmt is not None:
        server.receive_data(fmt.message())
    server.receive_data(set_encodings(c.ENC_ZRLE, c.ENC_RAW))
    return server, decoder


def send(server: RFBServer, decoder: Decoder, frame: np.ndarray, *, incremental: bool) -> None:
    server.receive_data(request(0, 0, server.width, server.height, incremental=incremental))
    server.update(frame)  # False only when nothing changed, which the picture check covers
    decoder.feed(server.data_to_send())


@pytest.mark.parametrize(
    "fmt",
    [
        ClientFormat(),
        ClientFormat(rshift=0, gshift=8, bshift=16),  # noVNC
        ClientFormat(big_endian=True, rshift=16, gshift=8, bshift=0),  # low bytes, big-endian
        ClientFormat(rshift=24, gshift=16, bshift=8),  # colour in the high three bytes
        ClientFormat(big_endian=True, rshift=24, gshift=16, bshift=8),
        ClientFormat(depth=32),  # no 3-byte CPIXEL
    ],
)
def test_zrle_is_exact_in_32_bit_formats(fmt: ClientFormat) -> None:
    frame = sample_picture()
    server, decoder = connect(256, 192, fmt)
    send(server, decoder, frame, incremental=False)
    assert np.array_equal(decoder.screen, rgb(frame))
    assert all(r.encoding == c.ENC_ZRLE for r in decoder.updates[0])
    kinds = "+".join(r.kind for r in decoder.updates[0])
    for kind in ("solid", "packed", "raw"):
        assert kind in kinds


def test_zrle_in_16_bit_matches_raw() -> None:
    fmt = ClientFormat(bpp=16, depth=16, rmax=31, gmax=63, bmax=31, rshift=11, gshift=5, bshift=0)
    frame = sample_picture()
    server, decoder = connect(256, 192, fmt)
    send(server, decoder, frame, incremental=False)
    raw_server = RFBServer(256, 192, name="x")
    raw = Decoder(fmt)
    raw_server.receive_data(client_init(8))
    raw.handshake(raw_server.data_to_send())
    raw_server.receive_data(fmt.message())
    send(raw_server, raw, frame, incremental=False)
    assert np.array_equal(decoder.screen, raw.screen)


@st.composite
def pictures(draw: st.DrawFn) -> np.ndarray:
    width, height = draw(st.integers(1, 150)), draw(st.integers(1, 150))
    colours = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    palette = rng.integers(0, 256, (colours, 4), dtype=np.uint8)
    frame = palette[rng.integers(0, colours, (height, width))]
    if draw(st.booleans()):  # large flat areas too
        frame[: height // 2] = palette[0]
    return frame


@settings(max_examples=40, deadline=None)
@given(frames=st.lists(pictures(), min_size=1, max_size=3))
def test_zrle_any_picture_is_exact_and_the_stream_persists(frames: list[np.ndarray]) -> None:
    height, width = frames[0].shape[:2]
    server, decoder = connect(width, height)
    for i, frame in enumerate(frames):
        frame = np.resize(frame, (height, width, 4))
        send(server, decoder, frame, incremental=i > 0)
        assert np.array_equal(decoder.screen, rgb(frame))


def rle_picture(width: int, height: int, seed: int) -> np.ndarray:
    """Tiles that only run-length sub-encodings shrink: long runs of many colours (a
    vertical gradient of 200 greys: plain RLE), runs of a few dozen colours (palette RLE),
    runs far longer than 255 pixels, next to a noisy photo tile in the same tile row."""
    rng = np.random.default_rng(seed)
    frame = np.zeros((height, width, 4), np.uint8)
    grey = (np.arange(height) * 200 // max(height, 1)).astype(np.uint8)
    frame[:, : width // 3, :3] = grey[:, None, None]  # one colour per row, ~200 of them
    palette = rng.integers(0, 256, (40, 3), dtype=np.uint8)
    runs = rng.integers(0, 40, (height, 8))  # 8 runs a row, 40 colours
    frame[:, width // 3 : 2 * width // 3, :3] = np.repeat(
        palette[runs], -(-(2 * width // 3 - width // 3) // 8), axis=1
    )[:, : 2 * width // 3 - width // 3]
    frame[: height // 2, 2 * width // 3 :, :3] = rng.integers(0, 256, (height // 2, 1, 3))
    frame[height // 2 :, 2 * width // 3 :, :3] = rng.integers(
        0, 256, (height - height // 2, width - 2 * width // 3, 3)
    )
    frame[..., 3] = rng.integers(0, 256, (height, width))  # the padding byte is noise
    return frame


@pytest.mark.parametrize(
    "fmt",
    [
        ClientFormat(),
        ClientFormat(depth=32),  # 4-byte CPIXELs
        ClientFormat(bpp=16, depth=16, rmax=31, gmax=63, bmax=31, rshift=11, gshift=5, bshift=0),
    ],
)
@pytest.mark.parametrize("size", [(384, 320), (333, 150)])
def test_run_length_tiles_are_exact_and_smaller(fmt: ClientFormat, size: tuple[int, int]) -> None:
    width, height = size
    frame = rle_picture(width, height, seed=5)
    server, decoder = connect(width, height, fmt)
    send(server, decoder, frame, incremental=False)
    screen = decoder.screen
    raw_server, raw = connect(width, height, fmt)
    raw_server.receive_data(set_encodings(c.ENC_RAW))
    send(raw_server, raw, frame, incremental=False)
    assert np.array_equal(screen, raw.screen)
    kinds = "+".join(r.kind for r in decoder.updates[0])
    assert "rle" in kinds
    assert "raw" in kinds


def test_a_run_longer_than_a_tile_row_and_255_pixels_is_exact() -> None:
    frame = np.zeros((64, 64, 4), np.uint8)
    frame[..., :3] = np.arange(64 * 64, dtype=np.uint32).reshape(64, 64, 1) // 600 % 256
    server, decoder = connect(64, 64)
    send(server, decoder, frame, incremental=False)
    assert np.array_equal(decoder.screen, rgb(frame))
    assert decoder.updates[0][0].kind == "rle"


FORMATS = [
    ClientFormat(),
    ClientFormat(big_endian=True),  # colour in the low bytes, sent most significant first
    ClientFormat(rshift=24, gshift=16, bshift=8),  # colour in the high three bytes
    ClientFormat(big_endian=True, rshift=24, gshift=16, bshift=8),
    ClientFormat(rshift=0, gshift=8, bshift=16),  # noVNC
    ClientFormat(depth=32),  # no 3-byte CPIXEL
    ClientFormat(bpp=16, depth=16, rmax=31, gmax=63, bmax=31, rshift=11, gshift=5, bshift=0),
    ClientFormat(bpp=16, depth=15, big_endian=True, rmax=31, gmax=31, bmax=31, rshift=10, gshift=5),
    ClientFormat(bpp=8, depth=8, rmax=7, gmax=7, bmax=3, rshift=0, gshift=3, bshift=6),
]


def raw_screen(frame: np.ndarray, fmt: ClientFormat) -> np.ndarray:
    """What a client in ``fmt`` sees of ``frame`` sent as Raw: the exact picture to match."""
    height, width = frame.shape[:2]
    server, decoder = connect(width, height, fmt)
    server.receive_data(set_encodings(c.ENC_RAW))
    send(server, decoder, frame, incremental=False)
    return decoder.screen


@st.composite
def run_pictures(draw: st.DrawFn) -> np.ndarray:
    """Runs of random lengths (some far over 255 pixels, going on across row ends) of
    colours from a palette of 1 to 300 entries, at sizes that leave narrow and short tiles
    at the right and bottom edges."""
    width, height = draw(st.integers(1, 200)), draw(st.integers(1, 140))
    colours = draw(st.sampled_from([1, 2, 3, 4, 5, 16, 17, 60, 127, 128, 300]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    palette = rng.integers(0, 256, (colours, 4), dtype=np.uint8)
    longest = draw(st.sampled_from([1, 3, 40, 300, 5000]))
    lengths = rng.integers(1, longest + 1, width * height)
    ends = np.cumsum(lengths)
    lengths = lengths[: int(np.searchsorted(ends, width * height)) + 1]
    which = rng.integers(0, colours, len(lengths))
    frame = palette[np.repeat(which, lengths)[: width * height]].reshape(height, width, 4)
    if draw(st.booleans()):  # a photographic block next to the runs
        y, x = rng.integers(0, height), rng.integers(0, width)
        block = frame[y : y + 70, x : x + 70]
        block[...] = rng.integers(0, 256, block.shape, dtype=np.uint8)
    return frame


@settings(max_examples=60, deadline=None)
@given(frame=run_pictures(), fmt=st.sampled_from(FORMATS))
def test_zrle_runs_and_palettes_are_exact_in_every_format(
    frame: np.ndarray, fmt: ClientFormat
) -> None:
    height, width = frame.shape[:2]
    server, decoder = connect(width, height, fmt)
    send(server, decoder, frame, incremental=False)
    assert all(r.encoding == c.ENC_ZRLE for r in decoder.updates[0])
    assert np.array_equal(decoder.screen, raw_screen(frame, fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_sub_encoding_is_exact_in_every_format(fmt: ClientFormat) -> None:
    """Solid, packed at 1, 2 and 4 bits, plain and palette RLE (with runs over 255 pixels)
    and raw tiles, with a narrow, short tile at the right and bottom edges."""
    rng = np.random.default_rng(9)
    width, height = 64 * 7 + 5, 64 + 3
    frame = np.zeros((height, width, 4), np.uint8)
    frame[..., 3] = rng.integers(0, 256, (height, width))  # the padding byte is noise
    palette = rng.integers(0, 256, (100, 3), dtype=np.uint8)
    for tile, colours in enumerate([1, 2, 4, 16]):  # solid and packed 1, 2, 4 bits
        x = tile * 64
        frame[:, x : x + 64, :3] = palette[rng.integers(0, colours, (height, 64))]
    grey = (np.arange(height * 64) // 20 % 200).astype(np.uint8).reshape(height, 64)
    frame[:, 256:320, :3] = grey[..., None]  # plain RLE: 200 colours in runs of 20
    runs = np.repeat(rng.integers(0, 40, height * 64 // 300 + 1), 300)[: height * 64]
    frame[:, 320:384, :3] = palette[runs].reshape(height, 64, 3)  # palette RLE, long runs
    frame[:, 384:, :3] = rng.integers(0, 256, (height, width - 384, 3))  # raw
    server, decoder = connect(width, height, fmt)
    send(server, decoder, frame, incremental=False)
    kinds = "+".join(r.kind for r in decoder.updates[0])
    for kind in ("solid", "packed", "rle", "raw"):
        assert kind in kinds
    assert np.array_equal(decoder.screen, raw_screen(frame, fmt))


@pytest.mark.parametrize("fmt", FORMATS)
def test_small_changes_of_every_kind_are_exact(fmt: ClientFormat) -> None:
    """A change inside one tile is sent as its bounding box: one tile of an odd size, of
    each sub-encoding in turn."""
    rng = np.random.default_rng(4)
    frame = np.zeros((200, 300, 4), np.uint8)
    server, decoder = connect(300, 200, fmt)
    send(server, decoder, frame, incremental=False)
    palette = rng.integers(0, 256, (60, 4), dtype=np.uint8)
    changes = {
        "solid": palette[np.zeros((7, 9), int)],
        "packed": palette[rng.integers(1, 4, (33, 17))],
        "rle": palette[np.repeat(rng.integers(1, 50, 8), 300)[:2000].reshape(40, 50)],
        "raw": rng.integers(0, 256, (13, 21, 4), dtype=np.uint8),
        "one pixel": palette[[[5]]],
    }
    seen = set()
    for i, (kind, block) in enumerate(changes.items()):
        frame = frame.copy()
        h, w = block.shape[:2]
        frame[70 + i : 70 + i + h, 130 + i : 130 + i + w] = block  # inside one tile
        send(server, decoder, frame, incremental=True)
        seen.add("+".join(r.kind for r in decoder.updates[-1]))
        assert np.array_equal(decoder.screen, raw_screen(frame, fmt)), kind
    assert {"solid", "packed", "rle", "raw"} <= {k for kinds in seen for k in kinds.split("+")}
