"""Which X keycode, with or without Shift, types a given keysym.

This is the pure half of key injection: it reads a snapshot of the X keyboard
mapping and answers questions; it never talks to the X server. The XTEST
adapter in :mod:`tasuke.desktop.x11` does the I/O around it.

Only the first group of the core mapping is used (column 0 = no modifier,
column 1 = Shift). Keysyms found only in other groups, or nowhere, are typed by
binding them to a spare keycode (see :meth:`Keymap.spare_keycodes`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "CAPS_LOCK",
    "KEYSYM_MAX",
    "NO_SYMBOL",
    "Keymap",
    "ShiftNeed",
    "Stroke",
    "case_pair",
    "normalize_keysym",
]

NO_SYMBOL = 0
CAPS_LOCK = 0xFFE5
"""XK_Caps_Lock (X11 keysymdef.h)."""
KEYSYM_MAX = 0x1FFFFFFF
"""Keysyms are 29-bit values (X11 protocol, section 'Keysyms'); larger ones are invalid."""

_UNICODE_KEYSYM_BASE = 0x01000000
_UNICODE_MAX = 0x10FFFF


class ShiftNeed(Enum):
    """What the Shift state must be when the key goes down."""

    ON = "on"
    OFF = "off"
    ANY = "any"


@dataclass(frozen=True, slots=True)
class Stroke:
    """A keycode to press and the Shift state it needs at that moment.

    ``caps``: a letter key (lower case, then its upper case) that the X server treats as
    one: Caps Lock picks its other level as Shift does, so with Caps Lock on the Shift
    state needed is the opposite. ``unlock``: a lower-case letter on a key the server does
    not treat as a letter key (Unicode keysyms): Caps Lock is not undone by Shift there,
    since clients upper-case the keysym themselves, so it must be off for the stroke.
    """

    keycode: int
    shift: ShiftNeed
    caps: bool = False
    unlock: bool = False


def normalize_keysym(keysym: int) -> int:
    """Return the canonical keysym, or NO_SYMBOL if ``keysym`` is not a valid one.

    Viewers may send Latin-1 characters as Unicode keysyms (0x01000000 + code
    point); X keymaps list them under their legacy value, which equals the code
    point for Latin-1 (X11 keysymdef.h), so both forms find the same key.
    """
    if keysym <= NO_SYMBOL or keysym > KEYSYM_MAX:
        return NO_SYMBOL
    if _UNICODE_KEYSYM_BASE <= keysym <= _UNICODE_KEYSYM_BASE + _UNICODE_MAX:
        code_point = keysym - _UNICODE_KEYSYM_BASE
        if 0x20 <= code_point <= 0x7E or 0xA0 <= code_point <= 0xFF:
            return code_point
    elif _UNICODE_KEYSYM_BASE + _UNICODE_MAX < keysym < 0x10000000:
        # Between the Unicode range and vendor keysyms nothing is assigned.
        return NO_SYMBOL
    return keysym


def _is_character(keysym: int) -> bool:
    """True for keysyms that produce text, where Shift changes the result."""
    return 0x20 <= keysym <= 0xFF or keysym >= _UNICODE_KEYSYM_BASE


def _keysym_char(keysym: int) -> str | None:
    if 0x20 <= keysym <= 0xFF:
        return chr(keysym)
    if _UNICODE_KEYSYM_BASE <= keysym <= _UNICODE_KEYSYM_BASE + _UNICODE_MAX:
        return chr(keysym - _UNICODE_KEYSYM_BASE)
    return None


def _char_keysym(char: str) -> int:
    code_point = ord(char)
    return normalize_keysym(code_point if code_point <= 0xFF else _UNICODE_KEYSYM_BASE + code_point)


def case_pair(keysym: int) -> tuple[int, int] | None:
    """(lower case, upper case) keysyms of a letter with two cases, else None.

    Covers Latin-1 and Unicode keysyms (each case one character, and each the other's
    counterpart: not 'ß', whose upper case is 'SS'); legacy keysyms of other scripts
    are not paired.
    """
    char = _keysym_char(normalize_keysym(keysym))
    if char is None:
        return None
    lower, upper = char.lower(), char.upper()
    if lower == upper or len(lower) != 1 or len(upper) != 1:
        return None
    if lower.upper() != upper or upper.lower() != lower:
        return None
    return _char_keysym(lower), _char_keysym(upper)


def _upper_latin1(keysym: int) -> int:
    """X's implicit upper case for a single-keysym letter row (X11 protocol, 'Keysyms')."""
    if ord("a") <= keysym <= ord("z") or (0xE0 <= keysym <= 0xFE and keysym != 0xF7):
        return keysym - 0x20
    return keysym


class Keymap:
    """A snapshot of the core keyboard mapping, indexed by keysym."""

    def __init__(
        self,
        min_keycode: int,
        rows: Sequence[Sequence[int]],
        shift_keycodes: Sequence[int],
        reserved: frozenset[int] = frozenset(),
    ) -> None:
        """Index ``rows`` (one per keycode from ``min_keycode``, as from GetKeyboardMapping).

        ``shift_keycodes`` are the keycodes bound to the Shift modifier (row 0
        of GetModifierMapping; zeros are ignored). ``reserved`` keycodes are our
        own temporary bindings: they count as spare whatever they hold now,
        because they may be rebound at any time.
        """
        self._columns: dict[int, tuple[int, int]] = {}
        self._where: dict[int, tuple[int, int]] = {}
        self._spare: list[int] = []
        for offset, row in enumerate(rows):
            keycode = min_keycode + offset
            col0 = row[0] if len(row) > 0 else NO_SYMBOL
            col1 = row[1] if len(row) > 1 else NO_SYMBOL
            if col1 == NO_SYMBOL:
                col1 = _upper_latin1(col0)
            self._columns[keycode] = (col0, col1)
            if keycode in reserved or not any(row):
                self._spare.append(keycode)
                continue
            for column, keysym in enumerate((col0, col1)):
                if keysym == NO_SYMBOL:
                    continue
                # Prefer an unshifted position, then the lowest keycode.
                best = self._where.get(keysym)
                if best is None or (column, keycode) < (best[1], best[0]):
                    self._where[keysym] = (keycode, column)
        self.shift_keycodes: tuple[int, ...] = tuple(k for k in shift_keycodes if k)

    def spare_keycodes(self) -> list[int]:
        """Keycodes with no keysym at all: free to bind temporarily."""
        return list(self._spare)

    def stroke(self, keysym: int) -> Stroke | None:
        """Return how to type ``keysym`` on this map, or None if it is not on it."""
        found = self._where.get(keysym)
        if found is None:
            return None
        keycode, column = found
        col0, col1 = self._columns[keycode]
        letter = col0 != col1 and case_pair(col0) == (col0, col1)
        if column == 1:
            return Stroke(keycode, ShiftNeed.ON, caps=letter)
        if _is_character(keysym) and col1 not in (NO_SYMBOL, col0):
            # A held Shift would type the other character ('1' would become '!').
            return Stroke(keycode, ShiftNeed.OFF, caps=letter)
        # Shift+Tab, Shift+arrow and friends must keep the viewer's Shift.
        return Stroke(keycode, ShiftNeed.ANY)

    def keycode_of(self, keysym: int) -> int | None:
        """The keycode that carries ``keysym`` in any position, for key releases."""
        found = self._where.get(keysym)
        return None if found is None else found[0]
