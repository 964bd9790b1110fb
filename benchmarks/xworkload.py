"""A small X client that draws one fixed benchmark workload on a display (not a test).

Run as ``python benchmarks/xworkload.py MODE ASSETS_DIR`` with DISPLAY set. Pictures come
pre-rendered from :mod:`benchmarks.assets` (``.npy`` files, B, G, R, X) and are uploaded once
into server-side pixmaps, so drawing a frame is one CopyArea and the client itself costs little.
It prints ``ready`` once the first frame is on screen.

Modes:
- ``idle``: a static document and a clock (HH:MM:SS) redrawn once a second.
- ``typing``: a text area; every key press (from XTEST, i.e. the VNC server) draws its letter.
- ``scroll``: a long antialiased text scrolled by 4 pixels per frame at 30 fps.
- ``video``: a 640x360 photographic region changing at 30 fps.
- ``full``: two whole-screen pictures alternating twice a second.
"""

import select
import sys
import time
from pathlib import Path

import numpy as np
from Xlib import XK, X
from Xlib import display as xdisplay

TEXT_AREA = (40, 160, 1200, 600)
"""x, y, width, height of the typing area; the benchmark client watches exactly this."""
CLOCK_AT = (1700, 40)
VIDEO_AT = (640, 360)
FPS = 30
_STRIP_BYTES = 200_000


def upload(disp: xdisplay.Display, drawable, gc, picture: np.ndarray, x: int = 0, y: int = 0):
    """PutImage a B, G, R, X picture in strips that fit the X request size."""
    height, width = picture.shape[:2]
    rows = max(1, _STRIP_BYTES // (width * 4))
    for top in range(0, height, rows):
        strip = np.ascontiguousarray(picture[top : top + rows])
        drawable.put_image(gc, x, y + top, width, strip.shape[0], X.ZPixmap, 24, 0, strip.tobytes())
    disp.sync()


def main() -> None:
    mode, assets = sys.argv[1], Path(sys.argv[2])
    disp = xdisplay.Display()
    screen = disp.screen()
    width, height = screen.width_in_pixels, screen.height_in_pixels
    win = screen.root.create_window(
        0, 0, width, height, 0, screen.root_depth,
        background_pixel=screen.white_pixel,
        override_redirect=True,
        event_mask=X.KeyPressMask | X.ExposureMask,
    )  # fmt: skip
    gc = win.create_gc(foreground=screen.black_pixel, background=screen.white_pixel)
    font = disp.open_font("fixed")
    if font is not None:
        gc.change(font=font)
    win.map()
    disp.sync()
    desktop = np.load(assets / "desktop.npy")

    def pixmap_of(picture: np.ndarray):
        pm = win.create_pixmap(picture.shape[1], picture.shape[0], screen.root_depth)
        upload(disp, pm, gc, picture)
        return pm

    background = pixmap_of(desktop)
    win.copy_area(gc, background, 0, 0, width, height, 0, 0)
    tx, ty, tw, th = TEXT_AREA
    if mode == "typing":
        clear = win.create_gc(foreground=screen.white_pixel)
        win.fill_rectangle(clear, tx, ty, tw, th)
    frames = []
    if mode == "video":
        frames = [pixmap_of(f) for f in np.load(assets / "video.npy")]
    elif mode == "full":
        frames = [background, pixmap_of(np.load(assets / "full.npy"))]
    elif mode == "scroll":
        frames = [pixmap_of(np.load(assets / "scroll.npy"))]
    win.set_input_focus(X.RevertToParent, X.CurrentTime)
    disp.sync()
    print("ready", flush=True)
    run(disp, win, gc, mode, frames)


def run(disp, win, gc, mode: str, frames: list) -> None:
    tx, ty, tw, th = TEXT_AREA
    cursor = [tx + 4, ty + 14]
    started = time.monotonic()
    tick = 0
    last_clock = ""
    while True:
        # Key presses are drawn as soon as they arrive, not at the next animation tick:
        # the latency measured is the VNC server's, not this client's.
        while disp.pending_events():
            event = disp.next_event()
            if event.type == X.KeyPress and mode == "typing":
                keysym = disp.keycode_to_keysym(event.detail, 0)
                text = XK.keysym_to_string(keysym) or "?"
                win.image_text(gc, cursor[0], cursor[1], text[:1].encode("latin-1", "replace"))
                cursor[0] += 6
                if cursor[0] > tx + tw - 10:
                    cursor[0] = tx + 4
                    cursor[1] = cursor[1] + 13 if cursor[1] < ty + th - 13 else ty + 14
                disp.flush()
        if time.monotonic() >= started + tick / FPS:
            frame(win, gc, mode, frames, tick, last_clock)
            last_clock = time.strftime("%H:%M:%S")
            disp.flush()
            tick += 1
        delay = started + tick / FPS - time.monotonic()
        select.select([disp.fileno()], [], [], max(0.0, delay))


def frame(win, gc, mode: str, frames: list, tick: int, last_clock: str) -> None:
    tx, ty, tw, th = TEXT_AREA
    now = time.strftime("%H:%M:%S")
    if now != last_clock:
        win.image_text(gc, CLOCK_AT[0], CLOCK_AT[1], now.encode())
    if mode == "video":
        vw, vh = VIDEO_AT
        win.copy_area(gc, frames[tick % len(frames)], 0, 0, vw, vh, 400, 300)
    elif mode == "scroll":
        offset = (tick * 4) % 4000
        win.copy_area(gc, frames[0], 0, offset, tw, th, tx, ty)
    elif mode == "full" and tick % (FPS // 2) == 0:
        src = frames[(tick // (FPS // 2)) % 2]
        win.copy_area(gc, src, 0, 0, 1920, 1080, 0, 0)


if __name__ == "__main__":
    main()
