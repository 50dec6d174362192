"""The token goes into IDENTIFY and RESUME bytes and nowhere else a human could see."""

from __future__ import annotations

from gateway_harness import TOKEN, Harness

from birbctl.errors import BirbError
from birbctl.protocol.events import SendPayload
from birbctl.protocol.payloads import REDACTED, Secret, redact


def busy_session() -> Harness:
    """Identify, resume, errors, a fatal close: every path that could leak."""
    h = Harness()
    h.session.connect()
    h.open()
    h.hello()  # IDENTIFY
    h.ready(guilds=["1"])
    h.session.send({"op": 3, "d": {"status": "idle"}})
    h.session.receive_payload({"d": "no op"})  # protocol violation
    h.close(4000, "x")
    h.open()
    h.hello()  # RESUME
    h.dispatch("RESUMED", {}, 2)
    h.session.terminate()
    h.close(None)
    h.open()
    h.hello()
    h.close(4004, "Authentication failed.")
    h.drain()
    return h


def test_token_is_in_the_bytes_sent() -> None:
    h = busy_session()
    sends = [a for _, a in h.log if isinstance(a, SendPayload) and a.op in (2, 6)]
    assert {a.op for a in sends} == {2, 6}
    assert all(TOKEN.encode() in a.data for a in sends if isinstance(a.data, bytes))


def test_token_never_in_notifications_or_reprs() -> None:
    h = busy_session()
    for _, action in h.log:
        assert TOKEN not in repr(action), action
        assert TOKEN not in str(action)
        if isinstance(action, SendPayload) and action.op in (2, 6):
            assert action.redacted()["d"]["token"] == REDACTED
    assert TOKEN not in repr(h.session)
    assert TOKEN not in str(vars(h.session))
    assert TOKEN not in f"{h.session._token}"


def test_token_never_in_errors() -> None:
    h = Harness()
    h.connect_ready()
    attempts = [
        lambda: h.session.send({"op": 2, "d": {"token": TOKEN}}),
        lambda: h.session.send({"op": 3, "d": {"x": TOKEN * 200}}),
        lambda: h.session.close(999),
    ]
    for attempt in attempts:
        try:
            attempt()
        except BirbError as exc:
            assert TOKEN not in str(exc)
        else:  # pragma: no cover
            raise AssertionError("expected an error")


def test_redact_and_secret() -> None:
    payload = {"op": 2, "d": {"token": "abc", "intents": 1}}
    assert redact(payload) == {"op": 2, "d": {"token": REDACTED, "intents": 1}}
    assert payload["d"]["token"] == "abc"  # the original is untouched
    assert redact({"op": 1, "d": 5}) == {"op": 1, "d": 5}
    secret = Secret("abc")
    assert "abc" not in repr(secret) + str(secret) + f"{secret}"
    assert secret.reveal() == "abc"
