"""The pure keysym -> keycode planner, on hand-made keyboard maps."""

import pytest

from tasuke.desktop.keymap import (
    NO_SYMBOL,
    Keymap,
    ShiftNeed,
    Stroke,
    case_pair,
    normalize_keysym,
)

SHIFT_L, TAB, ISO_LEFT_TAB, RIGHT = 0xFFE1, 0xFF09, 0xFE20, 0xFF53

# keycode 10: '1' '!'; 11: 'a' 'A'; 12: Tab/ISO_Left_Tab; 13: empty; 14: Shift_L;
# 15: 'b' only (implicit upper case); 16: Right; 17: empty; 18: ';' ':'
ROWS = [
    (ord("1"), ord("!")),
    (ord("a"), ord("A")),
    (TAB, ISO_LEFT_TAB),
    (NO_SYMBOL, NO_SYMBOL),
    (SHIFT_L, NO_SYMBOL),
    (ord("b"),),
    (RIGHT, NO_SYMBOL, RIGHT),
    (),
    (ord(";"), ord(":")),
]


@pytest.fixture
def keymap() -> Keymap:
    return Keymap(10, ROWS, [14, 0])


def test_unshifted_character_needs_shift_released(keymap: Keymap) -> None:
    # With the viewer's Shift held, '1' must still type '1', not '!'.
    assert keymap.stroke(ord("1")) == Stroke(10, ShiftNeed.OFF)
    assert keymap.stroke(ord("a")) == Stroke(11, ShiftNeed.OFF, caps=True)


def test_shifted_characters_need_shift(keymap: Keymap) -> None:
    assert keymap.stroke(ord("!")) == Stroke(10, ShiftNeed.ON)
    assert keymap.stroke(ord("A")) == Stroke(11, ShiftNeed.ON, caps=True)
    assert keymap.stroke(ord(":")) == Stroke(18, ShiftNeed.ON)


def test_implicit_upper_case_of_a_single_letter_row(keymap: Keymap) -> None:
    assert keymap.stroke(ord("B")) == Stroke(15, ShiftNeed.ON, caps=True)
    assert keymap.stroke(ord("b")) == Stroke(15, ShiftNeed.OFF, caps=True)


def test_only_letter_keys_follow_caps_lock(keymap: Keymap) -> None:
    # Caps Lock turns a letter key ('a' over 'A'), never '1' over '!' nor a function key.
    assert keymap.stroke(ord("1")).caps is False  # type: ignore[union-attr]
    assert keymap.stroke(ord("!")).caps is False  # type: ignore[union-attr]
    assert keymap.stroke(TAB).caps is False  # type: ignore[union-attr]


def test_letters_with_two_cases_pair_up() -> None:
    assert case_pair(ord("a")) == case_pair(ord("A")) == (ord("a"), ord("A"))
    assert case_pair(0xE9) == (0xE9, 0xC9)  # é, É: Latin-1 keysyms
    assert case_pair(0x01000000 + 0xE9) == (0xE9, 0xC9)  # the same sent as Unicode
    cyrillic = (0x01000000 + 0x0430, 0x01000000 + 0x0410)  # а, А
    assert case_pair(cyrillic[1]) == cyrillic
    # No case, or no single-character counterpart: not a pair.
    for keysym in (ord("1"), ord("!"), 0xDF, 0x01000000 + 0x3042, TAB, 0):
        assert case_pair(keysym) is None, hex(keysym)


def test_function_keys_keep_the_viewers_shift(keymap: Keymap) -> None:
    # Shift+Tab and Shift+Right (select) must reach the application with Shift.
    assert keymap.stroke(TAB) == Stroke(12, ShiftNeed.ANY)
    assert keymap.stroke(RIGHT) == Stroke(16, ShiftNeed.ANY)
    assert keymap.stroke(SHIFT_L) == Stroke(14, ShiftNeed.ANY)


def test_missing_keysym_and_spare_keycodes(keymap: Keymap) -> None:
    assert keymap.stroke(0xFF2A) is None  # Zenkaku_Hankaku
    assert keymap.spare_keycodes() == [13, 17]
    assert keymap.shift_keycodes == (14,)


def test_reserved_keycodes_are_spare_whatever_they_hold() -> None:
    rows = [*ROWS[:3], (0xFF2A, 0xFF2A)]
    keymap = Keymap(10, rows, [], reserved=frozenset({13}))
    assert keymap.stroke(0xFF2A) is None
    assert keymap.spare_keycodes() == [13]


def test_unshifted_position_is_preferred() -> None:
    # '<' is Shift+comma on one key and unshifted on the ISO 102nd key.
    keymap = Keymap(10, [(ord(","), ord("<")), (ord("<"), ord(">"))], [])
    assert keymap.stroke(ord("<")) == Stroke(11, ShiftNeed.OFF)
    assert keymap.keycode_of(ord("<")) == 11
    assert keymap.keycode_of(ord("x")) is None


@pytest.mark.parametrize(
    ("keysym", "expected"),
    [
        (0, NO_SYMBOL),
        (-5, NO_SYMBOL),
        (0x20000000, NO_SYMBOL),
        (0xFFFFFFFF, NO_SYMBOL),
        (0x01110000, NO_SYMBOL),  # past the last Unicode code point
        (0x010000A5, 0xA5),  # Unicode yen -> legacy yen
        (0x01000041, 0x41),
        (0x010003A9, 0x010003A9),  # Omega stays a Unicode keysym
        (0xFF2A, 0xFF2A),
        (0x1008FF13, 0x1008FF13),  # vendor keysym (XF86AudioRaiseVolume)
    ],
)
def test_normalize_keysym(keysym: int, expected: int) -> None:
    assert normalize_keysym(keysym) == expected
