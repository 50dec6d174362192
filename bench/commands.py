"""Whole commands as a user runs them, each a fresh process, against the floor.

  start-up  `birbctl --help | --version | decode TWO_FRAMES | encode ONE_PAYLOAD` against
            the same command line of bench/bare_app.py (a bare typer app with birbctl's
            commands, options and help texts) and against `python -c "import typer"`.
  decode    `birbctl decode CAPTURE > file` on a capture of N MESSAGE_CREATEs (JSON +
            zlib-stream, or ETF + zstd-stream) against bench/bare_decode.py, the same
            output from zlib/zstd + orjson (erlpack for ETF); with and without
            PYTHONUNBUFFERED=1; peak RSS of each process (ru_maxrss from wait4).

Paired rounds: each round runs both commands back to back, the order alternating; the
ratio is per round (birbctl's time over the bare one's for start-up, lower is better;
the bare time over birbctl's for decode, a speed ratio, higher is better), reported as
min, median and max. Bytecode is compiled first, as an installed package has it.

Run: python bench/commands.py [--frames 100000] [--rounds 5] [--startup-rounds 21]
"""

from __future__ import annotations

import argparse
import compileall
import filecmp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BIRBCTL = (sys.executable, "-m", "birbctl")


@dataclass
class Run:
    """One process: wall seconds, CPU seconds (user + system), peak RSS in MB."""

    wall: float
    cpu: float
    rss_mb: float


#: Runs the measured command for `timed`: a fresh, small interpreter (no site), so the
#: command's peak RSS is its own. Linux reports a child's ru_maxrss as at least the RSS of
#: the process it was forked from, so spawning from this process (which holds captures
#: and outputs in memory) would inflate it. Writes [wall, cpu, maxrss KiB, exit code].
LAUNCHER = """
import json, os, sys, time
start = time.perf_counter()
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
with open(sys.argv[1], "w") as fh:
    json.dump([wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss,
               os.waitstatus_to_exitcode(status)], fh)
"""


def timed(
    argv: Sequence[str], *, stdout: Path | None = None, env: dict[str, str] | None = None
) -> Run:
    """Run `argv` to the end, stdout to a file (or /dev/null), and measure it (the time
    from spawn to exit, as the launcher sees it)."""
    import json

    with tempfile.TemporaryDirectory() as tmp:
        result = Path(tmp) / "run.json"
        target = stdout.open("wb") if stdout is not None else open(os.devnull, "wb")  # noqa: SIM115
        with target as out:
            done = subprocess.run(
                [sys.executable, "-S", "-c", LAUNCHER, str(result), *argv],
                stdout=out, stderr=subprocess.PIPE, env=env, check=False,
            )  # fmt: skip
        if done.returncode != 0 or not result.exists():
            raise RuntimeError(f"launcher failed: {done.stderr[-300:]!r}")
        wall, cpu, rss_kib, code = json.loads(result.read_text())
    if code != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {code}: {done.stderr[-300:]!r}")
    return Run(wall, cpu, rss_kib / 1024)


@dataclass
class Pair:
    """Paired rounds of two commands: `ratios` as the module docstring defines them."""

    label: str
    ours: list[Run] = field(default_factory=list)
    base: list[Run] = field(default_factory=list)
    ratios: list[float] = field(default_factory=list)

    def spread(self) -> tuple[float, float, float]:
        return min(self.ratios), statistics.median(self.ratios), max(self.ratios)

    def median(self, which: str) -> float:
        runs = self.ours if which == "ours" else self.base
        return statistics.median(run.wall for run in runs)


def paired(
    label: str,
    ours: Sequence[str],
    base: Sequence[str],
    rounds: int,
    *,
    speed: bool,
    env: dict[str, str] | None = None,
    stdout: Path | None = None,
) -> Pair:
    """Both commands `rounds` times, alternating which goes first. `speed`: the ratio is
    base/ours (a throughput ratio); otherwise ours/base (a time ratio)."""
    pair = Pair(label)
    for i in range(rounds):
        one_round(pair, ours, base, i, speed=speed, env=env, stdout=stdout)
    return pair


def one_round(
    pair: Pair,
    ours: Sequence[str],
    base: Sequence[str],
    i: int,
    *,
    speed: bool,
    env: dict[str, str] | None = None,
    stdout: Path | None = None,
) -> None:
    """Round `i` of `pair`: both commands back to back, birbctl first in even rounds."""
    order = [(ours, pair.ours), (base, pair.base)]
    for argv, runs in order if i % 2 == 0 else order[::-1]:
        runs.append(timed(argv, stdout=stdout, env=env))
    mine, theirs = pair.ours[-1].wall, pair.base[-1].wall
    pair.ratios.append(theirs / mine if speed else mine / theirs)


def compile_bytecode() -> None:
    """Write the .pyc files an installed package would have (PYTHONDONTWRITEBYTECODE=1,
    set in many images, otherwise makes every run compile birbctl's changed modules)."""
    compileall.compile_dir(ROOT / "birbctl", quiet=1)
    compileall.compile_dir(HERE, quiet=1, maxlevels=0)


def bare_app(tmp: Path) -> tuple[Path, bool]:
    """The bare app to run: bench/bare_app.py, or a fresh one in `tmp` when birbctl's
    commands changed since it was generated; (path, whether it was regenerated)."""
    from bare_cli import TARGET, generate

    text = generate()
    if TARGET.exists() and TARGET.read_text() == text:
        return TARGET, False
    (tmp / "bare_app.py").write_text(text)
    shutil.copy(HERE / "bare_decode.py", tmp / "bare_decode.py")
    compileall.compile_dir(tmp, quiet=1, maxlevels=0)
    return tmp / "bare_app.py", True


def clean_env(unbuffered: bool = False) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    return env


def startup(tmp: Path, rounds: int) -> tuple[list[Pair], list[Pair], bool]:
    """(birbctl vs the bare app per case, birbctl vs `import typer` per case, whether the
    bare app was regenerated)."""
    from decode import make_capture

    app, regenerated = bare_app(tmp)
    capture = tmp / "two.capture"
    make_capture(capture, 2)
    payload = tmp / "one.json"
    payload.write_text('{"op": 1, "d": 251}\n')
    cases = {
        "--help": ["--help"],
        "--version": ["--version"],
        "decode (2 frames)": ["decode", str(capture)],
        "encode (1 payload)": ["encode", str(payload), "-o", str(tmp / "one.etf")],
    }
    env = clean_env()
    against_bare = [
        paired(name, [*BIRBCTL, *args], [sys.executable, str(app), *args], rounds,
               speed=False, env=env)
        for name, args in cases.items()
    ]  # fmt: skip
    typer_only = [sys.executable, "-c", "import typer"]
    against_typer = [
        paired(name, [*BIRBCTL, *cases[name]], typer_only, rounds, speed=False, env=env)
        for name in ("--help", "--version", "decode (2 frames)")
    ]
    return against_bare, against_typer, regenerated


def whole_decode(capture: Path, out_dir: Path, rounds: int) -> list[tuple[bool, Pair, bool]]:
    """`birbctl decode CAPTURE > file` vs bench/bare_decode.py, with stdout buffered and
    with PYTHONUNBUFFERED=1; [(unbuffered, pair, same output)]. The two settings take
    turns round by round, so that a change in the machine's load during the run falls on
    both alike (both do the same work: the same writes, the same instructions)."""
    ours = [*BIRBCTL, "decode", str(capture)]
    bare = [sys.executable, str(HERE / "bare_decode.py"), str(capture)]
    settings = (False, True)
    pairs = {
        unbuffered: Pair(f"decode {capture.name}" + (" PYTHONUNBUFFERED=1" if unbuffered else ""))
        for unbuffered in settings
    }
    for i in range(rounds):
        for unbuffered in settings:
            env = clean_env(unbuffered)
            one_round(pairs[unbuffered], ours, bare, i, speed=True, env=env,
                      stdout=out_dir / "out.jsonl")  # fmt: skip
    results = []
    for unbuffered in settings:
        env = clean_env(unbuffered)
        mine, theirs = out_dir / "birbctl.jsonl", out_dir / "bare.jsonl"
        timed(ours, stdout=mine, env=env)
        timed(bare, stdout=theirs, env=env)
        same = filecmp.cmp(mine, theirs, shallow=False)  # in chunks: this process stays small
        mine.unlink()
        theirs.unlink()
        results.append((unbuffered, pairs[unbuffered], same))
    return results


def show(pair: Pair, unit: str = "s") -> str:
    low, mid, high = pair.spread()
    return (
        f"{pair.label:<40} birbctl {pair.median('ours'):7.3f} {unit}  bare "
        f"{pair.median('base'):7.3f} {unit}  ratio {mid:5.2f} [{low:.2f}, {high:.2f}]  "
        f"RSS {max(r.rss_mb for r in pair.ours):.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--startup-rounds", type=int, default=21)
    args = parser.parse_args()
    from decode import make_capture

    compile_bytecode()
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        bare, typer_floor, regenerated = startup(tmp, args.startup_rounds)
        print("start-up: birbctl / bare typer app (time ratio, lower is better)")
        for pair in bare:
            print(show(pair))
        print("start-up: birbctl / python -c 'import typer'")
        for pair in typer_floor:
            print(show(pair))
        if regenerated:
            print("(bench/bare_app.py was stale: regenerated for this run)")
        print("whole-command decode: bare / birbctl (speed ratio, higher is better)")
        for encoding, compress in (("json", "zlib-stream"), ("etf", "zstd-stream")):
            capture = tmp / f"{encoding}-{compress}.capture"
            make_capture(capture, args.frames, encoding, compress)
            for _unbuffered, pair, same in whole_decode(capture, tmp, args.rounds):
                print(show(pair) + ("" if same else "  (OUTPUT DIFFERS)"))
            capture.unlink()


if __name__ == "__main__":
    main()
