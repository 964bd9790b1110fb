"""H.264 video mode as the operator's browser sees it: noVNC 1.7 in headless Chromium.

No Tasuke server is involved: the test serves noVNC's own modules and a small page over HTTP,
and the page's noVNC connects over a WebSocket to our RFB engine (``serve_rfb``) running in
this process on a screen that plays a video. noVNC lists encoding 50 only when WebCodecs can
really decode H.264, so the test first checks that, then that the video region shown by
noVNC matches the picture within a tolerance, and that once the video settles the whole
canvas is pixel-exact (lossless tiles replaced the H.264 approximation).
"""

import asyncio
import base64
import contextlib
import functools
import http.server
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets
from playwright.sync_api import Browser, Page
from websockets.asyncio.server import ServerConnection, serve

from tasuke import limits
from tasuke.rfb import adapt
from tasuke.rfb.encoders import h264
from tasuke.rfb.session import serve_rfb

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

NOVNC = Path(__file__).resolve().parents[2] / "src/tasuke/server/static/vendor/novnc"
W, H = 512, 384
VIDEO = (128, 64, 256, 192)  # x, y, width, height
TOLERANCE = 4.0
"""Mean absolute error (0..255) allowed between the H.264 picture and the original."""

PAGE = """<!doctype html>
<meta charset="utf-8">
<title>H.264 test</title>
<div id="screen" style="width: 600px; height: 450px"></div>
<script type="module">
import RFB from "./novnc/core/rfb.js";
import { supportsWebCodecsH264Decode } from "./novnc/core/util/browser.js";
window.h264Supported = supportsWebCodecsH264Decode;
window.state = "connecting";
const rfb = new RFB(document.getElementById("screen"), "ws://127.0.0.1:PORT/");
rfb.addEventListener("connect", () => { window.state = "connected"; });
rfb.addEventListener("disconnect", () => { window.state = "disconnected"; });
window.pixels = () => {
  const canvas = document.querySelector("#screen canvas");
  const data = canvas.getContext("2d").getImageData(0, 0, WIDTH, HEIGHT).data;
  let text = "";
  for (let i = 0; i < data.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  }
  return btoa(text);
};
</script>
"""


def desktop() -> np.ndarray:
    img = np.zeros((H, W, 4), np.uint8)
    img[:] = (235, 225, 215, 255)
    img[320:336, 16:480:3] = (30, 30, 30, 255)  # a line of "text"
    return img


def video_frame(i: int) -> np.ndarray:
    _x, _y, w, h = VIDEO
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((h, w, 4), np.uint8)
    for ch, (fx, fy) in enumerate(((0.05, 0.03), (0.02, 0.06), (0.04, 0.01))):
        wave = np.sin(xx * fx + i * 0.2 * (ch + 1)) + np.cos(yy * fy - i * 0.15)
        out[..., ch] = np.clip(120 + 60 * wave, 0, 255).astype(np.uint8)
    out[..., 3] = 255
    return out


class VideoScreen:
    """A ScreenSource playing a video in one region: a new frame on every grab while
    ``playing``; then the last frame stays."""

    def __init__(self) -> None:
        self.frame = desktop()
        self.playing = True
        self.shown = 0
        self.recent: list[np.ndarray] = []
        """The last few frames grabbed (a decoder may show one a frame behind)."""
        self.lock = threading.Lock()
        """Held while grabbing, so that the test can stop the video between two grabs."""

    def size(self) -> tuple[int, int]:
        return W, H

    def grab(self) -> np.ndarray:
        with self.lock:
            if self.playing:
                x, y, w, h = VIDEO
                frame = self.frame.copy()
                frame[y : y + h, x : x + w] = video_frame(self.shown)
                self.frame, self.shown = frame, self.shown + 1
                self.recent = [*self.recent[-3:], frame]
            return self.frame

    def cursor(self) -> None:
        return None

    def close(self) -> None:
        pass


class WebSocketStream:
    """serve_rfb's ByteStream over one WebSocket (binary frames, as noVNC sends)."""

    def __init__(self, ws: ServerConnection) -> None:
        self.ws = ws

    async def receive(self) -> bytes:
        try:
            data = await self.ws.recv()
        except websockets.ConnectionClosed:
            return b""
        return data if isinstance(data, bytes) else data.encode()

    async def send(self, data: bytes) -> None:
        await self.ws.send(data)


@contextlib.contextmanager
def rfb_websocket(screen: VideoScreen) -> Iterator[int]:
    """Our RFB engine behind a WebSocket on a free loopback port, on a thread of its own."""
    loop = asyncio.new_event_loop()
    ready: asyncio.Future[int] = loop.create_future()
    stop = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        await serve_rfb(WebSocketStream(ws), screen, None, name="H.264 test")

    async def main() -> None:
        async with serve(handler, "127.0.0.1", 0) as server:
            ready.set_result(server.sockets[0].getsockname()[1])
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    port = asyncio.run_coroutine_threadsafe(asyncio.wait_for(ready, 10), loop).result(15)
    try:
        yield port
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(10)
        loop.close()


@contextlib.contextmanager
def static_site(folder: Path) -> Iterator[int]:
    """noVNC's modules and the test page over HTTP on a free loopback port."""
    (folder / "novnc").symlink_to(NOVNC)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def canvas(page: Page) -> np.ndarray:
    data = base64.b64decode(page.evaluate("window.pixels()"))
    return np.frombuffer(data, np.uint8).reshape(H, W, 4)[..., :3]


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def h264_page(browser: Browser, tmp_path: Path) -> Iterator[tuple[Page, list[str]]]:
    context = browser.new_context(viewport={"width": 800, "height": 600})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    yield page, errors
    context.close()


def test_novnc_shows_our_h264_video_then_the_exact_picture(
    h264_page: tuple[Page, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page, errors = h264_page
    frames: list[int] = []
    encode = h264.H264Encoder.encode

    def counting(self: h264.H264Encoder, pixels: np.ndarray) -> bytes:
        frames.append(1)
        return encode(self, pixels)

    monkeypatch.setattr(h264.H264Encoder, "encode", counting)
    # Keep the video on while the test looks at it; settling is switched on below.
    monkeypatch.setattr(limits, "RFB_VIDEO_SETTLE", 3600.0)
    # This test measures decoding fidelity at the viewer's quality. On a loaded machine the
    # link estimate may call loopback congested and lower the H.264 quality; with settling
    # off, nothing would sharpen it again. Adaptation has its own tests (test_adapt.py).
    monkeypatch.setattr(adapt.Adaptation, "congested", property(lambda self: False))
    screen = VideoScreen()
    with rfb_websocket(screen) as ws_port, static_site(tmp_path) as http_port:
        html = PAGE.replace("PORT", str(ws_port)).replace("WIDTH", str(W))
        (tmp_path / "index.html").write_text(html.replace("HEIGHT", str(H)))
        page.goto(f"http://127.0.0.1:{http_port}/index.html")
        page.wait_for_function("window.state !== 'connecting'", timeout=20_000)
        assert page.evaluate("window.h264Supported"), (
            "Chromium's WebCodecs cannot decode H.264 here, so noVNC does not ask for it"
        )
        assert page.evaluate("window.state") == "connected"
        wait_for(lambda: len(frames) >= 30, "30 H.264 frames sent to noVNC")
        x, y, w, h = VIDEO
        with screen.lock:  # not in the middle of a grab, which would make a newer frame
            screen.playing = False
            still = screen.frame[..., 2::-1].astype(int)
            # A decoder may hold the newest picture until the next one arrives; with the
            # video stopped, one of the last frames is what the viewer may keep showing.
            recent = [f[y : y + h, x : x + w, 2::-1].astype(int) for f in screen.recent]

        def video_close() -> bool:
            got = canvas(page)[y : y + h, x : x + w].astype(int)
            return min(float(np.abs(got - f).mean()) for f in recent) < TOLERANCE

        wait_for(video_close, "noVNC to show the H.264 picture within the tolerance")
        shown = canvas(page)
        assert not np.array_equal(shown[y : y + h, x : x + w], still[y : y + h, x : x + w]), (
            "the video region is exact, so it did not come as H.264"
        )
        assert np.array_equal(shown[320:336], still[320:336])  # text next to it stays exact
        monkeypatch.setattr(limits, "RFB_VIDEO_SETTLE", 0.5)
        wait_for(lambda: np.array_equal(canvas(page), still), "the settled screen, exact")
    assert not [e for e in errors if "h264" in e.lower() or "decode" in e.lower()], errors
