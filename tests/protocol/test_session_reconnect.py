"""Reconnecting: op 7, op 9, every close code, user close/terminate, prevent_reconnect, backoff."""

from __future__ import annotations

import random

import pytest
from gateway_harness import BASE_URL, RESUME_URL, Harness

from birbctl.errors import LocalProtocolError
from birbctl.protocol.events import (
    CloseConnection,
    DropConnection,
    FatalClose,
    OpenConnection,
    Reconnecting,
    ReconnectReason,
    SessionInvalidated,
)
from birbctl.protocol.opcodes import CloseAction, close_policy, describe_close
from birbctl.protocol.status import GatewayStatus as S

RESUME_CODES = [None, 1000, 1001, 1006, 4000, 4001, 4002, 4003, 4005, 4008]
REIDENTIFY_CODES = [4006, 4007, 4009]
FATAL_CODES = [4004, 4010, 4011, 4012, 4013, 4014]


def assert_resumes(h: Harness, query: str = "?v=10&encoding=json") -> None:
    [opened] = h.all(OpenConnection)
    assert opened.url == RESUME_URL + "/" + query
    h.open()
    h.hello()
    resume = h.sent()[-1]
    assert resume["op"] == 6
    assert resume["d"]["session_id"] == "sess-1"
    assert h.session.status is S.RESUMING


def assert_identifies(h: Harness) -> None:
    [opened] = h.all(OpenConnection)
    assert opened.url == BASE_URL + "?v=10&encoding=json"
    h.open()
    h.hello()
    assert h.sent_ops()[-1] == 2
    assert h.session.status is S.IDENTIFYING


def test_op7_closes_with_4000_range_and_resumes() -> None:
    h = Harness()
    h.connect_ready()
    h.op(7)
    [close] = h.all(CloseConnection)
    assert 4000 <= close.code <= 4999
    assert h.session.status is S.RECONNECTING
    h.close(close.code)
    assert h.all(Reconnecting) == [Reconnecting(0.0, True, close.reason, ReconnectReason.OP7)]
    assert_resumes(h)


def test_op9_true_resumes() -> None:
    h = Harness()
    h.connect_ready()
    h.op(9, True)
    assert h.all(SessionInvalidated) == [SessionInvalidated(True)]
    [close] = h.all(CloseConnection)
    assert close.code not in (1000, 1001)
    h.close(close.code)
    assert h.session.session_id == "sess-1"
    assert_resumes(h)


def test_op9_false_waits_1_to_5_s_then_identifies_on_gateway_url() -> None:
    h = Harness()
    h.connect_ready()
    h.dispatch("MESSAGE_CREATE", {}, 9)
    h.op(9, False)
    assert h.all(SessionInvalidated) == [SessionInvalidated(False)]
    assert h.session.session_id is None
    assert h.session.sequence is None
    assert h.session.resume_gateway_url is None
    [close] = h.all(CloseConnection)
    h.close(close.code)
    [wait] = h.all(Reconnecting)
    assert wait.resume is False
    assert 1.0 <= wait.delay <= 5.0
    assert h.all(OpenConnection) == []
    deadline = h.session.next_deadline()
    assert deadline is not None
    assert deadline == pytest.approx(h.clock.now + wait.delay)
    h.run_until(deadline - 0.001)
    assert h.all(OpenConnection) == []
    h.run_until(deadline)
    assert_identifies(h)


def test_op9_false_wait_varies_with_the_rng() -> None:
    delays = set()
    for seed in range(6):
        h = Harness(rng=random.Random(seed))
        h.connect_ready()
        h.op(9, False)
        h.close(4000)
        [wait] = h.all(Reconnecting)
        assert 1.0 <= wait.delay <= 5.0
        delays.add(round(wait.delay, 6))
    assert len(delays) == 6


@pytest.mark.parametrize("code", RESUME_CODES)
def test_close_codes_that_resume(code: int | None) -> None:
    assert close_policy(code) is CloseAction.RESUME
    h = Harness()
    h.connect_ready()
    h.close(code, "bye")
    [again] = h.all(Reconnecting)
    assert again.resume is True
    assert h.session.session_id == "sess-1"
    assert_resumes(h)


def test_unknown_close_code_resumes_by_default() -> None:
    assert close_policy(4999) is CloseAction.RESUME
    assert close_policy(3000) is CloseAction.RESUME
    h = Harness()
    h.connect_ready()
    h.close(4999)
    assert_resumes(h)


@pytest.mark.parametrize("code", REIDENTIFY_CODES)
def test_close_codes_that_identify_again(code: int) -> None:
    assert close_policy(code) is CloseAction.REIDENTIFY
    h = Harness()
    h.connect_ready()
    h.close(code)
    [again] = h.all(Reconnecting)
    assert again.resume is False
    assert h.session.session_id is None and h.session.sequence is None
    assert_identifies(h)
    assert h.session.counters.reidentifies == 1


@pytest.mark.parametrize("code", FATAL_CODES)
def test_fatal_close_codes_end_disconnected_with_the_description(code: int) -> None:
    assert close_policy(code) is CloseAction.FATAL
    h = Harness()
    h.connect_ready()
    h.close(code, "nope")
    assert h.all(FatalClose) == [FatalClose(code, "nope", describe_close(code))]
    assert h.session.status is S.DISCONNECTED
    assert h.all(Reconnecting) == [] and h.all(OpenConnection) == []
    assert h.session.next_deadline() is None
    h.run_for(3600)
    assert h.all(OpenConnection) == []


def test_fatal_descriptions_say_what_to_fix() -> None:
    assert "check the token" in describe_close(4004)
    assert "developer portal" in describe_close(4014)
    assert "intents" in describe_close(4013)
    assert "shard" in describe_close(4011)


def test_fatal_close_while_identifying_is_still_fatal() -> None:
    h = Harness()
    h.session.connect()
    h.open()
    h.hello()
    h.close(4004, "Authentication failed.")
    assert h.all(FatalClose)[0].code == 4004
    assert h.statuses()[-1] is S.DISCONNECTED


def test_user_close_1000_invalidates_and_does_not_reconnect() -> None:
    h = Harness()
    h.connect_ready()
    h.session.close(1000, "done")
    assert h.all(CloseConnection) == [CloseConnection(1000, "done")]
    assert h.session.status is S.DISCONNECTED
    assert h.session.session_id is None and h.session.sequence is None
    h.close(1000, "done")
    h.run_for(3600)
    assert h.all(OpenConnection) == [] and h.all(Reconnecting) == []
    h.session.connect()  # a new session, on the gateway URL
    assert_identifies(h)


def test_user_close_with_4000_keeps_the_session_for_a_later_resume() -> None:
    h = Harness()
    h.connect_ready()
    h.session.close(4000)
    h.close(4000)
    assert h.session.status is S.DISCONNECTED
    assert h.all(OpenConnection) == []
    h.session.connect()
    assert_resumes(h)


def test_user_close_rejects_reserved_codes() -> None:
    h = Harness()
    h.connect_ready()
    with pytest.raises(LocalProtocolError):
        h.session.close(1006)


def test_terminate_drops_without_close_frame_then_resumes() -> None:
    h = Harness()
    h.connect_ready()
    h.session.terminate()
    assert h.all(DropConnection) == [DropConnection()]
    assert h.all(CloseConnection) == []
    assert h.session.status is S.RECONNECTING
    h.close(None)
    [again] = h.all(Reconnecting)
    assert again.resume is True
    assert_resumes(h)


def test_terminate_without_connection_is_local_misuse() -> None:
    with pytest.raises(LocalProtocolError):
        Harness().session.terminate()


def test_user_reconnect_resumes_or_starts_over() -> None:
    h = Harness()
    h.connect_ready()
    h.session.reconnect()
    [close] = h.all(CloseConnection)
    assert 4000 <= close.code <= 4999
    h.close(close.code)
    assert_resumes(h)

    h2 = Harness()
    h2.connect_ready()
    h2.session.reconnect(resume=False)
    assert h2.all(CloseConnection)[0].code == 1000  # the old session is let go
    h2.close(1000)
    assert_identifies(h2)


def test_prevent_reconnect_stops_after_the_next_close() -> None:
    h = Harness()
    h.connect_ready()
    h.session.prevent_reconnect()
    assert h.session.do_not_reconnect
    h.close(4000)
    assert h.session.status is S.DISCONNECTED
    assert h.all(OpenConnection) == []
    assert h.session.session_id == "sess-1"  # a later connect() may still resume
    h.session.connect()
    assert not h.session.do_not_reconnect
    assert_resumes(h)


def test_prevent_reconnect_cancels_a_waiting_reconnect() -> None:
    h = Harness()
    h.session.connect()
    h.session.connection_failed("refused")  # attempt 0: immediate
    h.session.connection_failed("refused")  # attempt 1: waits
    assert h.session.status is S.RECONNECTING and h.session.next_deadline() is not None
    h.forget()
    h.session.prevent_reconnect()
    assert h.session.status is S.DISCONNECTED
    assert h.session.next_deadline() is None
    h.run_for(3600)
    assert h.all(OpenConnection) == []


def fail_repeatedly(h: Harness, times: int) -> list[float]:
    """Every connection attempt fails at once; the delays the session chose."""
    for _ in range(times):
        h.run_until(h.session.next_deadline() or h.clock.now)
        h.session.connection_failed("connection refused")
    return [r.delay for r in h.all(Reconnecting)]


def test_backoff_grows_is_jittered_capped_and_immediate_first() -> None:
    h = Harness(backoff_base=1.0, backoff_factor=2.0, backoff_cap=60.0)
    h.session.connect()
    delays = fail_repeatedly(h, 12)
    assert delays[0] == 0.0  # the first retry after a healthy start is immediate
    for n, delay in enumerate(delays[1:], start=1):
        ceiling = min(60.0, 2.0 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling  # equal jitter: half fixed, half random
    assert delays[-1] <= 60.0 and delays[-2] <= 60.0
    assert len(set(delays[7:])) == len(delays[7:])  # capped, but still jittered
    assert h.session.counters.failed_connections == 12


def test_backoff_full_jitter_stays_under_the_ceiling() -> None:
    h = Harness(backoff_jitter="full", backoff_cap=8.0)
    h.session.connect()
    delays = fail_repeatedly(h, 10)
    assert all(0 <= d <= 8.0 for d in delays)
    assert max(delays) > 2.0


def test_backoff_resets_once_ready() -> None:
    h = Harness()
    h.session.connect()
    delays = fail_repeatedly(h, 4)
    assert delays[-1] > 1.0
    h.run_until(h.session.next_deadline() or h.clock.now)
    h.open()
    h.hello()
    h.ready()
    h.forget()
    h.close(1006)
    assert h.all(Reconnecting)[0].delay == 0.0
    h.session.connection_failed("refused")
    assert 0.5 <= h.all(Reconnecting)[1].delay <= 1.0


def test_failed_resume_url_falls_back_to_gateway_url_still_resuming() -> None:
    h = Harness()
    h.connect_ready()
    h.close(1006)
    assert h.all(OpenConnection)[0].url.startswith(RESUME_URL)
    h.session.connection_failed("name resolution failed")
    h.run_until(h.session.next_deadline() or h.clock.now)
    opened = h.all(OpenConnection)
    assert opened[-1].url == BASE_URL + "?v=10&encoding=json"
    h.open()
    h.hello()
    assert h.sent_ops()[-1] == 6


def test_user_close_while_waiting_to_reconnect() -> None:
    h = Harness()
    h.session.connect()
    h.session.connection_failed("refused")
    h.session.connection_failed("refused")
    h.session.close()
    assert h.session.status is S.DISCONNECTED
    assert h.session.next_deadline() is None


def test_user_reconnect_overrides_prevent_reconnect() -> None:
    h = Harness()
    h.connect_ready()
    h.session.prevent_reconnect()
    h.session.reconnect()
    h.close(4000)
    assert_resumes(h)


def test_user_reconnect_while_waiting_opens_at_once() -> None:
    h = Harness()
    h.session.connect()
    h.session.connection_failed("refused")
    h.session.connection_failed("refused")
    assert h.session.next_deadline() is not None
    h.forget()
    h.session.reconnect()
    assert len(h.all(OpenConnection)) == 1
    assert h.session.status is S.CONNECTING


def test_user_close_while_opening_drops_the_attempt() -> None:
    h = Harness()
    h.session.connect()
    h.session.close()
    assert h.all(DropConnection) == [DropConnection()]
    assert h.session.status is S.DISCONNECTED
    h.session.connection_failed("cancelled")
    h.run_for(3600)
    assert len(h.all(OpenConnection)) == 1


def test_close_with_no_connection_is_ignored() -> None:
    h = Harness()
    h.connect_ready()
    h.close(4004)
    h.close(4004)  # a driver reporting the same close twice
    assert len(h.all(FatalClose)) == 1
    assert h.session.status is S.DISCONNECTED


def test_reconnect_with_a_close_code_resumes() -> None:
    h = Harness()
    h.connect_ready()
    h.session.reconnect(True, code=4001)
    [close] = h.all(CloseConnection)
    assert close.code == 4001
    h.close(4001)
    h.run_for(0.1)
    h.open()
    h.hello()
    assert h.sent_ops()[-1] == 6  # RESUME, not IDENTIFY


def test_reconnect_refuses_codes_that_end_the_session() -> None:
    h = Harness()
    h.connect_ready()
    with pytest.raises(LocalProtocolError, match="cannot resume"):
        h.session.reconnect(True, code=1000)
    with pytest.raises(LocalProtocolError, match="cannot close with code 2000"):
        h.session.reconnect(True, code=2000)
