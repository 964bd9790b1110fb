"""The fast path: tile classification, merging, palette indices and the idle check."""

import tracemalloc

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tasuke import limits
from tasuke.rfb import constants as c
from tasuke.rfb.plan import Kind, palette_indices, plan_regions
from tasuke.rfb.server import RFBServer
from tasuke.rfb.tiles import ClientView, Rect
from tests.unit.rfb.decoder import ClientFormat, Decoder
from tests.unit.rfb.fakes import client_init, request, rgb, sample_picture, set_encodings


class Clock:
    """Time for the server, moved on by the test."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def connect(
    width: int, height: int, *encodings: int, clock: Clock | None = None
) -> tuple[RFBServer, Decoder]:
    server = RFBServer(width, height, name="x", clock=clock or Clock())
    decoder = Decoder()
    server.receive_data(client_init(8))
    decoder.handshake(server.data_to_send())
    server.receive_data(set_encodings(*encodings))
    return server, decoder


def send(server: RFBServer, decoder: Decoder, frame: np.ndarray, *, incremental: bool) -> bool:
    server.receive_data(request(0, 0, server.width, server.height, incremental=incremental))
    sent = server.update(frame)
    decoder.feed(server.data_to_send())
    return sent


@settings(max_examples=60, deadline=None)
@given(
    count=st.integers(3, 256),
    seed=st.integers(0, 2**32 - 1),
)
def test_palette_indices_are_exact(count: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    colours = np.unique(rng.integers(0, 1 << 24, count * 2, dtype=np.uint32))[:count]
    keys = colours[rng.integers(0, len(colours), (37, 53))]
    index = palette_indices(keys, colours)
    assert np.array_equal(colours[index], keys)


def desktop(width: int, height: int, seed: int) -> np.ndarray:
    """Flat areas, text-like two-colour areas and a noisy photo, at any size."""
    rng = np.random.default_rng(seed)
    frame = np.zeros((height, width, 4), np.uint8)
    frame[..., :3] = (180, 90, 30)
    frame[height // 4 : height // 2, : width // 2, :3] = rng.integers(0, 2, (1, 1, 1)) * 255
    text = rng.random((height // 2 - height // 4, width // 2)) < 0.2
    frame[height // 4 : height // 2, : width // 2][text] = (10, 10, 10, 0)
    photo = (height - height // 2, width - width // 2, 3)
    frame[height // 2 :, width // 2 :, :3] = rng.integers(0, 256, photo)
    frame[..., 3] = rng.integers(0, 256)  # the padding byte is noise
    return frame


@settings(max_examples=15, deadline=None)
@given(
    size=st.sampled_from([(200, 130), (256, 192), (64, 64), (333, 77)]),
    encoding=st.sampled_from([c.ENC_TIGHT, c.ENC_RAW]),
    seed=st.integers(0, 1000),
)
def test_any_sequence_of_changes_arrives_exactly(
    size: tuple[int, int], encoding: int, seed: int
) -> None:
    width, height = size
    server, decoder = connect(width, height, encoding)
    frame = desktop(width, height, seed)
    send(server, decoder, frame, incremental=False)
    assert np.array_equal(decoder.screen, rgb(frame))
    rng = np.random.default_rng(seed)
    for _ in range(4):
        frame = frame.copy()
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = int(rng.integers(1, width - x + 1)), int(rng.integers(1, height - y + 1))
        frame[y : y + h, x : x + w, :3] = rng.integers(0, 256, 3)
        send(server, decoder, frame, incremental=True)
        assert np.array_equal(decoder.screen, rgb(frame))


def test_whole_screen_update_is_merged_into_few_rectangles() -> None:
    frame = sample_picture(1024, 768)
    server, decoder = connect(1024, 768, c.ENC_TIGHT)
    send(server, decoder, frame, incremental=False)
    assert np.array_equal(decoder.screen, rgb(frame))
    tiles = (1024 // 64) * (768 // 64)
    assert len(decoder.updates[0]) < tiles // 4


def test_idle_check_allocates_nothing_frame_sized() -> None:
    frame = np.zeros((1080, 1920, 4), np.uint8)
    server, decoder = connect(1920, 1080, c.ENC_TIGHT)
    send(server, decoder, frame, incremental=False)
    server.receive_data(request(0, 0, 1920, 1080, incremental=True))
    tracemalloc.start()
    try:
        assert not server.update(frame)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1920 * 1080  # a quarter of one frame; a copy would be 8 MB


def test_antialiased_text_is_exact_at_once_and_photos_are_refined_once_still() -> None:
    frame = sample_picture()
    frame[0:64, 192:256, :3] = 255
    rng = np.random.default_rng(3)
    text = rng.random((64, 64)) < 0.3
    greys = rng.integers(0, 160, (64, 64, 1))  # antialiased text: ~160 greys
    frame[0:64, 192:256, :3][text] = np.broadcast_to(greys, (64, 64, 3))[text]
    clock = Clock()
    server, decoder = connect(256, 192, c.ENC_TIGHT, c.ENC_JPEG_QUALITY_MIN + 5, clock=clock)
    send(server, decoder, frame, incremental=False)
    sent_at = clock.now
    first = {(r.x, r.y): r.kind for r in decoder.updates[-1]}
    assert first[(192, 0)] == "palette"  # up to 256 colours: exact from the start
    screen, want = decoder.screen.astype(int), rgb(frame).astype(int)
    assert np.array_equal(screen[:128], want[:128])
    rough = np.abs(screen[128:192, 128:256] - want[128:192, 128:256]).mean()
    assert rough > 0  # the photo is JPEG
    while not send(server, decoder, frame, incremental=True):
        clock.now += 0.1  # a still screen, polled ten times a second
        assert clock.now - sent_at <= limits.RFB_LOSSLESS_REFRESH_AFTER + 0.1
    assert clock.now - sent_at >= limits.RFB_LOSSLESS_REFRESH_AFTER  # not sooner
    screen = decoder.screen.astype(int)
    photo_error = np.abs(screen[128:192, 128:256] - want[128:192, 128:256]).mean()
    assert photo_error < rough  # the best JPEG, closer than at first
    assert np.array_equal(screen[:128], want[:128])
    assert not send(server, decoder, frame, incremental=True)  # and then nothing more


def test_a_changing_jpeg_area_is_not_refreshed_while_it_changes() -> None:
    frame = sample_picture()
    clock = Clock()
    server, decoder = connect(256, 192, c.ENC_TIGHT, c.ENC_JPEG_QUALITY_MIN + 5, clock=clock)
    send(server, decoder, frame, incremental=False)
    rng = np.random.default_rng(0)
    for _ in range(int(limits.RFB_LOSSLESS_REFRESH_AFTER * 30)):
        clock.now += 0.1
        frame = frame.copy()
        frame[128:192, 128:256, :3] = rng.integers(0, 256, (64, 128, 3))  # "video"
        send(server, decoder, frame, incremental=True)
        assert {r.kind for r in decoder.updates[-1]} == {"jpeg"}


@settings(max_examples=40, deadline=None)
@given(
    size=st.sampled_from([(200, 130), (256, 192), (64, 64), (333, 77), (130, 300)]),
    palette_max=st.sampled_from([64, 256]),
    seed=st.integers(0, 1000),
)
def test_planned_regions_cover_the_tiles_once_and_are_what_they_claim(
    size: tuple[int, int], palette_max: int, seed: int
) -> None:
    width, height = size
    rng = np.random.default_rng(seed)
    frame = desktop(width, height, seed)
    view = ClientView(width, height)
    keys = view.keys(frame)
    mask = rng.random((view.rows, view.cols)) < 0.7
    region = Rect(int(rng.integers(0, 20)), int(rng.integers(0, 20)), width, height)
    region = region.clip(width, height)
    assert region is not None
    covered = np.zeros((height, width), np.int32)
    for reg in plan_regions(keys, view, mask, region, palette_max):
        r = reg.rect
        assert r.width <= 2048
        covered[r.y : r.y + r.height, r.x : r.x + r.width] += 1
        window = keys[r.y : r.y + r.height, r.x : r.x + r.width]
        if reg.kind is Kind.FILL:
            assert (window == reg.colours[0]).all()
        elif reg.kind is Kind.PALETTE:
            assert len(reg.colours) <= palette_max
            assert np.isin(window, reg.colours).all()
    want = np.zeros((height, width), np.int32)
    for row, col in zip(*np.nonzero(mask), strict=True):
        want[row * 64 : row * 64 + 64, col * 64 : col * 64 + 64] = 1
    inside = np.zeros_like(want)
    inside[region.y : region.y + region.height, region.x : region.x + region.width] = 1
    assert np.array_equal(covered, want * inside)


def test_a_photograph_is_one_jpeg_rectangle_not_one_per_tile_row() -> None:
    frame = np.zeros((512, 512, 4), np.uint8)
    frame[64:448, 128:384, :3] = np.random.default_rng(1).integers(0, 256, (384, 256, 3))
    server, decoder = connect(512, 512, c.ENC_TIGHT, c.ENC_JPEG_QUALITY_MIN + 5)
    send(server, decoder, frame, incremental=False)
    jpeg = [r for r in decoder.updates[0] if r.kind == "jpeg"]
    assert [(r.x, r.y, r.width, r.height) for r in jpeg] == [(128, 64, 256, 384)]


def test_a_big_noisy_area_in_four_byte_tpixels_fits_tight_lengths() -> None:
    # 32-bit depth-32 clients get whole pixels: a merged region of noise must still compress
    # to less than Tight's 4 MiB compact length.
    fmt = ClientFormat(depth=32)
    server = RFBServer(1024, 1088, name="x")
    decoder = Decoder(fmt)
    server.receive_data(client_init(8))
    decoder.handshake(server.data_to_send())
    server.receive_data(fmt.message())
    server.receive_data(set_encodings(c.ENC_TIGHT))
    frame = np.random.default_rng(2).integers(0, 256, (1088, 1024, 4), dtype=np.uint8)
    send(server, decoder, frame, incremental=False)
    assert np.array_equal(decoder.screen, rgb(frame))
    assert max(r.width * r.height for r in decoder.updates[0]) <= 2048 * 256


def test_a_large_photo_is_sent_as_jpeg_strips_that_tile_it_exactly() -> None:
    # Strips are compressed on several threads at once; together they must cover the photo
    # once, in order, and look like it, and the still picture is then refined.
    width, height = 1024, 640
    rng = np.random.default_rng(5)
    frame = np.zeros((height, width, 4), np.uint8)
    ys, xs = np.mgrid[0:height, 0:width]
    for ch in range(3):
        frame[..., ch] = (96 + 60 * np.sin(xs / (30 + 9 * ch)) + 50 * np.cos(ys / 41)).astype(
            np.uint8
        )
    frame[..., :3] += rng.integers(0, 8, (height, width, 3), dtype=np.uint8)
    clock = Clock()
    server, decoder = connect(width, height, c.ENC_TIGHT, c.ENC_JPEG_QUALITY_MIN + 6, clock=clock)
    send(server, decoder, frame, incremental=False)
    rects = decoder.updates[-1]
    assert {r.kind for r in rects} == {"jpeg"}
    assert len(rects) >= 4  # 655 360 pixels in strips of about 131 072
    covered = np.zeros((height, width), np.int8)
    for r in rects:
        covered[r.y : r.y + r.height, r.x : r.x + r.width] += 1
    assert (covered == 1).all()
    error = np.abs(decoder.screen.astype(int) - rgb(frame).astype(int)).mean()
    assert error < 6  # a strip in the wrong place would be off by tens
    clock.now += limits.RFB_LOSSLESS_REFRESH_AFTER
    assert send(server, decoder, frame, incremental=True)  # the refinement
    refined = np.abs(decoder.screen.astype(int) - rgb(frame).astype(int)).mean()
    assert refined < error


def test_a_large_photo_sent_in_strips_is_not_sent_again() -> None:
    # The strips' edges are not tile edges; what the client holds is recorded for whole tiles,
    # so an unchanged screen sends nothing (until the photo's refinement is due).
    width, height = 1024, 320
    frame = np.random.default_rng(0).integers(0, 256, (height, width, 4), dtype=np.uint8)
    clock = Clock()
    server, decoder = connect(width, height, c.ENC_TIGHT, c.ENC_JPEG_QUALITY_MIN + 5, clock=clock)
    send(server, decoder, frame, incremental=False)
    assert len(decoder.updates[-1]) >= 2  # strips
    clock.now += 0.1
    assert not send(server, decoder, frame, incremental=True)
    clock.now += limits.RFB_LOSSLESS_REFRESH_AFTER
    assert send(server, decoder, frame, incremental=True)  # the refinement, once
    clock.now += 0.1
    assert not send(server, decoder, frame, incremental=True)


def test_jpeg_tiles_left_from_tight_are_sent_exactly_by_zrle() -> None:
    # A viewer that changes from Tight + JPEG to ZRLE gets the approximate tiles again,
    # exactly, and then the engine has nothing more to refine.
    frame = sample_picture()
    server, decoder = connect(256, 192, c.ENC_TIGHT, c.ENC_JPEG_QUALITY_MIN + 5)
    send(server, decoder, frame, incremental=False)
    assert server.refresh_pending
    server.receive_data(set_encodings(c.ENC_ZRLE))
    assert send(server, decoder, frame, incremental=True)
    assert {r.encoding for r in decoder.updates[-1]} == {c.ENC_ZRLE}
    assert np.array_equal(decoder.screen, rgb(frame))
    assert not server.refresh_pending
