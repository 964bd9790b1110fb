"""Video mode: a region that keeps changing goes out as H.264 (encoding 50), and back to
exact tiles once it settles."""

from collections.abc import Callable

import av
import numpy as np
import pytest

from tasuke import limits
from tasuke.errors import LocalError
from tasuke.rfb import constants as c
from tasuke.rfb.capture import Capture
from tasuke.rfb.encoders.h264 import H264Encoder, crf_for_quality
from tasuke.rfb.server import RFBServer
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import RegionScreen, client_init, request, rgb, set_encodings

W, H = 512, 384
VIDEO = (128, 64, 256, 192)  # x, y, w, h: 4 x 3 tiles, the minimum for video mode
JPEG_Q6 = c.ENC_JPEG_QUALITY_MIN + 6
FPS = 30


def desktop() -> np.ndarray:
    """A flat desktop with a two-colour 'text' strip (exact on the tile path)."""
    img = np.zeros((H, W, 4), np.uint8)
    img[:] = (230, 230, 230, 255)
    img[300:316, 20:400:3] = (20, 20, 20, 255)
    return img


def video_frame(i: int) -> np.ndarray:
    """A smooth moving picture with fixed fine grain, like a film (many colours)."""
    _, _, w, h = VIDEO
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    grain = np.random.default_rng(7).normal(0, 4, (h, w))
    out = np.empty((h, w, 4), np.uint8)
    for ch, (fx, fy) in enumerate(((0.05, 0.03), (0.02, 0.06), (0.04, 0.01))):
        wave = np.sin(xx * fx + i * 0.2 * (ch + 1)) + np.cos(yy * fy - i * 0.15)
        out[..., ch] = np.clip(120 + 55 * wave + grain, 0, 255).astype(np.uint8)
    out[..., 3] = 255
    return out


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def connect(*encodings: int) -> tuple[RFBServer, Decoder, Clock]:
    clock = Clock()
    server = RFBServer(W, H, name="v", clock=clock)
    decoder = Decoder()
    server.receive_data(client_init())
    decoder.handshake(server.data_to_send())
    server.receive_data(set_encodings(*encodings))
    return server, decoder, clock


def poll(server: RFBServer, decoder: Decoder, frame: np.ndarray, *, full: bool = False) -> int:
    """One update request and answer; returns the bytes sent."""
    server.receive_data(request(0, 0, W, H, incremental=not full))
    server.update(frame)
    data = server.data_to_send()
    decoder.feed(data)
    return len(data)


def busy_frame(i: int) -> np.ndarray:
    """The moving picture with fresh noise in every frame: costly for any encoder."""
    out = video_frame(i)
    noise = np.random.default_rng(i).integers(-24, 25, out[..., :3].shape)
    out[..., :3] = np.clip(out[..., :3] + noise, 0, 255)
    return out


def play(
    server: RFBServer,
    decoder: Decoder,
    clock: Clock,
    frames: int,
    start: int = 0,
    picture: Callable[[int], np.ndarray] = video_frame,
) -> int:
    screen = desktop()
    x, y, w, h = VIDEO
    sent = 0
    for i in range(start, start + frames):
        clock.now += 1 / FPS
        screen[y : y + h, x : x + w] = picture(i)
        sent += poll(server, decoder, screen)
    return sent


def kinds(decoder: Decoder) -> list[str]:
    return [r.kind for update in decoder.updates for r in update if r.encoding == c.ENC_H264]


def region_error(decoder: Decoder, frame: np.ndarray) -> float:
    x, y, w, h = VIDEO
    got = decoder.screen[y : y + h, x : x + w].astype(int)
    return float(np.abs(got - rgb(frame)[y : y + h, x : x + w]).mean())


def test_a_busy_region_becomes_one_h264_stream_close_to_the_picture() -> None:
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    poll(server, decoder, desktop(), full=True)
    play(server, decoder, clock, 60)
    stream = kinds(decoder)
    assert stream[0] == "h264-reset"  # a new stream resets the viewer's decoder
    assert stream[1:] == ["h264"] * (len(stream) - 1)
    assert len(stream) >= 60 - limits.RFB_VIDEO_HOT_AFTER * FPS - 2
    h264_rects = {
        (r.x, r.y, r.width, r.height)
        for update in decoder.updates
        for r in update
        if r.encoding == c.ENC_H264
    }
    assert h264_rects == {VIDEO}
    screen = desktop()
    screen[64:256, 128:384] = video_frame(59)
    assert region_error(decoder, screen) < 6
    assert np.array_equal(decoder.screen[300:316], rgb(screen)[300:316])  # text untouched


def test_h264_costs_far_fewer_bytes_than_jpeg_tiles() -> None:
    # The 10x target is measured by benchmarks/screen.py on its video workload; this
    # synthetic picture only has to show the order of magnitude.
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    poll(server, decoder, desktop(), full=True)
    play(server, decoder, clock, 30)  # into video mode
    video_bytes = play(server, decoder, clock, 60, start=30)
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6)
    poll(server, decoder, desktop(), full=True)
    play(server, decoder, clock, 30)
    jpeg_bytes = play(server, decoder, clock, 60, start=30)
    assert kinds(decoder) == []
    assert video_bytes * 5 < jpeg_bytes


def test_a_settled_video_region_becomes_pixel_exact() -> None:
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    poll(server, decoder, desktop(), full=True)
    play(server, decoder, clock, 40)
    screen = desktop()
    screen[64:256, 128:384] = video_frame(39)
    assert not np.array_equal(decoder.screen, rgb(screen))  # H.264 is approximate
    for _ in range(int(limits.RFB_VIDEO_SETTLE * FPS) + 2):
        clock.now += 1 / FPS
        poll(server, decoder, screen)
    assert np.array_equal(decoder.screen, rgb(screen))
    last = decoder.updates[-1]
    assert all(r.encoding == c.ENC_TIGHT and r.kind != "jpeg" for r in last)
    # And then it is quiet: nothing more to send.
    assert poll(server, decoder, screen) == 0


def test_viewers_without_encoding_50_never_get_h264() -> None:
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6)
    poll(server, decoder, desktop(), full=True)
    play(server, decoder, clock, 40)
    assert kinds(decoder) == []


def test_small_changes_such_as_typing_stay_on_the_tile_path() -> None:
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    screen = desktop()
    poll(server, decoder, screen, full=True)
    for i in range(60):
        clock.now += 1 / FPS
        screen[100:116, 10 + 6 * i : 15 + 6 * i] = (0, 0, 0, 255)
        poll(server, decoder, screen)
    assert kinds(decoder) == []
    assert np.array_equal(decoder.screen, rgb(screen))


def test_dropping_encoding_50_ends_video_with_an_exact_picture() -> None:
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    poll(server, decoder, desktop(), full=True)
    play(server, decoder, clock, 40)
    assert kinds(decoder)
    server.receive_data(set_encodings(c.ENC_TIGHT))
    screen = desktop()
    screen[64:256, 128:384] = video_frame(39)
    clock.now += 1 / FPS
    poll(server, decoder, screen)
    assert np.array_equal(decoder.screen, rgb(screen))


def test_a_growing_video_region_starts_a_new_stream() -> None:
    server, decoder, clock = connect(c.ENC_TIGHT, c.ENC_H264)
    screen = desktop()
    poll(server, decoder, screen, full=True)
    play(server, decoder, clock, 30)
    rng = np.random.default_rng(3)
    for i in range(30, 70):  # now the strip below the video changes too
        clock.now += 1 / FPS
        screen[64:256, 128:384] = video_frame(i)
        screen[256:320, 128:384, :3] = rng.integers(0, 256, (64, 256, 3))
        poll(server, decoder, screen)
    resets = [
        (r.x, r.y, r.width, r.height)
        for update in decoder.updates
        for r in update
        if r.kind == "h264-reset"
    ]
    assert resets == [VIDEO, (128, 64, 256, 256)]


def test_encoder_refuses_odd_sizes_and_maps_quality() -> None:
    with pytest.raises(LocalError, match="even"):
        H264Encoder(101, 100)
    assert crf_for_quality(6) == 26
    assert crf_for_quality(9) < crf_for_quality(6) < crf_for_quality(0)
    first = H264Encoder(64, 64).encode(np.zeros((64, 64, 4), np.uint8))
    assert first.startswith(b"\x00\x00\x00\x01\x67")  # Annex-B, SPS first


def test_video_settles_even_when_the_screen_reports_no_damage() -> None:
    # With XDamage a still screen reports nothing, so nothing would be captured; the pending
    # lossless refresh of the video region must still happen.
    screen = RegionScreen(desktop())
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    capture = Capture(screen, clock)

    def poll_capture(full: bool = False) -> None:
        server.receive_data(request(0, 0, W, H, incremental=not full))
        job = server.begin_update()
        assert job is not None
        shot = capture.take(whole=True, forced=full, refresh=server.refresh_pending)
        data = (
            None
            if shot is None
            else server.encode_update(job, shot.frame, shot.cursor, shot.damage)
        )
        server.finish_update(job, data)
        decoder.feed(server.data_to_send())

    poll_capture(full=True)
    screen.drawn = []
    x, y, w, h = VIDEO
    for i in range(40):
        clock.now += 1 / FPS
        screen.frame = screen.frame.copy()
        screen.frame[y : y + h, x : x + w] = video_frame(i)
        screen.drawn.append(VIDEO)
        poll_capture()
    assert kinds(decoder)
    for _ in range(int(limits.RFB_VIDEO_SETTLE * FPS) + 2):
        clock.now += 1 / FPS
        poll_capture()
    assert np.array_equal(decoder.screen, rgb(screen.frame))
    assert capture.grabs == 1


def test_scrolling_text_stays_sharp_copyrect_not_video() -> None:
    server, decoder, clock = connect(c.ENC_COPYRECT, c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    rng = np.random.default_rng(5)
    page = np.where(rng.random((2000, 384)) < 0.2, 20, 235).astype(np.uint8)  # "text"
    screen = desktop()

    def show(top: int) -> None:
        screen[32:352, 64:448, :3] = page[top : top + 320, :, None]

    show(0)
    poll(server, decoder, screen, full=True)
    for i in range(1, 60):
        clock.now += 1 / FPS
        show(4 * i)
        poll(server, decoder, screen)
    assert kinds(decoder) == []
    copies = [r for update in decoder.updates for r in update if r.encoding == c.ENC_COPYRECT]
    assert len(copies) >= 50
    assert np.array_equal(decoder.screen, rgb(screen))


def test_a_region_over_the_pixel_limit_stays_on_the_tile_path(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, _, w, h = VIDEO
    monkeypatch.setattr(limits, "RFB_VIDEO_MAX_PIXELS", w * h - 1)
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    poll(server, decoder, desktop(), full=True)
    play(server, decoder, clock, 40)
    assert kinds(decoder) == []
    monkeypatch.setattr(limits, "RFB_VIDEO_MAX_PIXELS", w * h)
    play(server, decoder, clock, 40, start=40)
    assert kinds(decoder)


KIB = 1024


def test_a_rate_cap_holds_a_busy_stream_to_it_and_every_picture_decodes() -> None:
    # 640x360 of fresh noise at 30 pictures a second: the worst a region can cost.
    cap, seconds = 60 * KIB, 3
    rng = np.random.default_rng(11)
    capped = H264Encoder(640, 360, quality=6, max_rate=cap)
    uncapped = H264Encoder(640, 360, quality=6)
    assert (capped.max_rate, uncapped.max_rate) == (cap, None)
    decoder = av.CodecContext.create("h264", "r")
    capped_bytes = uncapped_bytes = decoded = 0
    for _ in range(FPS * seconds):
        pixels = rng.integers(0, 256, (360, 640, 4), dtype=np.uint8)
        data = capped.encode(pixels)
        capped_bytes += len(data)
        decoded += len(decoder.decode(av.Packet(data)))  # type: ignore[attr-defined]
        uncapped_bytes += len(uncapped.encode(pixels))
    assert decoded == FPS * seconds
    # The first (IDR) picture may take up to the VBV buffer on top of the rate.
    assert capped_bytes / seconds < 1.25 * cap
    assert uncapped_bytes / seconds > 10 * cap


def test_encoder_refuses_a_cap_that_would_turn_vbv_off() -> None:
    with pytest.raises(LocalError, match="too low"):
        H264Encoder(64, 64, max_rate=100)


def test_a_new_rate_cap_restarts_the_stream_which_keeps_to_it_and_decodes() -> None:
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    poll(server, decoder, desktop(), full=True)
    play(server, decoder, clock, 30, picture=busy_frame)  # into video mode
    uncapped = play(server, decoder, clock, 2 * FPS, start=30, picture=busy_frame)
    seen = len(decoder.updates)
    cap = 16 * KIB
    server.adapt.video_rate = cap  # what a congested link measured at ~27 KiB/s leads to
    capped = play(server, decoder, clock, 2 * FPS, start=90, picture=busy_frame)
    rects = [r for update in decoder.updates[seen:] for r in update]
    assert [r.kind for r in rects] == ["h264-reset"] + ["h264"] * (2 * FPS - 1)
    assert {(r.x, r.y, r.width, r.height) for r in rects} == {VIDEO}  # no tiles resent
    assert uncapped / 2 > 5 * cap
    assert capped / 2 < 1.3 * cap  # with the new stream's IDR picture
    screen = desktop()
    screen[64:256, 128:384] = busy_frame(149)
    assert region_error(decoder, screen) < 16  # the last picture decoded, coarse but there
    # Lifting the cap is another new stream, and the picture comes back.
    server.adapt.video_rate = None
    seen = len(decoder.updates)
    play(server, decoder, clock, FPS, start=150, picture=busy_frame)
    assert decoder.updates[seen][0].kind == "h264-reset"
    screen[64:256, 128:384] = busy_frame(179)
    assert region_error(decoder, screen) < 12


def test_a_video_region_on_a_slow_link_does_not_settle_between_sparse_updates() -> None:
    # Behind a slow link updates come further apart than the settle time; the region still
    # changes in every one, so it must stay video, not be resent losslessly each time.
    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    poll(server, decoder, desktop(), full=True)
    play(server, decoder, clock, 30)
    screen = desktop()
    for i in range(30, 36):
        clock.now += 2 * limits.RFB_VIDEO_SETTLE
        screen[64:256, 128:384] = video_frame(i)
        poll(server, decoder, screen)
    last = [r for update in decoder.updates[-6:] for r in update]
    assert [r.encoding for r in last] == [c.ENC_H264] * 6
