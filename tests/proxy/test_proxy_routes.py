"""ResumeRoutes: the proxy URL handed out for a real resume URL leads back to it, with
whatever query the bot puts on it, and the table stays bounded."""

from __future__ import annotations

import pytest

from birbctl.proxy.routes import RESUME_PREFIX, ResumeRoutes, is_resume_path

REAL = "wss://gateway-us-east1-b.discord.gg"
BASE = "ws://127.0.0.1:4567"


def test_the_proxy_url_leads_back_with_the_bots_own_query() -> None:
    routes = ResumeRoutes(BASE)
    url = routes.register(REAL)
    assert url.startswith(BASE + RESUME_PREFIX)
    path = url[len(BASE) :]
    assert routes.lookup(path) == REAL
    assert routes.lookup(path + "?v=10&encoding=json&compress=zlib-stream") == REAL
    assert routes.lookup(path + "/?v=10&encoding=etf") == REAL  # libraries that add a /
    assert routes.lookup(url + "?v=10") == REAL  # the whole URL, as a bot would print it
    assert is_resume_path(path + "?v=10")


def test_keys_are_opaque_and_unknown_ones_lead_nowhere() -> None:
    routes = ResumeRoutes(BASE)
    url = routes.register(REAL)
    key = url.rsplit("/", 1)[1]
    assert "discord" not in key and len(key) >= 16
    assert routes.register(REAL) == url  # one key per real URL: the table stays small
    other = routes.register(REAL + "/other")
    assert other != url
    assert routes.lookup(RESUME_PREFIX + "not-a-key") is None
    assert routes.lookup(RESUME_PREFIX) is None
    assert routes.lookup("/?v=10") is None
    assert not is_resume_path("/?v=10&encoding=json")


def test_the_oldest_route_goes_first() -> None:
    routes = ResumeRoutes(BASE, limit=2)
    first = routes.register("wss://a.example")[len(BASE) :]
    second = routes.register("wss://b.example")[len(BASE) :]
    assert routes.lookup(first) == "wss://a.example"  # used: now the newest
    routes.register("wss://c.example")
    assert len(routes) == 2
    assert routes.lookup(second) is None
    assert routes.lookup(first) == "wss://a.example"


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ResumeRoutes(limit=0)


def test_the_base_may_come_later() -> None:
    routes = ResumeRoutes()
    routes.base = BASE + "/"
    assert routes.register(REAL).startswith(BASE + RESUME_PREFIX)
