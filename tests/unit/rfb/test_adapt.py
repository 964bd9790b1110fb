"""Adaptive quality: link measurement from fence answers, and what a slow link gets."""

import heapq
import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

from tasuke import limits
from tasuke.rfb import constants as c
from tasuke.rfb.adapt import MAX_FRAME_INTERVAL, MIN_QUALITY, Adaptation, LinkEstimate
from tasuke.rfb.job import UpdateJob
from tasuke.rfb.server import RFBServer
from tests.unit.rfb.decoder import Decoder
from tests.unit.rfb.fakes import client_init, continuous, fence, request, set_encodings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class SlowLink:
    """A link of ``rate`` bytes/s and ``rtt`` seconds carrying updates to a viewer that
    answers each fence once the update before it has arrived (as noVNC does)."""

    def __init__(self, rate: float, rtt: float) -> None:
        self.rate = rate
        self.rtt = rtt
        self.free_at = 0.0

    def answer_time(self, now: float, nbytes: int) -> float:
        start = max(now, self.free_at)
        self.free_at = start + nbytes / self.rate
        return self.free_at + self.rtt


class Sender:
    """Sends ``size``-byte updates as fast as the adaptation and the fence limit allow."""

    def __init__(self, adapt: Adaptation, clock: Clock, size: int) -> None:
        self.adapt, self.clock, self.size = adapt, clock, size
        self.answers: list[float] = []
        self.next_send = clock.now

    def run(self, link: SlowLink, seconds: float) -> None:
        clock, adapt = self.clock, self.adapt
        end = clock.now + seconds
        while clock.now < end:
            full = len(self.answers) >= limits.RFB_FENCES_IN_FLIGHT
            if not full and clock.now >= self.next_send:
                adapt.jpeg(6)
                adapt.sent(self.size)
                heapq.heappush(self.answers, link.answer_time(clock.now, self.size))
                self.next_send = clock.now + adapt.frame_interval
                continue
            soonest = self.answers[0] if full else min([self.next_send, *self.answers])
            clock.now = max(clock.now, soonest)
            while self.answers and self.answers[0] <= clock.now:
                heapq.heappop(self.answers)
                adapt.answered()


def drive(adapt: Adaptation, clock: Clock, link: SlowLink, size: int, seconds: float) -> None:
    """One sender for ``seconds``."""
    Sender(adapt, clock, size).run(link, seconds)


def test_a_fast_link_measures_its_round_trip_and_changes_nothing() -> None:
    clock = Clock()
    adapt = Adaptation(clock)
    drive(adapt, clock, SlowLink(rate=100e6, rtt=0.002), size=50_000, seconds=5)
    assert adapt.link.rtt is not None
    assert 0.002 <= adapt.link.rtt < 0.01
    assert adapt.link.delay < 0.01
    assert adapt.jpeg(6) == 6
    assert adapt.frame_interval == limits.RFB_POLL_INTERVAL
    assert adapt.video_rate is None  # CRF alone, as without a measurement
    assert not adapt.degraded


def test_throughput_is_what_a_busy_link_delivers() -> None:
    clock = Clock()
    link = LinkEstimate(clock)
    # Two updates queued back to back on a 100 kB/s link with a 50 ms round trip.
    for _ in range(20):
        link.sent(10_000)
        link.sent(10_000)
        clock.now += 0.1 + 0.05
        link.answered()
        clock.now += 0.1
        link.answered()
    assert link.throughput is not None
    assert 80_000 < link.throughput < 120_000
    assert link.rtt is not None


def test_a_slow_link_lowers_quality_first_then_frame_rate_and_recovers_in_reverse() -> None:
    clock = Clock()
    adapt = Adaptation(clock)
    slow = SlowLink(rate=200_000, rtt=0.03)  # 200 kB/s against 60 kB updates at 30 fps
    sender = Sender(adapt, clock, size=60_000)
    caps: list[int | None] = []
    intervals: list[float] = []
    for _ in range(40):
        sender.run(slow, seconds=0.25)
        caps.append(adapt.jpeg(6))
        intervals.append(adapt.frame_interval)
    assert adapt.jpeg(6) == MIN_QUALITY
    # The frame rate went down only once quality was at its floor.
    first_slower = next(i for i, v in enumerate(intervals) if v > limits.RFB_POLL_INTERVAL)
    assert caps[first_slower - 1] == MIN_QUALITY
    assert caps.index(5) < first_slower
    assert limits.RFB_POLL_INTERVAL < adapt.frame_interval <= MAX_FRAME_INTERVAL
    # The H.264 rate was capped at the first step, to a share of what the link carries.
    assert adapt.video_rate is not None
    assert adapt.video_rate <= limits.RFB_VIDEO_LINK_SHARE * 200_000 * 1.2

    fast = SlowLink(rate=100e6, rtt=0.002)
    fast.free_at = slow.free_at
    caps, intervals = [], []
    for _ in range(200):
        sender.run(fast, seconds=0.25)
        caps.append(adapt.jpeg(6))
        intervals.append(adapt.frame_interval)
    assert adapt.jpeg(6) == 6
    assert adapt.frame_interval == limits.RFB_POLL_INTERVAL
    assert adapt.video_rate is None
    assert not adapt.degraded
    # Back up in reverse: the frame rate recovered before quality rose above its floor.
    first_better = next(i for i, q in enumerate(caps) if q != MIN_QUALITY)
    assert intervals[first_better] == limits.RFB_POLL_INTERVAL


def test_small_updates_on_a_slow_link_keep_full_quality() -> None:
    # Typing on a slow but not saturated link: nothing waits, so nothing is taken away.
    clock = Clock()
    adapt = Adaptation(clock)
    drive(adapt, clock, SlowLink(rate=50_000, rtt=0.08), size=300, seconds=10)
    assert adapt.jpeg(6) == 6
    assert not adapt.degraded


def test_a_lossless_viewer_keeps_lossless_and_only_slows_down() -> None:
    clock = Clock()
    adapt = Adaptation(clock)
    slow = SlowLink(rate=100_000, rtt=0.03)
    while clock.now < 10:
        adapt.jpeg(None)
        adapt.sent(60_000)
        clock.now = slow.answer_time(clock.now, 60_000)
        adapt.answered()
    assert adapt.jpeg(None) is None
    assert adapt.frame_interval > limits.RFB_POLL_INTERVAL


# --- the engine itself -----------------------------------------------------------------

W, H = 320, 240
ENCODINGS = (c.ENC_TIGHT, c.ENC_JPEG_QUALITY_MIN + 6, c.ENC_FENCE, c.ENC_CONTINUOUS_UPDATES)


def _photo(rng: np.random.Generator) -> np.ndarray:
    """A changing photographic screen: smooth shading and noise in each channel (thousands of
    colours a tile: JPEG tiles)."""
    yy, xx = np.mgrid[0:H, 0:W]
    frame = np.zeros((H, W, 4), np.uint8)
    base = (xx + yy + int(rng.integers(0, 255))) % 256
    for channel in range(3):
        noise = rng.integers(0, 40, (H, W))
        frame[..., channel] = (base + noise + 60 * channel) % 256
    return frame


def _viewer_behind(
    link: SlowLink,
    seconds: float,
    width: int,
    height: int,
    encodings: tuple[int, ...],
    frame_for: Callable[[UpdateJob], np.ndarray],
) -> list[tuple[float, bytes, list[Any]]]:
    """A viewer behind ``link`` for ``seconds`` of simulated time, polled at the engine's
    frame interval; ``frame_for(job)`` is the screen for each update.

    Returns (when, bytes, decoded rectangles) of each update sent.
    """
    clock = Clock()
    server = RFBServer(width, height, name="adapt", clock=clock)
    decoder = Decoder()
    server.receive_data(client_init())
    decoder.handshake(server.data_to_send())
    server.receive_data(set_encodings(*encodings))
    server.receive_data(
        request(0, 0, width, height, incremental=False) + continuous(0, 0, width, height)
    )
    server.data_to_send()  # EndOfContinuousUpdates and the hello fence
    answers: list[tuple[float, int, bytes]] = []
    sent: list[tuple[float, bytes, list[Any]]] = []
    next_poll = 0.0
    while clock.now < seconds:
        while answers and answers[0][0] <= clock.now:
            _, flags, payload = heapq.heappop(answers)
            server.receive_data(fence(flags, payload))
        if clock.now >= next_poll:
            next_poll = clock.now + server.adapt.frame_interval
            if server.update_requested:
                job = server.begin_update()
                assert job is not None
                server.finish_update(job, server.encode_update(job, frame_for(job), None))
                data = server.data_to_send()
                seen, before = len(decoder.updates), len(decoder.fences)
                decoder.feed(data)
                sent.append((clock.now, data, [r for u in decoder.updates[seen:] for r in u]))
                when = link.answer_time(clock.now, len(data))
                for flags, payload in decoder.fences[before:]:
                    heapq.heappush(answers, (when, flags & 7, payload))
        clock.now = min([next_poll, *(a[0] for a in answers)])
    return sent


def _session(link: SlowLink, seconds: float) -> tuple[int, int, int | None]:
    """A viewer behind ``link`` watching a busy screen for ``seconds`` of simulated time.

    Returns (updates received, bytes received, the JPEG level the last update used).
    """
    rng = np.random.default_rng(7)
    levels: list[int | None] = []

    def frame_for(job: UpdateJob) -> np.ndarray:
        levels.append(job.jpeg)
        return _photo(rng)

    sent = _viewer_behind(link, seconds, W, H, ENCODINGS, frame_for)
    return len(sent), sum(len(data) for _, data, _ in sent), levels[-1] if levels else None


def test_a_throttled_viewer_gets_lower_quality_and_fewer_bytes() -> None:
    fast = _session(SlowLink(rate=50e6, rtt=0.002), seconds=8)
    slow = _session(SlowLink(rate=150_000, rtt=0.04), seconds=8)
    assert fast[2] == 6
    assert slow[2] is not None
    assert slow[2] < 6
    fast_per_update, slow_per_update = fast[1] / fast[0], slow[1] / slow[0]
    assert slow_per_update < 0.7 * fast_per_update
    assert slow[1] < fast[1]
    # What the slow viewer was sent is about what its link carried, not a growing backlog.
    assert slow[1] / 8 < 1.5 * 150_000


def test_a_lower_cap_restarts_the_h264_stream_smaller_without_a_lossless_resend() -> None:
    from tests.unit.rfb.test_video import JPEG_Q6, VIDEO, connect, play, poll
    from tests.unit.rfb.test_video import desktop as video_desktop

    server, decoder, clock = connect(c.ENC_TIGHT, JPEG_Q6, c.ENC_H264)
    poll(server, decoder, video_desktop(), full=True)
    play(server, decoder, clock, 40)
    before = play(server, decoder, clock, 20, start=40)
    seen = len(decoder.updates)
    server.adapt.quality_cap = 1  # what a slow link leads to
    after = play(server, decoder, clock, 20, start=60)
    rects = [r for update in decoder.updates[seen:] for r in update]
    assert next(r.kind for r in rects if r.encoding == c.ENC_H264) == "h264-reset"
    assert {(r.x, r.y, r.width, r.height) for r in rects} == {VIDEO}  # no tiles resent
    assert after < 0.7 * before


def test_a_congested_link_caps_the_h264_rate_at_a_share_of_its_throughput() -> None:
    clock = Clock()
    adapt = Adaptation(clock)
    rates: list[float | None] = []
    sender = Sender(adapt, clock, size=20_000)  # 600 kB/s wanted
    link = SlowLink(rate=100_000, rtt=0.03)
    for _ in range(40):
        sender.run(link, seconds=0.25)
        rates.append(adapt.video_rate)
    assert rates[0] is None  # no evidence yet: the first answers only measure
    first = next(r for r in rates if r is not None)
    share = limits.RFB_VIDEO_LINK_SHARE * 100_000
    assert 0.75 * share < first < 1.25 * share
    # A new cap is a new H.264 stream: it changes by steps, not with every measurement.
    changes = [(a, b) for a, b in itertools.pairwise(rates) if a != b]
    assert all(a is None or b is None or max(a, b) / min(a, b) >= 1.25 for a, b in changes)
    assert len(changes) <= 8


# --- the engine with an H.264 viewer ---------------------------------------------------


def test_an_h264_viewer_behind_a_slow_link_gets_a_stream_capped_to_it() -> None:
    from tests.unit.rfb.test_video import JPEG_Q6, VIDEO, busy_frame
    from tests.unit.rfb.test_video import desktop as video_desktop

    vw, vh = VIDEO[2], VIDEO[3]
    width, height = video_desktop().shape[1], video_desktop().shape[0]
    rate = 40_000
    caps: list[float | None] = []
    screen = video_desktop()
    x, y = VIDEO[0], VIDEO[1]

    def frame_for(job: UpdateJob) -> np.ndarray:
        caps.append(job.video_rate)
        screen[y : y + vh, x : x + vw] = busy_frame(len(caps))
        return screen

    encodings = (c.ENC_TIGHT, JPEG_Q6, c.ENC_H264, c.ENC_FENCE, c.ENC_CONTINUOUS_UPDATES)
    updates = _viewer_behind(SlowLink(rate=rate, rtt=0.04), 20, width, height, encodings, frame_for)
    # (when, bytes, with H.264) of each update
    sent = [
        (t, len(data), any(r.encoding == c.ENC_H264 for r in rects)) for t, data, rects in updates
    ]
    assert caps[0] is None
    capped = [cap for cap in caps if cap is not None]
    assert capped, "the congested link never capped the H.264 rate"
    assert capped[-1] <= limits.RFB_VIDEO_LINK_SHARE * rate * 1.25
    # Once capped, the region stays video and fits the link, with room for the rest, where
    # at its CRF alone it would take ~4x the link.
    late = [(n, video) for t, n, video in sent if t >= 10]
    assert sum(video for _, video in late) > 0.9 * len(late)
    assert sum(n for n, _ in late) / 10 < 0.85 * rate
