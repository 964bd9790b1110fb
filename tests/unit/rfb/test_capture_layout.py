"""Monitors plugged in or removed mid-session: the capture tells the viewer the new layout."""

import numpy as np

from tasuke.desktop.base import Monitors
from tasuke.errors import ConfigError
from tasuke.rfb.capture import Capture, MonitorChoice
from tasuke.rfb.tiles import Rect
from tests.unit.rfb.fakes import RegionScreen

Box = tuple[int, int, int, int]
LEFT, RIGHT, EXTRA = (0, 0, 64, 48), (64, 0, 64, 48), (32, 0, 32, 48)


class PluggableScreen(RegionScreen):
    """A 128x48 desktop whose monitors can change, following its monitor as X11Screen does."""

    def __init__(self, monitors: list[Box]) -> None:
        self.desktop = np.zeros((48, 128, 4), np.uint8)
        self.desktop[:, 64:] = 200  # the right half is brighter
        super().__init__(self.desktop)
        self.listed = list(monitors)
        self.area: Box = (0, 0, 128, 48)

    def monitors(self) -> list[Box]:
        return list(self.listed)

    def captured_area(self) -> Box:
        return self.area

    def select_monitor(self, index: int) -> None:
        if not 0 <= index <= len(self.listed):
            raise ConfigError(f"no monitor {index}")
        self.area = self.listed[index - 1] if index else (0, 0, 128, 48)
        self._crop()

    def replug(self, monitors: list[Box]) -> None:
        """The layout changes: keep the same area if it is still a monitor, else show all."""
        self.listed = list(monitors)
        if self.area not in self.listed:
            self.area = (0, 0, 128, 48)
        self._crop()

    def _crop(self) -> None:
        x, y, w, h = self.area
        self.frame = self.desktop[y : y + h, x : x + w].copy()
        self.drawn = None  # the next capture must be whole


def clock() -> float:
    return 0.0


def test_the_fake_lists_monitors() -> None:
    assert isinstance(PluggableScreen([LEFT]), Monitors)


def test_a_monitor_plugged_in_is_a_new_screen() -> None:
    source, choice = PluggableScreen([LEFT, RIGHT]), MonitorChoice(0)
    capture = Capture(source, clock, choice)
    capture.take(whole=True, forced=True, refresh=False)
    assert capture.screens == (Rect(*LEFT), Rect(*RIGHT))
    source.replug([LEFT, RIGHT, EXTRA])
    shot = capture.take(whole=True, forced=False, refresh=False)
    assert shot is not None
    assert shot.damage is None
    assert capture.screens == (Rect(*LEFT), Rect(*RIGHT), Rect(*EXTRA))
    assert choice.monitors == [LEFT, RIGHT, EXTRA]
    assert choice.selected == 0


def test_the_monitor_shown_keeps_being_shown_under_its_new_number() -> None:
    source, choice = PluggableScreen([LEFT, RIGHT]), MonitorChoice(2)
    capture = Capture(source, clock, choice)
    capture.take(whole=True, forced=True, refresh=False)
    assert (choice.selected, capture.origin) == (2, (64, 0))
    source.replug([RIGHT])
    shot = capture.take(whole=True, forced=False, refresh=False)
    assert shot is not None
    assert shot.frame.shape == (48, 64, 4)
    assert (shot.frame[..., :3] == 200).all()
    assert (choice.selected, choice.monitors, capture.origin) == (1, [RIGHT], (64, 0))


def test_when_the_monitor_shown_is_removed_the_whole_desktop_is_shown() -> None:
    source, choice = PluggableScreen([LEFT, RIGHT]), MonitorChoice(2)
    capture = Capture(source, clock, choice)
    capture.take(whole=True, forced=True, refresh=False)
    source.replug([LEFT])
    shot = capture.take(whole=True, forced=False, refresh=False)
    assert shot is not None
    assert shot.frame.shape == (48, 128, 4)
    assert (choice.selected, choice.monitors, capture.origin) == (0, [LEFT], (0, 0))
    # Only the monitor left is a screen: no monitor covers the right half any more.
    assert capture.screens == (Rect(*LEFT),)


class NumberingScreen(PluggableScreen):
    """A source that says which monitor it shows, as X11Screen does."""

    def __init__(self, monitors: list[Box]) -> None:
        super().__init__(monitors)
        self.index = 0

    def select_monitor(self, index: int) -> None:
        super().select_monitor(index)
        self.index = index

    def replug(self, monitors: list[Box]) -> None:
        shown = self.area
        super().replug(monitors)
        self.index = self.listed.index(shown) + 1 if shown in self.listed else 0

    def selected_monitor(self) -> int:
        return self.index


def test_a_monitor_as_large_as_the_desktop_is_not_taken_for_the_one_shown() -> None:
    # Monitor 2 is removed and the one left covers the whole desktop: the source shows all
    # (0), and the console is told 0, not "monitor 1" for the same picture.
    whole = (0, 0, 128, 48)
    source, choice = NumberingScreen([LEFT, RIGHT]), MonitorChoice(2)
    capture = Capture(source, clock, choice)
    capture.take(whole=True, forced=True, refresh=False)
    assert choice.selected == 2
    source.replug([whole])
    capture.take(whole=True, forced=False, refresh=False)
    assert (choice.selected, choice.monitors) == (0, [whole])
