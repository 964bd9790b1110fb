"""``make bench``: the screen engine against x11vnc on the same Xvfb display (not a test).

For each workload drawn by :mod:`xworkload` on a 1920x1080 Xvfb, each server is started
fresh, one benchmark client (:mod:`rfbclient`) connects and asks for updates continuously, and
the run prints: updates/s, KiB/s, server CPU (% of one core, from /proc/PID/stat), peak RSS
(VmHWM), input-to-pixel latency (typing workload) and the picture error against a direct
screenshot once the workload is frozen. Then the encoder micro-benchmark and its profile.

Options: ``--seconds N`` per measurement, ``--only WORKLOAD``, ``--baseline GITREF`` to add
the engine as it was at GITREF (extracted with git archive) as a third server,
``--h264`` to add ``tasuke+h264`` (the same server, with a client that lists H.264 like noVNC
1.7 with WebCodecs), and ``--no-x11vnc``.
"""

import argparse
import asyncio
import contextlib
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mss
import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from tests.support.xvfb import xauth_free_env, xvfb  # noqa: E402

from assets import render_assets  # noqa: E402
from rfbclient import NOVNC_H264, NOVNC_LIKE, RFBClient  # noqa: E402
from xworkload import TEXT_AREA  # noqa: E402

_RFB_CLI_ONLY = (
    "import argparse, sys; from tasuke.rfb import cli; p = argparse.ArgumentParser(); "
    "cli.register(p.add_subparsers()); a = p.parse_args(); sys.exit(a.func(a))"
)
WORKLOADS = ("idle", "typing", "scroll", "video", "full")
_TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Result:
    server: str
    workload: str
    updates_s: float = 0.0
    kib_s: float = 0.0
    cpu: float = 0.0
    rss_mib: float = 0.0
    lat_median: float | None = None
    lat_p95: float | None = None
    error: float = 0.0
    wrong: float = 0.0
    kinds: str = ""
    failure: str = ""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _peak_rss_mib(pid: int) -> float:
    match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match.group(1)) / 1024 if match else 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def _process(argv: list[str], env: dict[str, str], ready: str) -> Iterator[tuple[int, str]]:
    """Start ``argv``; yield (pid, first stdout line matching ``ready``)."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while True:
            line = proc.stdout.readline().decode(errors="replace")
            if re.search(ready, line):
                break
            if not line or time.monotonic() > deadline:
                raise RuntimeError(f"{argv[0]} did not start: {line!r}")
        yield proc.pid, line
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@contextlib.contextmanager
def _server(kind: str, display: str, baseline: Path | None) -> Iterator[tuple[int, int]]:
    env = xauth_free_env(display)
    if kind == "x11vnc":
        port = _free_port()
        argv = [
            "x11vnc",
            "-display",
            display,
            "-rfbport",
            str(port),
            "-localhost",
            "-nopw",
            "-shared",
            "-forever",
            "-noxrecord",
            "-nowf",
        ]
        # x11vnc reports readiness on stdout as "PORT=N".
        with _process(argv, env, r"^PORT=") as (pid, _):
            yield pid, port
        return
    argv = [sys.executable, "-m", "tasuke.cli"]
    if kind == "tasuke@baseline":
        assert baseline is not None
        env["PYTHONPATH"] = str(baseline)
        # The old tree's tasuke.cli may import command groups that only exist in the work tree.
        argv = [sys.executable, "-c", _RFB_CLI_ONLY]
    argv += ["vnc", "--display", display, "--listen", "127.0.0.1:0"]
    with _process(argv, env, r"listening on") as (pid, line):
        yield pid, int(line.strip().rsplit(":", 1)[1])


async def _wait_quiet(client: RFBClient, quiet: float, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        last = client.updates[-1].at if client.updates else 0.0
        if time.monotonic() - last >= quiet:
            return
        await asyncio.sleep(0.05)


async def _typing_latency(client: RFBClient, seconds: float) -> list[float]:
    x, y, w, h = TEXT_AREA
    samples: list[float] = []
    end = time.monotonic() + seconds
    letter = 0
    while time.monotonic() < end:
        before = client.fb[y : y + h, x : x + w].copy()
        client.changed.clear()
        started = time.monotonic()
        client.key(ord("a") + letter % 26)
        letter += 1
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(2.0):
                while not np.array_equal(
                    before.shape, client.fb[y : y + h, x : x + w].shape
                ) or np.array_equal(before, client.fb[y : y + h, x : x + w]):
                    await client.changed.wait()
                    client.changed.clear()
                samples.append((time.monotonic() - started) * 1000)
        await asyncio.sleep(0.06)
    return samples


class _SlowReader:
    """A StreamReader that hands out at most ``rate`` bytes a second: a slow link.

    With a small socket buffer and StreamReader limit, the server's writes back up as they
    would behind a slow uplink, and the client answers fences only as fast as bytes arrive.
    """

    def __init__(self, inner: asyncio.StreamReader, rate: float) -> None:
        self.inner = inner
        self.rate = rate
        self.due = time.monotonic()

    async def readexactly(self, n: int) -> bytes:
        data = await self.inner.readexactly(n)
        now = time.monotonic()
        self.due = max(self.due, now) + n / self.rate
        if self.due - now > 0.002:
            await asyncio.sleep(self.due - now)
        return data


async def _measure(
    display: str,
    server_pid: int,
    port: int,
    workload: str,
    seconds: float,
    workload_pid: int,
    *,
    h264: bool = False,
    link: float | None = None,
) -> Result:
    limit = 1 << 22 if link is None else 1 << 16
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=limit)
    if link is not None:
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        reader = _SlowReader(reader, link * 1024)  # type: ignore[assignment]
    # As noVNC: continuous updates when the server offers them; "+h264" lists encoding 50.
    encodings = NOVNC_H264 if h264 else NOVNC_LIKE
    client = RFBClient(reader, writer, encodings=encodings, continuous=True)
    result = Result("", workload)
    await client.connect()
    task = asyncio.create_task(client.run())
    try:
        async with asyncio.timeout(20):
            await client.changed.wait()
        await asyncio.sleep(1.0)  # warm-up: the first full picture and its echoes
        cpu0, bytes0, n0, t0 = (
            _cpu_seconds(server_pid),
            client.bytes_in,
            len(client.updates),
            time.monotonic(),
        )
        if workload == "typing":
            latencies = await _typing_latency(client, seconds)
            if latencies:
                result.lat_median = statistics.median(latencies)
                result.lat_p95 = float(np.percentile(latencies, 95))
        else:
            await asyncio.sleep(seconds)
        elapsed = time.monotonic() - t0
        result.cpu = 100 * (_cpu_seconds(server_pid) - cpu0) / elapsed
        result.kib_s = (client.bytes_in - bytes0) / 1024 / elapsed
        result.updates_s = sum(1 for u in client.updates[n0:] if u.rects) / elapsed
        result.rss_mib = _peak_rss_mib(server_pid)
        os.kill(workload_pid, signal.SIGSTOP)  # freeze the picture, then let the client settle
        # Longer than the engine's wait before it refines a still photo (1 s).
        await _wait_quiet(client, 1.5, 8.0)
        with mss.MSS(display=display) as sct:
            shot = sct.grab(sct.monitors[0])
            truth = np.frombuffer(shot.raw, np.uint8).reshape(shot.height, shot.width, 4)
        if task.done():
            task.result()
        diff = np.abs(client.fb.astype(np.int16) - truth[..., 2::-1].astype(np.int16))
        result.error = float(diff.mean())
        result.wrong = float(100 * (diff.max(axis=2) > 16).mean())
        result.kinds = " ".join(f"{k}:{v}" for k, v in client.kinds.most_common(4))
    finally:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        writer.close()
    return result


def run_one(
    display: str,
    assets: Path,
    workload: str,
    server: str,
    seconds: float,
    baseline: Path | None,
    link: float | None = None,
) -> Result:
    env = xauth_free_env(display)
    argv = [sys.executable, str(HERE / "xworkload.py"), workload, str(assets)]
    kind, _, variant = server.partition("+")
    try:
        with (
            _process(argv, env, r"^ready") as (wpid, _),
            _server(kind, display, baseline) as (spid, port),
        ):
            result = asyncio.run(
                _measure(
                    display, spid, port, workload, seconds, wpid, h264=variant == "h264", link=link
                )
            )
    except Exception as exc:
        result = Result(server, workload, failure=f"{type(exc).__name__}: {exc}")
    result.server = server if link is None else f"{server} @{link:g} KiB/s"
    return result


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(results: list[Result]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| workload | server | updates/s | KiB/s | CPU % | peak RSS MiB | latency ms "
        "median / p95 | picture error (mean, % px off) | rectangles |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        if r.failure:
            lines.append(f"| {r.workload} | {r.server} | failed: {r.failure} ||||||||")
            continue
        lat = f"{_fmt(r.lat_median, '.1f')} / {_fmt(r.lat_p95, '.1f')}"
        lines.append(
            f"| {r.workload} | {r.server} | {r.updates_s:.1f} | {r.kib_s:.0f} | {r.cpu:.1f} | "
            f"{r.rss_mib:.0f} | {lat} | {r.error:.2f}, {r.wrong:.2f} | {r.kinds} |"
        )
    return "\n".join(lines)


def encode_bench(assets: Path, baseline: Path | None) -> str:
    """Run benchmarks/encode.py for the work tree (with a profile) and for the baseline."""
    out = []
    runs = [("tasuke", None)] + ([("tasuke@baseline", baseline)] if baseline else [])
    rows = [
        "| engine | encodings | full 1080p change ms | bytes | idle check ms | small change ms "
        "| small change, damage known, ms |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    profile = ""
    h264 = ""
    for name, path in runs:
        env = dict(os.environ)
        if path is not None:
            env["PYTHONPATH"] = str(path)
        argv = [sys.executable, str(HERE / "encode.py"), str(assets)]
        if path is None:
            argv.append("--profile")
        text = subprocess.run(argv, env=env, capture_output=True, text=True, check=True).stdout
        first, _, rest = text.partition("\n")
        profile = profile or rest
        for case, m in json.loads(first).items():
            if "error" in m:
                rows.append(f"| {name} | {case} | {m['error']} |||||")
                continue
            if "h264_ms" in m:
                h264 = f"H.264 encoding of one 640x360 video frame: {m['h264_ms']:.1f} ms"
                continue
            damaged = f"{m['damaged_ms']:.2f}" if "damaged_ms" in m else "-"
            rows.append(
                f"| {name} | {case} | {m['full_ms']:.1f} | {m['full_bytes']} | "
                f"{m['idle_ms']:.2f} | {m['small_ms']:.2f} | {damaged} |"
            )
    out.append("\n".join(rows))
    if h264:
        out.append(h264)
    out.append("Profile of whole-screen changes (tight+jpeg, work tree):\n```\n" + profile + "```")
    return "\n\n".join(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--only", choices=WORKLOADS, action="append")
    parser.add_argument("--baseline", metavar="GITREF")
    parser.add_argument("--no-x11vnc", action="store_true")
    parser.add_argument("--no-encode", action="store_true")
    parser.add_argument(
        "--h264", action="store_true", help="add tasuke+h264: a client that lists H.264 (50)"
    )
    parser.add_argument(
        "--link",
        type=float,
        metavar="KIBPS",
        help="throttle the benchmark client to this many KiB/s (a slow link)",
    )
    args = parser.parse_args()
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        "?",
    )
    print(f"# Screen benchmark {time.strftime('%Y-%m-%d %H:%M %Z')}")
    print(
        f"machine: {os.cpu_count()} cores, {cpu}; {platform.platform()}; Python "
        f"{platform.python_version()}; x11vnc {_x11vnc_version()}\n"
    )
    with tempfile.TemporaryDirectory(prefix="tasuke-bench-") as tmp:
        assets = Path(tmp) / "assets"
        render_assets(assets)
        baseline = None
        if args.baseline:
            baseline = Path(tmp) / "baseline"
            baseline.mkdir()
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", args.baseline, "src/tasuke"],
                check=True,
                capture_output=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(baseline)], input=archive, check=True)
            baseline = baseline / "src"
        servers = ["tasuke"] + (["tasuke+h264"] if args.h264 else [])
        servers += ["tasuke@baseline"] if baseline else []
        servers += [] if args.no_x11vnc else ["x11vnc"]
        results = []
        with xvfb(1920, 1080) as display:
            for workload in args.only or WORKLOADS:
                for server in servers:
                    results.append(
                        run_one(
                            display, assets, workload, server, args.seconds, baseline, args.link
                        )
                    )
                    print(f"  {workload} / {server} done", file=sys.stderr, flush=True)
        print(table(results))
        if not args.no_encode:
            print("\n" + encode_bench(assets, baseline))
    return 0


def _x11vnc_version() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["x11vnc", "-version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip().split()[-1] if out.stdout.strip() else "?"
    return "not installed"


if __name__ == "__main__":
    raise SystemExit(main())
