"""Each notification describes itself: the one line the plain view, tail's stderr and
the dashboard log print, the JSON Lines record, and its level. The texts and keys are
what users and scripts read; changing one is a change to this file."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from birbctl.protocol.events import (
    CloseConnection,
    DispatchReceived,
    DropConnection,
    FatalClose,
    HeartbeatAcked,
    HeartbeatSent,
    Notice,
    OpenConnection,
    PendingSendsDropped,
    ProtocolViolation,
    Reconnecting,
    ReconnectReason,
    SessionInvalidated,
    StatusChanged,
)
from birbctl.protocol.status import GatewayStatus
from birbctl.render.lines import JsonView, PlainView, as_record, describe

S = GatewayStatus

#: notification -> (line, record, level, trouble)
SHOWN: list[tuple[Notice, str | None, dict[str, Any] | None, str, str | None]] = [
    (
        StatusChanged(S.WAITING_FOR_GUILDS, S.READY, "all guilds arrived"),
        "ready (was waiting_for_guilds): all guilds arrived",
        {
            "event": "status",
            "old": "waiting_for_guilds",
            "new": "ready",
            "reason": "all guilds arrived",
        },
        "info",
        None,
    ),
    (
        Reconnecting(1.25, True, "connection lost", ReconnectReason.GATEWAY_CLOSE),
        "reconnecting in 1.2 s to resume: connection lost",
        {
            "event": "reconnecting",
            "delay": 1.25,
            "resume": True,
            "why": "connection lost",
            "reason": "gateway_close",
        },
        "warn",
        "connection lost",
    ),
    (
        Reconnecting(0.0, False, "session invalidated", ReconnectReason.INVALID_SESSION),
        "reconnecting in 0.0 s to identify: session invalidated",
        {
            "event": "reconnecting",
            "delay": 0.0,
            "resume": False,
            "why": "session invalidated",
            "reason": "invalid_session",
        },
        "warn",
        "session invalidated",
    ),
    (
        SessionInvalidated(False),
        "session invalidated (resumable: false)",
        {"event": "invalid_session", "resumable": False},
        "warn",
        "session invalidated (resumable: false)",
    ),
    (
        FatalClose(4004, "bad token", "authentication failed: the token is invalid"),
        "fatal close 4004: authentication failed: the token is invalid",
        {
            "event": "fatal_close",
            "code": 4004,
            "reason": "bad token",
            "description": "authentication failed: the token is invalid",
        },
        "error",
        None,
    ),
    (
        ProtocolViolation("heartbeat ACK never came", closing=True),
        "protocol error: heartbeat ACK never came",
        {"event": "protocol_error", "message": "heartbeat ACK never came", "closing": True},
        "error",
        "heartbeat ACK never came",
    ),
    (HeartbeatAcked(41.5), None, {"event": "heartbeat_ack", "rtt_ms": 41.5}, "info", None),
    (DispatchReceived("MESSAGE_CREATE", 3, {}), None, None, "info", None),
    (HeartbeatSent(3), None, None, "info", None),
    (PendingSendsDropped(2, "closed"), None, None, "info", None),
]


@pytest.mark.parametrize(("notice", "line", "record", "level", "trouble"), SHOWN)
def test_a_notification_describes_itself(
    notice: Notice,
    line: str | None,
    record: dict[str, Any] | None,
    level: str,
    trouble: str | None,
) -> None:
    assert notice.line() == line
    assert notice.record() == record
    assert notice.level == level
    assert notice.trouble() == trouble


def test_driver_actions_are_not_shown() -> None:
    for action in (OpenConnection("ws://x"), CloseConnection(1000, ""), DropConnection()):
        assert describe(action) is None and as_record(action) is None


class _Ws:
    shard = (2, 4)

    def __init__(self) -> None:
        self.listeners: list[Any] = []

    def add_listener(self, listener: Any) -> None:
        self.listeners.append(listener)


class _Manager:
    def __init__(self) -> None:
        self.shards = {2: _Ws()}


def test_the_views_print_what_the_notifications_say() -> None:
    manager: Any = _Manager()
    text, data = io.StringIO(), io.BytesIO()
    PlainView(text).attach(manager)
    JsonView(data).attach(manager)
    ws = manager.shards[2]
    for notice, *_ in SHOWN:
        for listener in ws.listeners:
            listener(ws, notice)
    lines = [line.split(" ", 1)[1] for line in text.getvalue().splitlines()]
    assert lines == [f"shard 2 {line}" for _, line, *_ in SHOWN if line is not None]
    records = [json.loads(line) for line in data.getvalue().splitlines()]
    assert [{k: v for k, v in r.items() if k != "ts"} for r in records] == [
        {"shard": 2, **record} for _, _, record, *_ in SHOWN if record is not None
    ]
