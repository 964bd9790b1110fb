"""X11Input injecting into the test window on a real Xvfb."""

import pytest
from Xlib import X
from Xlib import display as xdisplay

from tasuke.desktop.x11_input import X11Input
from tasuke.errors import DesktopError
from tests.support.testwindow import TestWindow
from tests.support.xtools import (
    held_buttons,
    held_keycodes,
    keysym_keycodes,
    wait_until,
    xdotool,
)
from tests.support.xvfb import xvfb

pytestmark = pytest.mark.x11

ESCAPE, SHIFT_L = 0xFF1B, 0xFFE1
JAPANESE_KEYS = {
    "Zenkaku_Hankaku": 0xFF2A,
    "Henkan": 0xFF23,
    "Muhenkan": 0xFF22,
    "Hiragana_Katakana": 0xFF27,
    "yen": 0x00A5,
    "backslash": 0x005C,
}


def tap(sink: X11Input, keysym: int) -> None:
    sink.key(keysym, True)
    sink.key(keysym, False)


def type_text(sink: X11Input, text: str) -> None:
    """Send text the way a viewer without a Shift key of its own would (vncdotool)."""
    for char in text:
        code = ord(char)
        tap(sink, code if code < 0x100 else 0x01000000 + code)


def clear_entry(sink: X11Input, win: TestWindow) -> int:
    mark = win.log.mark()
    tap(sink, ESCAPE)
    win.log.wait_text("", after=mark)
    return win.log.mark()


def shift_keycodes(display: str) -> set[int]:
    return set(keysym_keycodes(display, SHIFT_L)) | set(keysym_keycodes(display, 0xFFE2))


def test_typed_text_arrives_exactly(sink: X11Input, window: TestWindow) -> None:
    mark = clear_entry(sink, window)
    type_text(sink, "Hello, World! 123 :@_")
    window.log.wait_text("Hello, World! 123 :@_", after=mark)


def test_japanese_keys_arrive_as_their_keysyms(
    sink: X11Input, window: TestWindow, desktop: str
) -> None:
    # Xvfb's default map has no Zenkaku_Hankaku and no yen: they need a spare keycode.
    assert keysym_keycodes(desktop, 0xFF2A) == []
    assert keysym_keycodes(desktop, 0xA5) == []
    for name, keysym in JAPANESE_KEYS.items():
        mark = window.log.mark()
        tap(sink, keysym)
        got = window.log.wait_for(lambda e: e["event"] == "key", after=mark)
        assert got["keysym_num"] == keysym, name
    mark = clear_entry(sink, window)
    tap(sink, 0xA5)
    tap(sink, 0x5C)
    window.log.wait_text("¥\\", after=mark)


def test_shifted_characters_leave_no_shift_held(
    sink: X11Input, window: TestWindow, desktop: str
) -> None:
    mark = clear_entry(sink, window)
    sink.key(ord("!"), True)
    assert not held_keycodes(desktop) & shift_keycodes(desktop)
    sink.key(ord("!"), False)
    type_text(sink, "A:a1")
    window.log.wait_text("!A:a1", after=mark)
    assert not held_keycodes(desktop) & shift_keycodes(desktop)


def test_viewer_held_shift_is_respected(sink: X11Input, window: TestWindow, desktop: str) -> None:
    # A browser sends Shift_L, then the character it produced ('A', '!'), and
    # sometimes an unshifted keysym while Shift is still down ('1' from a numpad).
    mark = clear_entry(sink, window)
    sink.key(SHIFT_L, True)
    tap(sink, ord("A"))
    tap(sink, ord("!"))
    tap(sink, ord("1"))
    assert held_keycodes(desktop) & shift_keycodes(desktop), "the viewer's Shift is still down"
    sink.key(SHIFT_L, False)
    tap(sink, ord("b"))
    window.log.wait_text("A!1b", after=mark)
    assert not held_keycodes(desktop) & shift_keycodes(desktop)


def caps_lock_on(display: str) -> bool:
    conn = xdisplay.Display(display)
    try:
        return bool(conn.screen().root.query_pointer().mask & X.LockMask)
    finally:
        conn.close()


def test_letters_keep_their_case_when_the_customers_caps_lock_is_on(
    sink: X11Input, window: TestWindow, desktop: str
) -> None:
    # The viewer sends the character it means; the customer's Caps Lock must not turn it.
    xdotool(desktop, "key", "Caps_Lock")  # on the customer's own keyboard
    try:
        assert caps_lock_on(desktop)
        mark = clear_entry(sink, window)
        type_text(sink, "Hello, World! abc XYZ 123 éÉ αβγ ΑΒΓ жЖ")
        sink.key(SHIFT_L, True)  # a viewer's own Shift, as a browser sends it
        tap(sink, ord("Q"))
        sink.key(SHIFT_L, False)
        window.log.wait_text("Hello, World! abc XYZ 123 éÉ αβγ ΑΒΓ жЖQ", after=mark)
        assert caps_lock_on(desktop), "the customer's Caps Lock is left as it was"
        assert not held_keycodes(desktop) & shift_keycodes(desktop)
    finally:
        xdotool(desktop, "key", "Caps_Lock")
    assert not caps_lock_on(desktop)


def test_release_with_the_other_levels_keysym(
    sink: X11Input, window: TestWindow, desktop: str
) -> None:
    # Shift down, '!' down, Shift up, then the key comes up reported as '1'.
    mark = clear_entry(sink, window)
    sink.key(SHIFT_L, True)
    sink.key(ord("!"), True)
    sink.key(SHIFT_L, False)
    sink.key(ord("1"), False)
    window.log.wait_text("!", after=mark)
    assert held_keycodes(desktop) == set()
    # The same for a letter missing from the map: 'É' goes down, comes up as 'é'.
    sink.key(0xC9, True)
    sink.key(0xE9, False)
    window.log.wait_text("!É", after=mark)
    assert held_keycodes(desktop) == set()


def test_many_unmapped_keysyms_reuse_spare_keycodes(sink: X11Input, window: TestWindow) -> None:
    # More distinct unmapped keysyms than Xvfb has spare keycodes (19).
    greek = "".join(chr(c) for c in range(0x3B1, 0x3C9 + 1) if c != 0x3C2)
    assert len(greek) > 19
    mark = clear_entry(sink, window)
    type_text(sink, greek)
    window.log.wait_text(greek, after=mark)


def test_bad_keysyms_are_ignored_and_input_goes_on(
    sink: X11Input, window: TestWindow, desktop: str
) -> None:
    mark = clear_entry(sink, window)
    for bad in (0, -1, 0x20000000, 0xFFFFFFFF, 0x01110000, 1 << 40):
        sink.key(bad, True)
        sink.key(bad, False)
    sink.key(ord("z"), False)  # release of a key never pressed
    type_text(sink, "ok")
    window.log.wait_text("ok", after=mark)
    assert held_keycodes(desktop) == set()


@pytest.mark.parametrize(
    ("x", "y", "mask", "button"),
    [(100, 200, 1, 1), (900, 700, 4, 3), (512, 300, 2, 2), (40, 150, 8, 4), (700, 60, 16, 5)],
    ids=["left", "right", "middle", "wheel-up", "wheel-down"],
)
def test_clicks_arrive_where_sent(
    sink: X11Input, window: TestWindow, x: int, y: int, mask: int, button: int
) -> None:
    mark = window.log.mark()
    sink.pointer(x, y, 0)
    sink.pointer(x, y, mask)
    sink.pointer(x, y, 0)
    got = window.log.wait_for(lambda e: e["event"] == "click", after=mark)
    assert (got["x"], got["y"], got["button"]) == (x, y, button)
    assert window.log.since(mark, "click") == [got], "exactly one click"


def test_wheel_bit_is_a_click_not_a_held_button(
    sink: X11Input, window: TestWindow, desktop: str
) -> None:
    mark = window.log.mark()
    sink.pointer(300, 400, 8)
    got = window.log.wait_for(lambda e: e["event"] == "click", after=mark)
    assert got["button"] == 4
    assert held_buttons(desktop) == 0
    sink.pointer(300, 400, 0)


def test_coordinates_are_clamped_to_the_screen(sink: X11Input, window: TestWindow) -> None:
    mark = window.log.mark()
    sink.pointer(5000, -20, 1)
    sink.pointer(5000, -20, 0)
    got = window.log.wait_for(lambda e: e["event"] == "click", after=mark)
    assert (got["x"], got["y"]) == (1023, 0)


def test_drag_holds_the_button_until_released(sink: X11Input, desktop: str) -> None:
    sink.pointer(10, 10, 1)
    sink.pointer(60, 60, 1)
    assert held_buttons(desktop) != 0
    sink.pointer(60, 60, 0)
    assert held_buttons(desktop) == 0


def test_close_releases_everything_and_restores_the_map(desktop: str, window: TestWindow) -> None:
    sink = X11Input(desktop)
    sink.key(SHIFT_L, True)
    sink.key(0xFF2A, True)  # bound to a spare keycode
    sink.pointer(500, 500, 1 | 4)
    assert held_keycodes(desktop)
    assert held_buttons(desktop)
    assert keysym_keycodes(desktop, 0xFF2A) != []
    sink.close()
    assert held_keycodes(desktop) == set()
    assert held_buttons(desktop) == 0
    assert wait_until(lambda: keysym_keycodes(desktop, 0xFF2A) == [], what="map restored")
    with pytest.raises(DesktopError, match="after close"):
        sink.key(ord("a"), True)
    sink.close()  # idempotent


def test_display_gone_is_a_desktop_error() -> None:
    with xvfb(320, 240) as display:
        sink = X11Input(display)
        tap(sink, ord("a"))
    with pytest.raises(DesktopError):
        sink.key(ord("a"), True)
    with pytest.raises(DesktopError):
        sink.pointer(1, 1, 0)
    sink.close()
