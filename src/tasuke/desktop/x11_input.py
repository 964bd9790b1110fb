"""The X11 input sink: keys and pointer through the XTEST extension.

Key presses are planned by :class:`tasuke.desktop.keymap.Keymap`: each keysym
becomes a keycode plus the Shift state the key needs. Shift is adjusted only
around the key press itself and restored straight after, so nothing we add
can stay stuck; what the viewer holds stays held until the viewer lets go.

Keysyms missing from the keyboard map (Xvfb has no Zenkaku_Hankaku or yen)
are bound to a spare keycode with ChangeKeyboardMapping. Those bindings are
kept, reused least-recently-used first, and restored in :meth:`X11Input.close`:
undoing them right after the key release would race with clients that
translate the keycode lazily (Xlib refreshes its XKB map on the next lookup,
which may come after our restore) and they would see NoSymbol.
"""

import logging
from collections import OrderedDict
from typing import Any

from Xlib import X

from tasuke.desktop.keymap import (
    CAPS_LOCK,
    NO_SYMBOL,
    Keymap,
    ShiftNeed,
    Stroke,
    case_pair,
    normalize_keysym,
)
from tasuke.desktop.x11 import open_display, translated_errors
from tasuke.errors import DesktopError

__all__ = ["X11Input"]

_log = logging.getLogger(__name__)

_HELD_BUTTON_BITS = (0, 1, 2, 7)
"""RFB mask bits for buttons that stay down: left, middle, right, back (button 8)."""
_CLICK_BUTTON_BITS = (3, 4, 5, 6)
"""Wheel up/down/left/right (X buttons 4-7): each rising edge is one click."""


class X11Input:
    """An :class:`~tasuke.desktop.base.InputSink` that injects into one X display.

    Not thread-safe: use one instance from one thread at a time. It has its own
    X connection, so it may run in a different thread from the screen source.
    """

    def __init__(self, display: str) -> None:
        """Connect to ``display`` for XTEST input.

        Raises:
            ConfigError: the display cannot be opened or lacks XTEST.
        """
        self._x = open_display(display, extensions=("XTEST",))
        self._errors: list[Any] = []
        self._x.set_error_handler(lambda err, _request: self._errors.append(err))
        screen = self._x.screen()
        self._root = screen.root
        self._max_x = int(screen.width_in_pixels) - 1
        self._max_y = int(screen.height_in_pixels) - 1
        self._min_keycode = int(self._x.display.info.min_keycode)
        self._max_keycode = int(self._x.display.info.max_keycode)
        self._temporary: OrderedDict[int, int] = OrderedDict()  # keysym -> keycode, LRU first
        self._down: dict[int, int] = {}  # keysym the viewer holds -> keycode we pressed
        self._buttons = 0
        self._position: tuple[int, int] | None = None
        self._closed = False
        with translated_errors("keyboard map query"):
            self._keymap = self._load_keymap()

    # --- InputSink -----------------------------------------------------------

    def key(self, keysym: int, down: bool) -> None:
        """Press or release the key for ``keysym``.

        Invalid keysyms (0, above 29 bits) and keysyms that cannot be bound are
        ignored: a viewer's odd key must not end the session.

        Raises:
            DesktopError: the X server refused the input or went away.
        """
        self._ensure_open()
        canonical = normalize_keysym(keysym)
        if canonical == NO_SYMBOL:
            _log.debug("ignoring invalid keysym %#x", keysym)
            return
        with translated_errors("key injection"):
            self._refresh_if_remapped()
            if down:
                self._press(canonical)
            else:
                self._release(canonical)
            self._sync()

    def pointer(self, x: int, y: int, buttons: int) -> None:
        """Move to (x, y), clamped to the screen, then apply the RFB button mask.

        Raises:
            DesktopError: the X server refused the input or went away.
        """
        self._ensure_open()
        x = min(max(x, 0), self._max_x)
        y = min(max(y, 0), self._max_y)
        buttons &= 0xFF
        with translated_errors("pointer injection"):
            if (x, y) != self._position:
                self._fake(X.MotionNotify, 0, x=x, y=y)
                self._position = (x, y)
            changed = buttons ^ self._buttons
            for bit in range(8):
                mask = 1 << bit
                if not changed & mask:
                    continue
                pressed = bool(buttons & mask)
                if bit in _CLICK_BUTTON_BITS:
                    if pressed:
                        self._fake(X.ButtonPress, bit + 1)
                        self._fake(X.ButtonRelease, bit + 1)
                else:
                    self._fake(X.ButtonPress if pressed else X.ButtonRelease, bit + 1)
            self._buttons = buttons
            self._sync()

    def close(self) -> None:
        """Release every key and button still held, restore the keyboard map, disconnect.

        Best effort and idempotent: a display that is already gone is not an error here.
        """
        if self._closed:
            return
        self._closed = True
        try:
            for keycode in set(self._down.values()):
                self._fake(X.KeyRelease, keycode)
            for bit in _HELD_BUTTON_BITS:
                if self._buttons & (1 << bit):
                    self._fake(X.ButtonRelease, bit + 1)
            for keycode in self._temporary.values():
                self._x.change_keyboard_mapping(keycode, [(NO_SYMBOL,)])
            self._x.sync()
        except Exception as exc:  # any backend failure: we are closing anyway
            _log.debug("releasing X11 input: %s", exc)
        finally:
            self._down.clear()
            self._temporary.clear()
            self._buttons = 0
            try:
                self._x.close()
            except Exception as exc:
                _log.debug("closing X11 input: %s", exc)

    # --- keys ----------------------------------------------------------------

    def _press(self, keysym: int) -> None:
        stroke = self._stroke_for(keysym)
        if stroke is None:
            _log.info("no keycode free for keysym %#x; key ignored", keysym)
            return
        need = stroke.shift
        unlock: int | None = None
        if stroke.caps and need is not ShiftNeed.ANY and self._caps_lock_on():
            # The viewer sends the character it means: with the customer's Caps Lock on,
            # a letter key's other level is what Shift does not pick.
            need = ShiftNeed.OFF if need is ShiftNeed.ON else ShiftNeed.ON
        elif stroke.unlock and self._caps_lock_on():
            unlock = self._keymap.keycode_of(CAPS_LOCK)
        if unlock is not None:  # Caps Lock off for this stroke only
            self._fake(X.KeyPress, unlock)
            self._fake(X.KeyRelease, unlock)
        held_shift = [kc for kc in set(self._down.values()) if kc in self._keymap.shift_keycodes]
        added: list[int] = []
        lifted: list[int] = []
        if need is ShiftNeed.ON and not held_shift and self._keymap.shift_keycodes:
            added = [self._keymap.shift_keycodes[0]]
        elif need is ShiftNeed.OFF:
            lifted = held_shift
        for keycode in added:
            self._fake(X.KeyPress, keycode)
        for keycode in lifted:
            self._fake(X.KeyRelease, keycode)
        self._fake(X.KeyPress, stroke.keycode)
        # The KeyPress event already carries the modifier state clients use,
        # so the viewer's own state comes straight back.
        for keycode in added:
            self._fake(X.KeyRelease, keycode)
        for keycode in lifted:
            self._fake(X.KeyPress, keycode)
        if unlock is not None:
            self._fake(X.KeyPress, unlock)
            self._fake(X.KeyRelease, unlock)
        self._down[keysym] = stroke.keycode

    def _release(self, keysym: int) -> None:
        keycode = self._down.pop(keysym, None)
        if keycode is None:
            # Some viewers release with the other level's keysym ('1' for '!').
            keycode = self._keymap.keycode_of(keysym)
            pair = case_pair(keysym)
            if keycode is None and pair is not None:
                keycode = self._temporary.get(pair[0])  # a letter bound with both cases
            if keycode is None or keycode not in self._down.values():
                return
            for other in [ks for ks, kc in self._down.items() if kc == keycode]:
                del self._down[other]
        if keycode not in self._down.values():
            self._fake(X.KeyRelease, keycode)

    def _caps_lock_on(self) -> bool:
        return bool(self._root.query_pointer().mask & X.LockMask)

    def _stroke_for(self, keysym: int) -> Stroke | None:
        stroke = self._keymap.stroke(keysym)
        if stroke is not None:
            return stroke
        pair = case_pair(keysym)
        if pair is None:
            # Same keysym on both levels, so a Shift the viewer holds cannot change it.
            keycode = self._bind_temporary(keysym, (keysym, keysym))
            return None if keycode is None else Stroke(keycode, ShiftNeed.ANY)
        # A letter gets both its cases, as on a keyboard, so that Caps Lock acts on it as
        # on any letter key (and the Shift state picks the case).
        keycode = self._bind_temporary(pair[0], pair)
        if keycode is None:
            return None
        shift = ShiftNeed.ON if keysym == pair[1] else ShiftNeed.OFF
        if max(pair) <= 0xFF:  # Latin-1: the X server makes it a letter key
            return Stroke(keycode, shift, caps=True)
        return Stroke(keycode, shift, unlock=shift is ShiftNeed.OFF)

    def _bind_temporary(self, keysym: int, row: tuple[int, int]) -> int | None:
        keycode = self._temporary.get(keysym)
        if keycode is not None:
            self._temporary.move_to_end(keysym)
            return keycode
        in_use = set(self._temporary.values())
        free = [kc for kc in self._keymap.spare_keycodes() if kc not in in_use]
        if free:
            keycode = free[0]
        else:
            held = set(self._down.values())
            victim = next((ks for ks, kc in self._temporary.items() if kc not in held), None)
            if victim is None:
                return None
            keycode = self._temporary.pop(victim)
        self._x.change_keyboard_mapping(keycode, [row])
        self._temporary[keysym] = keycode
        return keycode

    def _load_keymap(self) -> Keymap:
        count = self._max_keycode - self._min_keycode + 1
        rows = self._x.get_keyboard_mapping(self._min_keycode, count)
        modifiers = self._x.get_modifier_mapping()
        return Keymap(
            self._min_keycode,
            [list(row) for row in rows],
            list(modifiers[X.ShiftMapIndex]),
            reserved=frozenset(self._temporary.values()),
        )

    def _refresh_if_remapped(self) -> None:
        """Reload the map after any MappingNotify (ours or another client's)."""
        stale = False
        while self._x.pending_events():
            event = self._x.next_event()
            if event.type == X.MappingNotify and event.request in (
                X.MappingKeyboard,
                X.MappingModifier,
            ):
                stale = True
        if stale:
            self._keymap = self._load_keymap()

    # --- plumbing ------------------------------------------------------------

    def _fake(self, event_type: int, detail: int, *, x: int = 0, y: int = 0) -> None:
        if event_type == X.MotionNotify:
            self._x.xtest_fake_input(event_type, detail, root=self._root, x=x, y=y)
        else:
            self._x.xtest_fake_input(event_type, detail)

    def _sync(self) -> None:
        """Wait for the server, so refused requests surface here and not later."""
        self._x.sync()
        if self._errors:
            errors, self._errors = self._errors, []
            raise DesktopError(f"X server refused input: {errors[0]}")

    def _ensure_open(self) -> None:
        if self._closed:
            raise DesktopError("X11 input used after close()")
