"""Pictures for the benchmark workloads, rendered once per run (deterministic).

Everything is B, G, R, X uint8, the layout the capture delivers. Text is antialiased DejaVu,
as on a real desktop, so text tiles have tens of colours rather than two.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["desktop_frame", "photo", "render_assets"]

W, H = 1920, 1080
_FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
_WORDS = tuple(
    [
        "remote",
        "support",
        "session",
        "operator",
        "customer",
        "screen",
        "encoder",
        "tile",
        "palette",
        "zlib",
        "jpeg",
        "latency",
        "bandwidth",
        "keyboard",
        "pointer",
        "consent",
        "window",
        "desktop",
        "viewer",
        "frame",
        "update",
        "the",
        "of",
        "and",
        "to",
        "a",
        "in",
        "is",
        "that",
        "for",
        "it",
        "as",
        "with",
        "was",
        "on",
        "be",
        "by",
        "this",
    ]
)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.truetype(_FONT, size)
    except OSError:
        return ImageFont.load_default()


def _text_lines(rng: np.random.Generator, n: int) -> list[str]:
    return [" ".join(rng.choice(_WORDS, size=int(rng.integers(6, 16)))) for _ in range(n)]


def photo(width: int, height: int, phase: float = 0.0, seed: int = 3) -> np.ndarray:
    """A smooth, noisy, many-coloured picture (B, G, R, X) standing in for a photo or video."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    out = np.empty((height, width, 4), np.uint8)
    for ch, (fx, fy) in enumerate(((0.011, 0.017), (0.007, 0.013), (0.019, 0.005))):
        wave = np.sin(xx * fx + phase * (ch + 1)) + np.cos(yy * fy - phase * 0.7)
        blob = np.exp(-(((xx - width * (0.5 + 0.3 * np.sin(phase))) ** 2) + (yy - height / 2) ** 2)
                      / (2 * (min(width, height) / 4) ** 2))  # fmt: skip
        value = 90 + 60 * wave + 80 * blob + rng.normal(0, 6, (height, width))
        out[..., ch] = np.clip(value, 0, 255).astype(np.uint8)
    out[..., 3] = 255
    return out


def _to_bgrx(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"))
    out = np.empty((*rgb.shape[:2], 4), np.uint8)
    out[..., :3] = rgb[..., ::-1]
    out[..., 3] = 255
    return out


def desktop_frame(seed: int = 1, photo_box: tuple[int, int, int, int] | None = None) -> np.ndarray:
    """A 1920x1080 desktop: panel, window chrome, a text document, icons and a photo."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (W, H), (58, 110, 165))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, W, 28), fill=(40, 40, 46))
    small, body = _font(13), _font(15)
    for i, label in enumerate(("Files", "Edit", "View", "Go", "Help")):
        draw.text((12 + i * 70, 6), label, fill=(230, 230, 230), font=small)
    draw.rectangle((20, 60, 1300, 1040), fill=(250, 250, 250), outline=(120, 120, 120))
    draw.rectangle((20, 60, 1300, 92), fill=(225, 228, 234))
    draw.text((34, 68), f"Document {seed} — notes.txt", fill=(20, 20, 20), font=body)
    for row, line in enumerate(_text_lines(rng, 50)):
        draw.text((40, 104 + row * 19), line, fill=(25, 25, 25), font=body)
    for i in range(8):
        y = 80 + i * 110
        colour = tuple(int(v) for v in rng.integers(40, 220, 3))
        draw.rounded_rectangle((1800, y, 1880, y + 80), 12, fill=colour)
        draw.text((1804, y + 84), f"icon {i}", fill=(255, 255, 255), font=small)
    out = _to_bgrx(image)
    x, y, w, h = photo_box or (1340, 620, 420, 300)
    out[y : y + h, x : x + w] = photo(w, h, phase=seed)
    return out


def _scroll_text(width: int = 1200, height: int = 4600) -> np.ndarray:
    rng = np.random.default_rng(7)
    image = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    body = _font(15)
    for row, line in enumerate(_text_lines(rng, height // 20)):
        draw.text((10, 4 + row * 20), f"{row:4d}  {line}", fill=(30, 30, 30), font=body)
    return _to_bgrx(image)


def render_assets(folder: Path) -> None:
    """Write desktop.npy, full.npy, scroll.npy and video.npy into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "desktop.npy", desktop_frame(1))
    np.save(folder / "full.npy", desktop_frame(2, photo_box=(300, 200, 900, 700)))
    np.save(folder / "scroll.npy", _scroll_text())
    video = np.stack([photo(640, 360, phase=i / 6) for i in range(30)])
    np.save(folder / "video.npy", video)
