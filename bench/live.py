"""A live shard: how many events/s `birbctl tail -f jsonl > file` keeps up with, against a
discord.py client and a hikari bot on the same stream, at the same time.

One emulator (`birbctl serve --event-rate R`, its own process) sends every session of
shard 0 the same synthetic events at R/s. Three consumers connect to it at once, each its
own process, every intent, the same compression: `birbctl tail -f jsonl` with stdout to
a file (with or without PYTHONUNBUFFERED=1), discord.py's Client and hikari's GatewayBot
(bench/live_clients.py). After a warm-up (every one READY), each counts the dispatches
it handled in the same window of wall-clock time: tail, the `op: 0` lines in its file
whose receive time `ts` falls in the window (not READY or GUILD_CREATE: the
connection's start, not the stream); the libraries, what their receive path
handed over in the window. All share two cores with the emulator: a consumer that needs
more CPU per event falls behind first, which is the comparison.

Run: python bench/live.py [--rate 5000] [--seconds 10] [--compress zlib-stream]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))

from emulator_process import start_emulator, stop_emulator, stop_process
from live_clients import HANDSHAKE

HERE = Path(__file__).resolve().parent
TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwNQ.GhIjKl.bEnChMaRkToKeN_not_a_real_one_012345"
WARMUP_S = 6.0


def count_tail(path: Path, t0: float, t1: float) -> tuple[int, int]:
    """(dispatches received in [t0, t1], all dispatches) in a `tail -f jsonl` file."""
    inside = total = 0
    with path.open("rb") as fh:
        for line in fh:
            if b'"op":0,' not in line:
                continue
            try:
                record = orjson.loads(line)
                ts = record["ts"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue  # a line cut short when the process stopped
            if record.get("t") in HANDSHAKE:
                continue
            total += 1
            inside += t0 <= ts <= t1
    return inside, total


def run_live(
    rate: float, seconds: float, compress: str = "zlib-stream", unbuffered: bool = False
) -> dict[str, float]:
    """Events/s each consumer handled in the same window (keys: birbctl, discordpy,
    hikari; `<name>_error` when one failed)."""
    emu, url = start_emulator("--event-rate", f"{rate:g}", "--seed", "1")
    procs: dict[str, subprocess.Popen[str]] = {}
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "tail.jsonl"
        t0 = time.time() + WARMUP_S
        t1 = t0 + seconds
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        if unbuffered:
            env["PYTHONUNBUFFERED"] = "1"
        try:
            with out.open("wb") as fh:
                procs["birbctl"] = subprocess.Popen(
                    [
                        sys.executable, "-m", "birbctl", "tail", "--gateway-url", url,
                        "--intents", "all", "--compress", compress, "-f", "jsonl",
                        "--duration", f"{WARMUP_S + seconds + 1:g}",
                    ],
                    stdout=fh, stderr=subprocess.PIPE, text=True,
                    env={**env, "DISCORD_TOKEN": TOKEN, "XDG_RUNTIME_DIR": tmp},
                )  # fmt: skip
            for client in ("discordpy", "hikari"):
                procs[client] = subprocess.Popen(
                    [
                        sys.executable, str(HERE / "live_clients.py"), client, url, compress,
                        repr(t0), repr(t1),
                    ],
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                )  # fmt: skip
            deadline = t1 + 40
            for name, proc in procs.items():
                try:
                    stdout, _err = proc.communicate(timeout=max(1.0, deadline - time.time()))
                except subprocess.TimeoutExpired:
                    stop_process(proc)
                    results[f"{name}_error"] = 1
                    continue
                if name == "birbctl":
                    if proc.returncode not in (0, None):
                        results["birbctl_error"] = proc.returncode
                    continue
                got = json.loads(stdout.strip().splitlines()[-1]) if stdout.strip() else {}
                if "count" not in got or got.get("error"):
                    results[f"{name}_error"] = 1
                results[name] = got.get("count", 0) / seconds
            inside, _total = count_tail(out, t0, t1)
            results["birbctl"] = inside / seconds
        finally:
            for proc in procs.values():
                stop_process(proc)
            stop_emulator(emu)
    results["rate"] = rate
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=5000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--compress", default="zlib-stream")
    parser.add_argument("--unbuffered", action="store_true", help="PYTHONUNBUFFERED=1")
    args = parser.parse_args()
    got = run_live(args.rate, args.seconds, args.compress, args.unbuffered)
    for name in ("birbctl", "discordpy", "hikari"):
        failed = " (failed)" if f"{name}_error" in got else ""
        print(f"{name:<10} {got.get(name, 0):>10,.0f} events/s{failed}")
    print(f"{'emulator':<10} {args.rate:>10,.0f} events/s sent to each")


if __name__ == "__main__":
    main()
