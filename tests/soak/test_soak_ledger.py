"""The soak's accounting, on scripted actions: what counts as lost, duplicated, and as
the time the rules required."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_ledger import ShardLedger, identify_spacing_violations

from birbctl.protocol.events import (
    DispatchReceived,
    Reconnecting,
    ReconnectReason,
    SendPayload,
    StatusChanged,
)
from birbctl.protocol.status import GatewayStatus as S


def _status(ledger: ShardLedger, old: S, new: S, at: float, reason: str = "") -> None:
    ledger.action(StatusChanged(old, new, reason), at)


def _dispatch(ledger: ShardLedger, t: str, s: int, d: object = None) -> None:
    ledger.action(DispatchReceived(t, s, d), 0.0)


def test_lost_and_duplicated_are_counted_per_gateway_session() -> None:
    ledger = ShardLedger(0)
    _dispatch(ledger, "READY", 1, {"session_id": "a"})
    for s in (2, 3, 5, 5):  # 4 missing, 5 twice
        _dispatch(ledger, "MESSAGE_CREATE", s)
    _dispatch(ledger, "READY", 1, {"session_id": "b"})  # a new session starts over
    _dispatch(ledger, "MESSAGE_CREATE", 2)
    assert (ledger.lost, ledger.duplicated, ledger.dispatches) == (1, 1, 7)


def test_required_time_is_backoff_plus_identify_slot_plus_detection() -> None:
    ledger = ShardLedger(0)
    _status(ledger, S.IDLE, S.READY, 0.0)
    ledger.fault("zombie", 10.0, hidden=True)
    _status(ledger, S.READY, S.RECONNECTING, 11.5)  # noticed after 1.5 s: required
    ledger.action(
        Reconnecting(0.7, False, "x", ReconnectReason.GATEWAY_CLOSE), 11.5
    )  # backoff: required
    _status(ledger, S.RECONNECTING, S.CONNECTING, 12.2)
    _status(ledger, S.CONNECTING, S.IDENTIFYING, 12.3, "waiting 3.0 s for an identify slot")
    ledger.action(SendPayload({"op": 2, "d": {}}, b"", False), 15.3)  # slot: required
    _status(ledger, S.IDENTIFYING, S.READY, 15.4)
    [episode] = ledger.episodes
    assert episode.took == 5.4
    assert round(episode.required, 6) == round(1.5 + 0.7 + 3.0, 6)
    assert round(episode.overhead, 6) == 0.2


def test_faults_during_recovery_join_the_episode() -> None:
    ledger = ShardLedger(0)
    _status(ledger, S.IDLE, S.READY, 0.0)
    ledger.fault("op7", 1.0)
    _status(ledger, S.READY, S.RECONNECTING, 1.0)
    ledger.fault("resume:drop", 1.1)
    _status(ledger, S.RESUMING, S.READY, 2.0)
    [episode] = ledger.episodes
    assert episode.faults == ["op7", "resume:drop"] and ledger.faults == 2


def test_identify_spacing_is_checked_per_bucket() -> None:
    a, b = ShardLedger(0), ShardLedger(1)
    a.identify_times = [0.0, 10.0]
    b.identify_times = [5.0, 12.0]
    assert identify_spacing_violations([a, b], max_concurrency=1) == [(0, 10.0, 12.0)]
    assert identify_spacing_violations([a, b], max_concurrency=2) == []
