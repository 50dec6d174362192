"""Opcodes, close-code policy, intents and URLs: the protocol's data tables."""

from __future__ import annotations

import pytest

from birbctl.errors import ConfigError
from birbctl.protocol.intents import (
    ALL_INTENTS,
    DEFAULT_INTENTS,
    PRIVILEGED_INTENTS,
    Intents,
    intent_names,
    parse_intents,
    privileged_in,
)
from birbctl.protocol.opcodes import (
    CLOSE_POLICIES,
    CLOSE_TO_RESUME,
    CloseAction,
    CloseCode,
    Opcode,
    close_label,
    close_policy,
    describe_close,
)
from birbctl.protocol.urls import build_gateway_url


def test_opcode_values() -> None:
    assert {op.name: op.value for op in Opcode} == {
        "DISPATCH": 0,
        "HEARTBEAT": 1,
        "IDENTIFY": 2,
        "PRESENCE_UPDATE": 3,
        "VOICE_STATE_UPDATE": 4,
        "RESUME": 6,
        "RECONNECT": 7,
        "REQUEST_GUILD_MEMBERS": 8,
        "INVALID_SESSION": 9,
        "HELLO": 10,
        "HEARTBEAT_ACK": 11,
        "REQUEST_SOUNDBOARD_SOUNDS": 31,
        "REQUEST_CHANNEL_INFO": 43,
    }


EXPECTED_POLICY = {
    None: CloseAction.RESUME,
    1000: CloseAction.RESUME,
    1001: CloseAction.RESUME,
    1006: CloseAction.RESUME,
    4000: CloseAction.RESUME,
    4001: CloseAction.RESUME,
    4002: CloseAction.RESUME,
    4003: CloseAction.RESUME,
    4004: CloseAction.FATAL,
    4005: CloseAction.RESUME,
    4006: CloseAction.REIDENTIFY,
    4007: CloseAction.REIDENTIFY,
    4008: CloseAction.RESUME,
    4009: CloseAction.REIDENTIFY,
    4010: CloseAction.FATAL,
    4011: CloseAction.FATAL,
    4012: CloseAction.FATAL,
    4013: CloseAction.FATAL,
    4014: CloseAction.FATAL,
}


@pytest.mark.parametrize(("code", "action"), EXPECTED_POLICY.items())
def test_close_policy_table(code: int | None, action: CloseAction) -> None:
    assert close_policy(code) is action
    assert describe_close(code)


def test_every_close_code_has_a_policy_and_a_name() -> None:
    assert set(CLOSE_POLICIES) == {None, *(c.value for c in CloseCode)}
    assert close_label(4004) == "4004 AUTHENTICATION_FAILED"
    assert close_label(None) == "no close code"
    assert close_label(4999) == "4999"
    assert "4999" in describe_close(4999)


def test_close_to_resume_does_not_invalidate() -> None:
    assert CLOSE_TO_RESUME not in (1000, 1001)
    assert 4000 <= CLOSE_TO_RESUME <= 4999


def test_intent_values_match_the_docs() -> None:
    assert Intents.GUILDS == 1
    assert Intents.GUILD_MESSAGES == 1 << 9
    assert Intents.MESSAGE_CONTENT == 1 << 15
    assert Intents.GUILD_SCHEDULED_EVENTS == 1 << 16
    assert Intents.AUTO_MODERATION_CONFIGURATION == 1 << 20
    assert Intents.AUTO_MODERATION_EXECUTION == 1 << 21
    assert Intents.GUILD_MESSAGE_POLLS == 1 << 24
    assert Intents.DIRECT_MESSAGE_POLLS == 1 << 25
    assert PRIVILEGED_INTENTS == (1 << 1) | (1 << 8) | (1 << 15)


@pytest.mark.parametrize(
    ("spec", "value"),
    [
        ("GUILDS,GUILD_MESSAGES", 513),
        ("guilds | guild-messages", 513),
        ("GUILDS GUILD_MESSAGES", 513),
        ("513", 513),
        ("0x201", 513),
        (513, 513),
        ("all", int(ALL_INTENTS)),
        ("default", int(DEFAULT_INTENTS)),
        ("default,MESSAGE_CONTENT", int(DEFAULT_INTENTS) | 1 << 15),
        ("none", 0),
        ("GUILD_BANS", 1 << 2),
    ],
)
def test_parse_intents(spec: str | int, value: int) -> None:
    assert parse_intents(spec) == value


@pytest.mark.parametrize("spec", ["", " , ", "GUILDZ", "GUILDS,NOPE", "-1", "12x", True])
def test_parse_intents_rejects(spec: str) -> None:
    with pytest.raises(ConfigError):
        parse_intents(spec)


def test_parse_intents_suggests_close_names() -> None:
    with pytest.raises(ConfigError, match="GUILD_MESSAGES"):
        parse_intents("GUILD_MESAGES")


def test_default_intents_are_not_privileged() -> None:
    assert int(DEFAULT_INTENTS) & int(PRIVILEGED_INTENTS) == 0
    assert privileged_in(int(ALL_INTENTS)) == [
        "GUILD_MEMBERS",
        "GUILD_PRESENCES",
        "MESSAGE_CONTENT",
    ]
    assert intent_names(513) == ["GUILDS", "GUILD_MESSAGES"]
    assert intent_names(1 << 30) == ["1<<30"]


@pytest.mark.parametrize(
    ("base", "kwargs", "url"),
    [
        ("wss://gateway.discord.gg", {}, "wss://gateway.discord.gg/?v=10&encoding=json"),
        ("wss://gateway.discord.gg/", {}, "wss://gateway.discord.gg/?v=10&encoding=json"),
        (
            "wss://gateway.discord.gg/?v=9&encoding=etf",
            {},
            "wss://gateway.discord.gg/?v=10&encoding=json",
        ),
        (
            "ws://127.0.0.1:8765/gw?token_hint=x",
            {"compress": "zstd-stream"},
            "ws://127.0.0.1:8765/gw?token_hint=x&v=10&encoding=json&compress=zstd-stream",
        ),
        (
            "wss://gateway.discord.gg",
            {"encoding": "etf", "compress": "zlib-stream"},
            "wss://gateway.discord.gg/?v=10&encoding=etf&compress=zlib-stream",
        ),
    ],
)
def test_build_gateway_url(base: str, kwargs: dict[str, str], url: str) -> None:
    options = {"encoding": "json", "compress": None, **kwargs}
    assert build_gateway_url(base, **options) == url  # type: ignore[arg-type]


@pytest.mark.parametrize("base", ["https://gateway.discord.gg", "gateway.discord.gg", "wss://"])
def test_build_gateway_url_rejects(base: str) -> None:
    with pytest.raises(ConfigError):
        build_gateway_url(base, encoding="json", compress=None)


def test_session_generate_url_uses_resume_url_only_for_resume() -> None:
    from gateway_harness import RESUME_URL, Harness

    h = Harness(compress="zlib-stream", gateway_url="wss://gateway.discord.gg")
    fresh = "wss://gateway.discord.gg/?v=10&encoding=json&compress=zlib-stream"
    assert h.session.generate_url() == fresh
    assert h.session.generate_url(resume=True) == fresh  # no resume URL yet
    assert h.session.url == fresh
    h.connect_ready()
    resume = RESUME_URL + "/?v=10&encoding=json&compress=zlib-stream"
    assert h.session.generate_url(resume=True) == resume
    assert h.session.generate_url(resume=False) == fresh


def test_client_close_code_rules_are_one_table() -> None:
    from birbctl.errors import LocalProtocolError
    from birbctl.protocol.opcodes import (
        check_client_close,
        client_may_send,
        ends_session,
        server_may_send,
    )

    assert [c for c in (999, 1000, 1001, 1002, 1006, 2999, 3000, 4000, 4999, 5000)
            if client_may_send(c)] == [1000, 1001, 3000, 4000, 4999]  # fmt: skip
    assert server_may_send(1011) and not server_may_send(1006) and not server_may_send(5000)
    check_client_close(4000, resume=True)
    check_client_close(1000, resume=False)
    with pytest.raises(LocalProtocolError, match="ends the session"):
        check_client_close(1001, resume=True)
    with pytest.raises(LocalProtocolError, match="1000, 1001 or 3000-4999"):
        check_client_close(1006, resume=False)
    # A gateway close ends the session exactly where the client may not resume after it.
    assert {c for c in CLOSE_POLICIES if c is not None and ends_session(c)} == {
        4004, 4006, 4007, 4009, 4010, 4011, 4012, 4013, 4014,
    }  # fmt: skip
    assert not ends_session(None) and not ends_session(4999)
