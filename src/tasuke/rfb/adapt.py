"""Adaptive quality: measure the link from fence round trips, and spend less on a slow one.

With ContinuousUpdates and Fence (see :mod:`tasuke.rfb.flow`) every continuous update is
followed by a Fence request that the viewer answers once it has taken in everything before
it. So each answer tells, for one update, how many bytes were delivered and how long that
took. From these, without I/O and with an injected clock:

- the *round trip*: the shortest delay from an update to its answer over the last
  :data:`_RTT_WINDOW` seconds (what the link costs with nothing queued);
- the *queueing delay*: a smoothed delay minus that round trip. On a link slower than what
  the engine sends, bytes wait in buffers and this grows; on a fast link it stays near 0;
- the *throughput*: bytes acknowledged per second while updates were back to back (the next
  update was sent before the previous one was answered, so the link never sat idle);
- the *link time* per update: on a busy link the time between two answers, otherwise the
  delay beyond the round trip. It is what one update costs the link at the current quality.

The link is *congested* when updates wait (queueing delay over :data:`_HIGH_DELAY`) or when
an update takes the link more than twice the time between updates that the engine aims
for (and more than :data:`_MIN_LINK_TIME`): the viewer then gets fewer frames than the
screen changes, each later than it could.

:class:`Adaptation` turns that into knobs, in the order the issue asks for:

1. a cap on the JPEG quality level (which also sets the H.264 CRF), one level at a time down
   to :data:`MIN_QUALITY`, and with it a cap on the H.264 rate: a share
   (:data:`~tasuke.limits.RFB_VIDEO_LINK_SHARE`) of the measured throughput, lowered again
   when a congested link measures much less (by :data:`_RATE_CHANGE`; each new cap is a new
   H.264 stream, so small changes are not worth one);
2. then the frame rate: the shortest time between updates grows up to
   :data:`MAX_FRAME_INTERVAL`.

When the queueing delay has stayed low for :data:`_RECOVER_AFTER`, the frame rate comes back
first, then the quality and the rate cap, one step at a time; the rate cap is lifted once it
has grown to :data:`_RATE_LIFT` times the throughput it came from (a link that carries that
much without congestion is no longer the slow link that was measured). With no throughput
measured, or a link that never congests, there is no rate cap: CRF alone, as on a fast link.
A still screen is made exact whatever the cap:
JPEG tiles are refined losslessly (or at the highest JPEG level for photos) and an H.264
region is sent again losslessly when it settles (see :mod:`tasuke.rfb.update`).
"""

from collections import deque
from collections.abc import Callable

from tasuke import limits

__all__ = ["MAX_FRAME_INTERVAL", "MIN_QUALITY", "Adaptation", "LinkEstimate"]

MIN_QUALITY = 1
"""The lowest JPEG quality level the cap goes to (noVNC's default is 6; 0 is unreadable)."""
MAX_FRAME_INTERVAL = 0.25
"""The longest time between updates the frame-rate step goes to (4 updates a second)."""
_HIGH_DELAY = 0.15
"""Queueing delay (seconds) above which the link counts as congested."""
_LOW_DELAY = 0.04
"""Queueing delay below which the link counts as keeping up."""
_MIN_LINK_TIME = 0.1
"""An update may always take the link this long (seconds) without counting as congestion:
below it, a viewer busy decoding on a loaded machine is not mistaken for a slow link."""
_MIN_SAMPLES = 5
"""Answers measured before the first step down (the first full picture is no evidence)."""
_STEP_EVERY = 0.3
"""At most one step down per this many seconds: each step must show its effect first."""
_RECOVER_AFTER = 2.0
"""Seconds of low delay before one step back up."""
_RTT_WINDOW = 10.0
"""The round trip is the least delay seen over this many seconds."""
_SMOOTH = 0.3
"""Weight of a new sample in the smoothed delay and throughput."""
_FRAME_STEP = 1.5
"""Factor by which the time between updates grows (or shrinks) per step."""
_RATE_CHANGE = 1.25
"""A congested link lowers the H.264 rate cap only when it measures this factor less."""
_RATE_STEP = 1.5
"""Factor by which the H.264 rate cap grows per step back up."""
_RATE_LIFT = 2.0
"""The rate cap is lifted once above this many times the throughput it was set from."""
_MIN_RATE = 8 * 1024
"""The lowest H.264 rate cap (bytes/s): below it, the frame rate is the knob left."""


class LinkEstimate:
    """Round trip, queueing delay and throughput of one viewer, from update answers.

    Call :meth:`sent` when an update (with its fence request) is queued for the viewer and
    :meth:`answered` when the viewer answers that fence; answers come in order.
    """

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._pending: deque[tuple[float, int]] = deque()
        self._delays: deque[tuple[float, float]] = deque()
        self._last_answer: float | None = None
        self.rtt: float | None = None
        """The least update-to-answer delay lately (seconds), or None before an answer."""
        self.delay = 0.0
        """Smoothed queueing delay (seconds): how long updates wait beyond the round trip."""
        self.throughput: float | None = None
        """Smoothed bytes per second delivered while the link was busy, or None."""
        self.link_time = 0.0
        """Smoothed seconds of link time per update (see the module docstring)."""
        self.samples = 0

    def sent(self, nbytes: int) -> None:
        """An update of ``nbytes`` (and a fence request after it) was queued now."""
        if len(self._pending) < limits.RFB_FENCES_IN_FLIGHT * 4:  # answers lost: bounded
            self._pending.append((self._clock(), nbytes))

    def forget_pending(self) -> None:
        """Updates sent so far will not be answered as measured (continuous updates off)."""
        self._pending.clear()
        self._last_answer = None

    def answered(self) -> None:
        """The viewer answered the oldest unanswered fence now."""
        if not self._pending:
            return
        now = self._clock()
        sent_at, nbytes = self._pending.popleft()
        delay = max(0.0, now - sent_at)
        self._delays.append((now, delay))
        while self._delays and now - self._delays[0][0] > _RTT_WINDOW:
            self._delays.popleft()
        self.rtt = min(d for _, d in self._delays)
        queued = delay - self.rtt
        self.delay = queued if self.samples == 0 else _mix(self.delay, queued)
        # Busy link: this update was sent before the previous answer came, so the time
        # between the two answers is the time the link took to deliver this update.
        last, self._last_answer = self._last_answer, now
        if last is not None and sent_at <= last:
            spent = now - last
            if spent > 0:
                rate = nbytes / spent
                self.throughput = rate if self.throughput is None else _mix(self.throughput, rate)
        else:
            spent = queued
        self.link_time = spent if self.samples == 0 else _mix(self.link_time, spent)
        self.samples += 1


def _mix(old: float, new: float) -> float:
    return (1 - _SMOOTH) * old + _SMOOTH * new


class Adaptation:
    """The quality cap and frame interval for one viewer, following :class:`LinkEstimate`."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.link = LinkEstimate(clock)
        self.quality_cap: int | None = None
        """JPEG quality levels above this are sent at this level (None: no cap)."""
        self._asked: int | None = None
        self.frame_interval = limits.RFB_POLL_INTERVAL
        """The shortest time between two updates (seconds)."""
        self.video_rate: float | None = None
        """Bytes per second an H.264 stream may use (None: no cap, the CRF alone)."""
        self._rate_from = 0.0
        self._last_step = -float("inf")
        self._good_since: float | None = None

    def sent(self, nbytes: int) -> None:
        """An update of ``nbytes`` was queued for the viewer, with a fence request after it."""
        self.link.sent(nbytes)

    def answered(self) -> None:
        """The viewer answered a fence that followed an update: re-plan."""
        self.link.answered()
        self._plan()

    def jpeg(self, level: int | None) -> int | None:
        """The viewer's JPEG quality level under the cap (None stays None: lossless)."""
        self._asked = level
        if level is None or self.quality_cap is None:
            return level
        return min(level, self.quality_cap)

    @property
    def degraded(self) -> bool:
        """True while quality or frame rate is held below what the viewer asked for."""
        return (
            self.quality_cap is not None
            or self.video_rate is not None
            or self.frame_interval > limits.RFB_POLL_INTERVAL
        )

    @property
    def congested(self) -> bool:
        """True when the link does not keep up with what is sent (module docstring)."""
        link = self.link
        if link.samples < _MIN_SAMPLES:
            return False
        budget = max(_MIN_LINK_TIME, 2 * self.frame_interval)
        return link.delay > _HIGH_DELAY or link.link_time > budget

    def _plan(self) -> None:
        now = self._clock()
        link = self.link
        if self.congested:
            self._good_since = None
            if now - self._last_step >= _STEP_EVERY:
                self._last_step = now
                self._down()
        elif link.delay < _LOW_DELAY and link.link_time < self.frame_interval:
            if self._good_since is None:
                self._good_since = now
            elif now - self._good_since >= _RECOVER_AFTER and self.degraded:
                self._good_since = now  # the next step up waits as long again
                self._last_step = now
                self._up()
        else:
            self._good_since = None

    def _down(self) -> None:
        throughput = self.link.throughput
        if throughput is not None:
            # Measured while congested, so this is what the link carries, not what was sent.
            rate = max(_MIN_RATE, limits.RFB_VIDEO_LINK_SHARE * throughput)
            if self.video_rate is None or rate * _RATE_CHANGE < self.video_rate:
                self.video_rate, self._rate_from = rate, throughput
        current = self.quality_cap if self.quality_cap is not None else self._asked
        if current is not None and current > MIN_QUALITY:
            self.quality_cap = current - 1
        else:
            self.frame_interval = min(MAX_FRAME_INTERVAL, self.frame_interval * _FRAME_STEP)

    def _up(self) -> None:
        if self.frame_interval > limits.RFB_POLL_INTERVAL:
            self.frame_interval = max(limits.RFB_POLL_INTERVAL, self.frame_interval / _FRAME_STEP)
            return
        if self.quality_cap is not None:
            self.quality_cap += 1
            if self._asked is None or self.quality_cap >= self._asked:
                self.quality_cap = None
        if self.video_rate is not None:
            self.video_rate *= _RATE_STEP
            if self.video_rate > _RATE_LIFT * self._rate_from:
                self.video_rate = None
