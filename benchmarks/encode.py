"""Micro-benchmark: how long the RFB core takes to encode 1080p updates (not a test).

``python benchmarks/encode.py ASSETS_DIR [--profile]`` prints one JSON object with median
milliseconds per case, then (with --profile) the top of a cProfile of the full-change case.
It drives :class:`tasuke.rfb.server.RFBServer` through its sans-I/O interface only, so the same
script measures an older checkout put first on PYTHONPATH.
"""

import cProfile
import inspect
import io
import json
import pstats
import statistics
import struct
import sys
import time
from pathlib import Path

import numpy as np

from tasuke.rfb.server import RFBServer

NOVNC_ENCODINGS = (1, 7, 16, 0, -32 + 6, -256 + 2, -223, -224, -239)
CASES = {
    "tight+jpeg (noVNC)": NOVNC_ENCODINGS,
    "tight lossless": (7, 0),
    "zrle": (16, 0),
    "raw": (0,),
}


def _connect(encodings: tuple[int, ...]) -> RFBServer:
    server = RFBServer(1920, 1080, name="bench")
    server.receive_data(b"RFB 003.008\n\x01\x01")
    server.receive_data(struct.pack(f">BxH{len(encodings)}i", 2, len(encodings), *encodings))
    server.data_to_send()
    return server


def _request(server: RFBServer, *, incremental: bool) -> None:
    server.receive_data(struct.pack(">BBHHHH", 3, int(incremental), 0, 0, 1920, 1080))


def _update(server: RFBServer, frame: np.ndarray) -> None:
    """One update of a whole frame as the X11 capture hands it to the core: its padding
    bytes cleared while copying into the capture's canvas (``clean``), where the core
    takes that; else as a plain frame."""
    if "clean" not in inspect.signature(server.encode_update).parameters:
        server.update(frame)
        return
    job = server.begin_update()
    if job is not None:
        server.finish_update(job, server.encode_update(job, frame, None, None, clean=True))


def measure(encodings: tuple[int, ...], a: np.ndarray, b: np.ndarray, rounds: int = 8) -> dict:
    """Median ms of: a whole-screen change, an idle check, and one small change."""
    server = _connect(encodings)
    _request(server, incremental=False)
    server.update(a)
    server.data_to_send()
    full, sizes = [], []
    for i in range(rounds):
        frame = b if i % 2 == 0 else a
        _request(server, incremental=True)
        started = time.perf_counter()
        _update(server, frame)
        full.append(time.perf_counter() - started)
        sizes.append(len(server.data_to_send()))
    last = a if rounds % 2 == 0 else b
    idle = []
    for _ in range(rounds):
        _request(server, incremental=True)
        started = time.perf_counter()
        server.update(last)  # may send a lossless refresh of JPEG tiles once still
        idle.append(time.perf_counter() - started)
        server.data_to_send()
    small = []
    for i in range(rounds):
        frame = last.copy()
        frame[500:520, 300 + i * 8 : 306 + i * 8, :3] = 0
        started = time.perf_counter()
        server.update(frame)
        small.append(time.perf_counter() - started)
        server.data_to_send()
        _request(server, incremental=True)
    result = {
        "full_ms": statistics.median(full) * 1000,
        "full_bytes": int(statistics.median(sizes)),
        "idle_ms": statistics.median(idle) * 1000,
        "small_ms": statistics.median(small) * 1000,
    }
    if "damage" in inspect.signature(server.encode_update).parameters:
        # From the frame the client now holds: outside the damage it must not differ.
        result["damaged_ms"] = _small_with_damage(server, frame, rounds) * 1000
    return result


def _small_with_damage(server: RFBServer, last: np.ndarray, rounds: int) -> float:
    """Median seconds of one small change when the capture says which tiles were drawn."""
    from tasuke.rfb.tiles import Rect, tile_mask

    times = []
    frame = last.copy()
    for i in range(rounds):
        x = 300 + i * 8
        frame[600:620, x : x + 6, :3] = 0
        _request(server, incremental=True)
        started = time.perf_counter()
        job = server.begin_update()
        assert job is not None
        damage = tile_mask([Rect(x, 600, 6, 20)], 1920, 1080)
        server.finish_update(job, server.encode_update(job, frame, None, damage))
        times.append(time.perf_counter() - started)
        server.data_to_send()
    return statistics.median(times)


def h264_frame_ms(rounds: int = 30) -> float | None:
    """Median ms to encode one 640x360 photographic frame as H.264 (None: not built)."""
    try:
        from tasuke.rfb.encoders.h264 import H264Encoder
    except ImportError:
        return None
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from assets import photo

    frames = [photo(640, 360, phase=i / 6) for i in range(rounds)]
    encoder = H264Encoder(640, 360, quality=6)
    times = []
    for frame in frames:
        started = time.perf_counter()
        encoder.encode(frame)
        times.append(time.perf_counter() - started)
    return statistics.median(times[1:]) * 1000  # the first is the IDR picture


def profile(a: np.ndarray, b: np.ndarray) -> str:
    """cProfile of whole-screen changes with the noVNC encodings, top 18 by own time."""
    server = _connect(NOVNC_ENCODINGS)
    _request(server, incremental=False)
    server.update(a)
    server.data_to_send()
    prof = cProfile.Profile()
    for i in range(6):
        _request(server, incremental=True)
        prof.enable()
        _update(server, b if i % 2 == 0 else a)
        prof.disable()
        server.data_to_send()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(18)
    return out.getvalue()


def _cleared(frame: np.ndarray) -> np.ndarray:
    """The frame with its padding bytes zero, as the capture's canvas holds it."""
    out = frame.copy()
    out[..., 3] = 0
    return out


def main() -> None:
    assets = Path(sys.argv[1])
    a, b = (_cleared(np.load(assets / name)) for name in ("desktop.npy", "full.npy"))
    results = {}
    for name, encodings in CASES.items():
        try:
            results[name] = measure(encodings, a, b)
        except Exception as exc:  # an older core may lack an encoding: report, do not stop
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
    h264 = h264_frame_ms()
    if h264 is not None:
        results["h264 640x360 frame"] = {"h264_ms": h264}
    print(json.dumps(results))
    if "--profile" in sys.argv:
        print(profile(a, b))


if __name__ == "__main__":
    main()
