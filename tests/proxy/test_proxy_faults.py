"""Faults the proxy strikes on a bot's connection, in `birbctl serve`'s vocabulary (steps
and the admin endpoint), at every point of the handshake and once READY; birbctl's own
client is the bot, and recovers each time; the upstream session is kept or ended as the
fault says."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from conftest import birbctl_async, running_emulator
from proxy_harness import FAST_HEARTBEATS, TOKEN, no_token, running_proxy

from birbctl.emulator.faults import parse_fault_flag


async def bot_through(
    tmp_path: Path, steps: list[str], *, duration: float = 3.0, **emulator: Any
) -> tuple[list[dict[str, Any]], list[str], Any]:
    """`birbctl connect --json` through a proxy with these steps to `birbctl serve`; the
    bot's records, the proxy's notes and the emulator's context."""
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    parsed = tuple(parse_fault_flag(step) for step in steps)
    options = {"heartbeat_interval_ms": 300, "event_rate": 20, **emulator}
    async with (
        running_emulator(**options) as upstream,
        running_proxy(upstream.rest_url, steps=parsed) as (proxy, out),
    ):
        code, stdout, stderr = await birbctl_async(
            env, "connect", "--api-url", proxy.rest_url, "--json", "--duration", str(duration)
        )
        ctx = upstream.ctx
    assert code == 0, (stderr.decode(), out.notes)
    no_token(out.text(), stdout, stderr)
    return [json.loads(line) for line in stdout.splitlines()], out.notes, ctx


def statuses(records: list[dict[str, Any]]) -> list[str]:
    return [r["new"] for r in records if r.get("event") == "status"]


@dataclass
class Until:
    """`birbctl tail` through a proxy with `steps`, until it has printed `count` of the
    dispatches `events`: what it printed, the proxy's notes, the emulator's sessions."""

    steps: list[str]
    events: tuple[str, ...] = ("READY",)
    count: int = 1
    packets: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    upstream_notes: list[str] = field(default_factory=list)
    identifies: int = 0  # IDENTIFYs that reached upstream
    remaining: set[str] = field(default_factory=set)  # sessions upstream at the end
    stderr: str = ""
    error: str = ""

    async def run(self, runtime: Path) -> None:
        env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime), "DISCORD_TOKEN": TOKEN}
        parsed = tuple(parse_fault_flag(step) for step in self.steps)
        async with (
            running_emulator(**FAST_HEARTBEATS, event_rate=20) as upstream,
            running_proxy(upstream.rest_url, steps=parsed) as (proxy, out),
        ):
            note = upstream.ctx.note
            upstream.ctx.note = lambda text: (self.upstream_notes.append(text), note(text))[1]
            only = [arg for t in self.events for arg in ("--event", t)]
            code, stdout, stderr = await birbctl_async(
                env, "tail", "--api-url", proxy.rest_url, "--format", "jsonl", *only,
                "--count", str(self.count), "--duration", "25",
            )  # fmt: skip
            self.identifies = len(upstream.ctx.identifies.arrivals)
            self.remaining = {record.id for record in upstream.ctx.records}
        self.notes = out.notes
        self.stderr = stderr.decode()
        self.packets = [json.loads(line) for line in stdout.splitlines()]
        if code != 0:
            self.error = f"{self.steps}: exit {code}: {stderr.decode()[-400:]} {out.notes}"
        no_token(out.text(), stdout, stderr)

    def struck(self, words: str) -> bool:
        return any(f": fault {words}" in note for note in self.notes)


async def run_all(tmp_path: Path, runs: list[Until]) -> None:
    """Concurrently (each waits out the client's identify rate limit after a fault)."""
    for n in range(len(runs)):
        (tmp_path / str(n)).mkdir()
    await asyncio.gather(*(run.run(tmp_path / str(n)) for n, run in enumerate(runs)))
    assert [r.error for r in runs if r.error] == []


async def test_a_fault_at_every_point_of_the_handshake_and_the_bot_still_gets_there(
    tmp_path: Path,
) -> None:
    steps = [
        "on=connect action=drop",
        "on=connect action=close code=4000",
        "on=hello action=drop",
        "on=identify action=drop",
        "on=identify action=invalid_session resumable=false",
        "on=identify action=reconnect",
    ]
    runs = [Until([step]) for step in steps]
    # While the IDENTIFY waits for its slot: the bot's second connection waits out the
    # identify rate limit after the first was dropped, and the delayed step strikes then.
    waiting = Until(["on=hello action=drop", "on=hello delay=1 action=close code=4000"])
    await run_all(tmp_path, [*runs, waiting])
    for step, run in zip(steps, runs, strict=True):
        point = step.split()[0].removeprefix("on=")
        action = step.split("action=")[1]
        assert run.struck(f"{action} (step, {point})"), (step, run.notes)
        assert [p["t"] for p in run.packets] == ["READY"], step
        assert " bot #2 connected (new," in " " + "\n ".join(run.notes), (step, run.notes)
        assert run.identifies == 1, step  # only the bot's IDENTIFY that got through
    assert [n.split(": ", 1)[1] for n in waiting.notes if ": fault " in n] == [
        "fault drop (step, hello)",
        "fault close code=4000 (step, hello)",
    ]
    assert [p["t"] for p in waiting.packets] == ["READY"] and waiting.identifies == 1


async def test_a_fault_on_resume_and_the_bot_still_resumes_or_identifies(tmp_path: Path) -> None:
    op7 = "after_events=3 action=reconnect"
    kept = [
        "on=resume action=drop",
        "on=resume action=close code=4000",
        "on=resume action=reconnect",
    ]
    runs = [Until([op7, step], ("READY", "RESUMED"), 2) for step in kept]
    ended = Until([op7, "on=resume action=invalid_session"], ("READY",), 2)
    await run_all(tmp_path, [*runs, ended])
    for step, run in zip(kept, runs, strict=True):
        assert run.struck(step.split("action=")[1] + " (step, resume)"), (step, run.notes)
        assert [p["t"] for p in run.packets] == ["READY", "RESUMED"], step
        assert run.identifies == 1, step  # never identified again: the session survived
    assert ended.struck("invalid_session resumable=false (step, resume)"), ended.notes
    # The bot identified afresh, and the session it could not resume is gone upstream.
    first, second = (p["d"]["session_id"] for p in ended.packets)
    assert first != second and ended.identifies == 2
    assert first not in ended.remaining, (ended.upstream_notes, ended.notes)  # no lingering


async def test_faults_once_ready_keep_or_end_the_session_as_they_say(tmp_path: Path) -> None:
    kept = Until(
        ["after_events=2 action=invalid_session resumable=true", "at=1.5 action=reconnect"],
        ("READY", "RESUMED"),
        3,
    )
    timed_out = Until(["after_events=2 action=close code=4009"], ("READY",), 2)
    zombie = Until(["after_events=2 action=zombie"], ("READY", "RESUMED"), 2)
    await run_all(tmp_path, [kept, timed_out, zombie])
    assert [p["t"] for p in kept.packets] == ["READY", "RESUMED", "RESUMED"]
    assert kept.identifies == 1
    # 4009: the bot identifies again, and the session does not linger upstream.
    first, second = (p["d"]["session_id"] for p in timed_out.packets)
    assert first != second and first not in timed_out.remaining
    # No ACKs reach the bot: it finds the zombie connection itself, and resumes.
    assert [p["t"] for p in zombie.packets] == ["READY", "RESUMED"] and zombie.identifies == 1
    assert "zombie" in zombie.stderr


async def test_delayed_acks_show_in_the_bots_ping(tmp_path: Path) -> None:
    records, _, _ = await bot_through(tmp_path, ["on=hello action=ack_delay ms=120"])
    rtts = [r["rtt_ms"] for r in records if r.get("event") == "heartbeat_ack"]
    assert len(rtts) >= 3 and min(rtts) >= 120, rtts


async def test_a_stall_delays_events_and_loses_none(tmp_path: Path) -> None:
    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    step = parse_fault_flag("after_events=5 action=stall seconds=0.8")
    async with (
        running_emulator(heartbeat_interval_ms=2000, event_rate=40) as upstream,
        running_proxy(upstream.rest_url, steps=(step,)) as (proxy, out),
    ):
        code, stdout, stderr = await birbctl_async(
            env, "tail", "--api-url", proxy.rest_url, "--format", "jsonl", "--duration", "3",
            "--dir", "recv", "--op", "0",
        )  # fmt: skip
    assert code == 0, stderr.decode()
    packets = [json.loads(line) for line in stdout.splitlines()]
    seqs = [p["s"] for p in packets]
    assert seqs == list(range(1, len(seqs) + 1)), seqs  # none lost, none repeated
    gaps = [b["ts"] - a["ts"] for a, b in itertools.pairwise(packets)]
    assert max(gaps) >= 0.7, gaps  # the stall, then everything it held at once
    assert any("fault stall seconds=0.8" in n for n in out.notes)


async def test_the_admin_endpoint_strikes_now_and_arms_steps(tmp_path: Path) -> None:
    import asyncio

    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    async with (
        running_emulator(**FAST_HEARTBEATS, event_rate=20) as upstream,
        running_proxy(upstream.rest_url) as (proxy, out),
        aiohttp.ClientSession() as http,
    ):
        admin = f"http://127.0.0.1:{proxy.port}/_birbctl"
        bot = asyncio.create_task(
            birbctl_async(env, "connect", "--api-url", proxy.rest_url, "--json", "--duration", "4")
        )
        try:
            async with asyncio.timeout(10):
                while not any(r.status.value == "ready" for r in proxy.relays.values()):
                    await asyncio.sleep(0.05)
            async with http.get(f"{admin}/sessions") as answer:
                listing = await answer.json()
            [conn] = listing["connections"]
            assert conn["connection"] == 1 and conn["status"] == "ready"
            session = conn["session"]
            # A step armed for the next RESUME, then an op 7 now: the RESUME is dropped,
            # and the bot resumes again.
            async with http.post(f"{admin}/faults?on=resume&action=drop") as answer:
                assert answer.status == 200, await answer.text()
                assert (await answer.json())["armed"]["step"] == "on=resume times=1 drop"
            async with http.post(f"{admin}/faults", json={"action": "reconnect"}) as answer:
                assert (await answer.json()) == {"fault": "reconnect", "applied": [1]}
            async with asyncio.timeout(10):
                while not any(
                    r.status.value == "ready" and r.resumed for r in proxy.relays.values()
                ):
                    await asyncio.sleep(0.05)
            assert upstream.ctx.records.get(session) is not None
            # op 9 false ends it, upstream too.
            body = {"action": "invalid_session", "resumable": False, "shard": 0}
            async with http.post(f"{admin}/faults", json=body) as answer:
                assert (await answer.json())["applied"], await answer.text()
            async with asyncio.timeout(10):
                while upstream.ctx.records.get(session) is not None:
                    await asyncio.sleep(0.05)
            # What the endpoint refuses, it says in one line.
            async with http.post(f"{admin}/faults?action=explode") as answer:
                assert answer.status == 400
                assert "action must be one of" in await answer.text()
            async with http.post(f"{admin}/faults?action=drop&on=identify&connection=1") as answer:
                assert answer.status == 400
            async with http.post(
                f"{admin}/faults?action=drop", headers={"Origin": "http://example.com"}
            ) as answer:
                assert answer.status == 403
            async with http.get(f"{admin}/sessions") as answer:
                assert (await answer.json())["faults_injected"] == 3  # and the armed drop
        finally:
            code, stdout, stderr = await bot
    assert code == 0, stderr.decode()
    records = [json.loads(line) for line in stdout.splitlines()]
    # The RESUME the armed step dropped, the one after it, then op 9 (d: false).
    assert statuses(records).count("resuming") >= 2, statuses(records)
    assert [r["resumable"] for r in records if r.get("event") == "invalid_session"] == [False]
    assert any("(admin, admin)" in n for n in out.notes)
    no_token(out.text(), stdout, stderr)


async def test_faults_from_flags_and_a_recording_of_exactly_what_the_bot_got(
    tmp_path: Path,
) -> None:
    from proxy_harness import proxy_process

    env = {**os.environ, "XDG_RUNTIME_DIR": str(tmp_path), "DISCORD_TOKEN": TOKEN}
    capture = tmp_path / "bot.capture"
    faults = [
        "after_events=5 action=reconnect",  # op 7 into the stream, then a RESUME
        "on=hello action=ack_delay ms=40",  # every connection's ACKs late
        "after_events=12 action=stall seconds=0.3",  # held, then delivered in order
    ]
    async with (
        running_emulator(**FAST_HEARTBEATS, event_rate=30) as upstream,
        proxy_process(
            tmp_path / "proxy", "--upstream", upstream.rest_url, "--record", str(capture),
            *(arg for fault in faults for arg in ("--fault", fault)),
        ) as proxy,
    ):  # fmt: skip
        code, bot_out, bot_err = await birbctl_async(
            env, "tail", "--api-url", proxy.rest, "--format", "jsonl", "--duration", "3",
            "--compress", "zstd-stream",
        )  # fmt: skip
        assert code == 0, bot_err.decode()
        for _ in range(100):
            if "bot #2 shard 0/1 closed by bot 1000" in proxy.out().decode():
                break
            await asyncio.sleep(0.05)
    notes = proxy.out().decode()
    assert "3 fault step(s)" in notes
    for fault in ("reconnect (step, after_events)", "ack_delay ms=40 (step, hello)",
                  "stall seconds=0.3 (step, after_events)"):  # fmt: skip
        assert f": fault {fault}" in notes, notes
    code, decoded, err = await birbctl_async(env, "decode", str(capture))
    assert code == 0, err.decode()

    def payloads(lines: bytes, way: str) -> list[Any]:
        records = [json.loads(line) for line in lines.splitlines()]
        return [(r["op"], r["t"], r["s"], r["d"]) for r in records if r["dir"] == way]

    got, recorded = payloads(bot_out, "recv"), payloads(decoded, "recv")
    assert [p[0] for p in got].count(7) == 1 and any(p[1] == "RESUMED" for p in got)
    ops = ([(p[0], p[1], p[2]) for p in got][:14], [(p[0], p[1], p[2]) for p in recorded][:14])
    assert len(got) > 20 and recorded[: len(got)] == got, ops
    assert len(recorded) - len(got) <= 5
    assert payloads(decoded, "send") == payloads(bot_out, "send")
    no_token(notes, proxy.err(), capture.read_bytes(), decoded, bot_out, bot_err)
