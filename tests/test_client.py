"""The client at its edges: arguments checked before any request, redirects that would carry the
key elsewhere refused, keys never shown, unparsable Retry-After, and transport failures that
become SendKitError subclasses. Every test talks real HTTP to a server on 127.0.0.1."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

import pytest

import sendkit_nb as sk
from sendkit_nb.demo import DemoServer, Faults
from tests.conftest import SleepRecorder
from tests.scripted_server import Answer, ScriptedServer, lead

KEY = "sk_secret_key_for_tests_123"
CAMPAIGN = "665a1b2c3d4e5f6a7b8c9d0e"
ONE_PAGE = {"data": [lead(1)], "pagination": {"page": 1, "limit": 100, "total": 1, "pages": 1}}


def client_for(url: str, **options: Any) -> sk.SendKitClient:
    options.setdefault("sleep", SleepRecorder())
    options.setdefault("retry", sk.RetryPolicy(rng=lambda: 0.5))
    return sk.SendKitClient(KEY, base_url=url, **options)


# -- arguments are checked in the constructor, before any request ----------------------------


@pytest.mark.parametrize(
    "base_url",
    ["127.0.0.1:8000", "api.sendkit.ai", "ftp://api.sendkit.ai", "file:///etc/passwd", "http://"],
)
def test_base_url_without_http_scheme_is_rejected(base_url: str) -> None:
    with pytest.raises(sk.BadRequestError, match="base_url") as caught:
        sk.SendKitClient(KEY, base_url=base_url)
    assert caught.value.hint


def test_base_url_with_credentials_is_rejected_without_echoing_them() -> None:
    with pytest.raises(sk.BadRequestError) as caught:
        sk.SendKitClient(KEY, base_url="https://user:hunter2@api.sendkit.ai")
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("timeout", [0, -1, math.nan, math.inf, "30", True])
def test_timeout_must_be_positive_seconds(timeout: Any) -> None:
    with pytest.raises(sk.BadRequestError, match="timeout"):
        sk.SendKitClient(KEY, base_url="http://127.0.0.1:9", timeout=timeout)


@pytest.mark.parametrize("deadline", [0, -5, math.nan])
def test_deadline_must_be_positive_seconds(deadline: float) -> None:
    with pytest.raises(sk.BadRequestError, match="deadline"):
        sk.SendKitClient(KEY, base_url="http://127.0.0.1:9", deadline=deadline)


@pytest.mark.parametrize("key", [123, b"sk_bytes", ["sk_x"]])
def test_key_that_is_not_a_string_is_an_authentication_error(key: Any) -> None:
    with pytest.raises(sk.AuthenticationError, match="must be a string"):
        sk.SendKitClient(key, base_url="http://127.0.0.1:9")


def test_whitespace_only_key_is_a_missing_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENDKIT_API_KEY", raising=False)
    with pytest.raises(sk.AuthenticationError, match="no API key"):
        sk.SendKitClient("  \t\n ", base_url="http://127.0.0.1:9")
    monkeypatch.setenv("SENDKIT_API_KEY", "   ")
    with pytest.raises(sk.AuthenticationError, match="no API key"):
        sk.SendKitClient(base_url="http://127.0.0.1:9")


@pytest.mark.parametrize(
    "key", ["sk_abc\ndef", "sk_abc\rX-Injected: 1", "sk_abc\x00", "sk_ab c", "sk_abc\u00e9"]
)
def test_key_with_control_or_non_ascii_characters_is_rejected_unshown(key: str) -> None:
    with pytest.raises(sk.AuthenticationError) as caught:
        sk.SendKitClient(key, base_url="http://127.0.0.1:9")
    shown = str(caught.value) + repr(caught.value) + caught.value.hint
    assert "sk_ab" not in shown
    assert "header" in str(caught.value)


def test_surrounding_whitespace_of_a_key_is_stripped() -> None:
    seen: list[str] = []

    def script(path: str, query: dict[str, str]) -> Answer:
        return 200, ONE_PAGE

    with ScriptedServer(script) as server:
        client = sk.SendKitClient(f"  {KEY}\n", base_url=server.url)
        assert sk.load_leads(client, CAMPAIGN, progress=False).height == 1
        seen = [h.get("X-Api-Key", "") for h in server.headers]
    assert seen == [KEY]


def test_bad_status_argument_is_a_bad_request() -> None:
    client = sk.SendKitClient(KEY, base_url="http://127.0.0.1:9")
    with pytest.raises(sk.BadRequestError):
        sk.load_leads(client, CAMPAIGN, status=5, progress=False)  # type: ignore[arg-type]


# -- redirects ---------------------------------------------------------------------------------


def test_redirect_to_another_origin_is_refused_and_the_key_stays_home() -> None:
    def elsewhere(path: str, query: dict[str, str]) -> Answer:
        return 200, ONE_PAGE

    with ScriptedServer(elsewhere) as other:

        def home(path: str, query: dict[str, str]) -> Answer:
            return 302, b"", {"Location": f"{other.url}{path}?limit=100"}

        with ScriptedServer(home) as server:
            client = client_for(server.url)
            with pytest.raises(sk.APIConnectionError) as caught:
                sk.load_leads(client, CAMPAIGN, progress=False)
    assert other.requests == []  # the other origin never saw a request, so never saw the key
    port = other.url.rsplit(":", 1)[1]
    assert f"http://127.0.0.1:{port}" in str(caught.value)
    assert "another origin" in str(caught.value)
    assert KEY not in str(caught.value)
    assert caught.value.status == 302
    assert len(server.requests) == 1  # refused, not retried


def test_redirect_to_another_scheme_is_refused() -> None:
    def home(path: str, query: dict[str, str]) -> Answer:
        return 301, b"", {"Location": "https://127.0.0.1/v1/campaigns"}

    with (
        ScriptedServer(home) as server,
        pytest.raises(sk.APIConnectionError, match=r"another origin, https://127\.0\.0\.1:443"),
    ):
        sk.load_campaigns(client_for(server.url))


def test_redirect_on_the_same_origin_is_followed_with_the_key() -> None:
    def home(path: str, query: dict[str, str]) -> Answer:
        if path.startswith("/old"):
            return 308, b"", {"Location": path.removeprefix("/old") + "?limit=100"}
        return 200, ONE_PAGE

    with ScriptedServer(home) as server:
        client = client_for(server.url + "/old")
        leads = sk.load_leads(client, CAMPAIGN, progress=False)
    assert leads.height == 1
    assert [p for p, _ in server.requests] == [
        f"/old/v1/campaigns/{CAMPAIGN}/leads",
        f"/v1/campaigns/{CAMPAIGN}/leads",
    ]
    assert all(h.get("X-Api-Key") == KEY for h in server.headers)


def test_redirect_loop_is_an_error_not_a_hang() -> None:
    def home(path: str, query: dict[str, str]) -> Answer:
        return 302, b"", {"Location": path}

    with ScriptedServer(home) as server:
        with pytest.raises(sk.APIConnectionError, match="redirect loop"):
            sk.load_campaigns(client_for(server.url))
        requests_made = len(server.requests)
    assert 2 <= requests_made <= 10


@pytest.mark.parametrize("location", ["http://[::1", "http://127.0.0.1:notaport/x", ""])
def test_malformed_redirect_location_is_a_clear_error(location: str) -> None:
    def home(path: str, query: dict[str, str]) -> Answer:
        return 302, b"", {"Location": location}

    with ScriptedServer(home) as server, pytest.raises(sk.APIConnectionError, match="redirect"):
        sk.load_campaigns(client_for(server.url))


# -- keys never shown --------------------------------------------------------------------------


def test_a_key_echoed_by_the_server_is_redacted_in_errors_and_logs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def home(path: str, query: dict[str, str]) -> Answer:
        if query.get("page") == "2":
            return 401, {"error": "Unauthorized", "message": f"Invalid API key {KEY}", "code": 401}
        return 503, {"error": "Unavailable", "message": f"busy serving key {KEY}", "code": 503}

    caplog.set_level(logging.DEBUG, logger="sendkit_nb")
    with ScriptedServer(home) as server:
        client = client_for(server.url, retry=sk.RetryPolicy(max_retries=2, rng=lambda: 0.5))
        with pytest.raises(sk.ServerError) as caught:
            sk.load_campaigns(client)
    assert "busy serving key <redacted key>" in str(caught.value)
    assert "retrying" in caplog.text  # the retries were logged ...
    assert KEY not in caplog.text  # ... without the key the server echoed
    assert KEY not in str(caught.value) + repr(caught.value)


def test_a_key_echoed_in_a_non_json_error_body_is_redacted() -> None:
    def home(path: str, query: dict[str, str]) -> Answer:
        return 403, f"<html>forbidden for {KEY}</html>".encode()

    with ScriptedServer(home) as server, pytest.raises(sk.PermissionDeniedError) as caught:
        sk.load_campaigns(client_for(server.url))
    assert "forbidden for <redacted key>" in str(caught.value)
    assert KEY not in str(caught.value)


# -- Retry-After -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "soon", "Wed, 99 Foo 2025 25:61:00 GMT"])
def test_unparsable_retry_after_falls_back_to_the_backoff(value: str) -> None:
    calls = 0

    def home(path: str, query: dict[str, str]) -> Answer:
        nonlocal calls
        calls += 1
        if calls <= 2:
            return (
                429,
                {"error": "Too Many Requests", "message": "slow down"},
                {"Retry-After": value},
            )
        return 200, {"data": [], "pagination": {"page": 1, "limit": 100, "total": 0, "pages": 0}}

    sleeps = SleepRecorder()
    with ScriptedServer(home) as server:
        campaigns = sk.load_campaigns(client_for(server.url, sleep=sleeps))
    assert campaigns.height == 0
    # RetryPolicy(rng=0.5): base 0.25 * 2**attempt * 0.75, the backoff without Retry-After.
    assert sleeps.calls == [pytest.approx(0.1875), pytest.approx(0.375)]


def test_retry_after_in_seconds_is_still_honoured() -> None:
    calls = 0

    def home(path: str, query: dict[str, str]) -> Answer:
        nonlocal calls
        calls += 1
        if calls == 1:
            return 429, {"message": "slow down"}, {"Retry-After": "7"}
        return 200, {"data": [], "pagination": {"page": 1, "limit": 100, "total": 0, "pages": 0}}

    sleeps = SleepRecorder()
    with ScriptedServer(home) as server:
        sk.load_campaigns(client_for(server.url, sleep=sleeps))
    assert sleeps.calls == [7.0]


# -- the deadline ------------------------------------------------------------------------------


def test_deadline_stops_retrying_instead_of_sleeping_past_it() -> None:
    def home(path: str, query: dict[str, str]) -> Answer:
        return 503, {"message": "down"}, {"Retry-After": "60"}

    sleeps = SleepRecorder()
    with ScriptedServer(home) as server:
        client = client_for(server.url, sleep=sleeps, deadline=5)
        with pytest.raises(sk.DeadlineExceededError, match="deadline") as caught:
            sk.load_campaigns(client)
    assert sleeps.calls == []  # a 60 s wait would end past the 5 s deadline: not slept
    assert isinstance(caught.value, sk.APIConnectionError)
    assert caught.value.status == 503


def _one_lead_page(path: str, query: dict[str, str]) -> Answer:
    return 200, {"data": [lead(1)], "pagination": {"page": 1, "pages": 1, "total": 1}}


def test_requests_go_straight_to_the_api_without_a_proxy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with ScriptedServer(_one_lead_page) as server:
        client = sk.SendKitClient("sk_test", base_url=server.url + "/api")
        leads = sk.load_leads(client, CAMPAIGN, progress=False)
    assert leads.height == 1
    # Origin form: the path (with the base URL's own prefix) and query, no scheme or host.
    assert server.targets[0].startswith(f"/api/v1/campaigns/{CAMPAIGN}/leads?")


def test_an_http_proxy_from_the_environment_is_used_as_requests_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Requests are sent through requests' adapter's connection pool, not Session.request, so
    # this checks that the environment's proxy settings still apply. The API's address is a
    # closed port: reaching it directly would fail.
    api = "http://127.0.0.1:9"
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    with ScriptedServer(_one_lead_page) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("http_proxy", proxy.url)
        client = sk.SendKitClient("sk_test", base_url=api, sleep=lambda s: None)
        leads = sk.load_leads(client, CAMPAIGN, progress=False)
    assert leads.height == 1
    # Absolute form, as an HTTP proxy needs it.
    assert proxy.targets[0].startswith(f"{api}/v1/campaigns/{CAMPAIGN}/leads?")


def test_closed_client_reopens_on_the_next_request() -> None:
    def home(path: str, query: dict[str, str]) -> Answer:
        return 200, ONE_PAGE

    with ScriptedServer(home) as server:
        client = client_for(server.url)
        assert client.closed
        assert sk.load_leads(client, CAMPAIGN, progress=False).height == 1
        assert not client.closed
        client.close()
        assert client.closed
        assert sk.load_leads(client, CAMPAIGN, progress=False).height == 1


# -- transport failures on the demo server: retried, then a SendKitError ------------------------

BODY_FAULTS = ["short_body", "chunked_broken", "bad_gzip", "truncated", "drop"]


@pytest.mark.parametrize("kind", BODY_FAULTS)
def test_a_broken_body_is_retried_and_the_load_completes(
    kind: str, client: sk.SendKitClient, server: DemoServer, sleeps: SleepRecorder
) -> None:
    campaign = server.workspace.campaigns[0]["_id"]
    expected = len(server.workspace.leads[campaign])
    server.fail_next(kind, 2)
    leads = sk.load_leads(client, campaign, progress=False)
    assert leads.height == expected
    assert leads["id"].n_unique() == expected
    assert len(sleeps.calls) == 2  # each broken answer cost one retry, nothing more


@pytest.mark.parametrize("kind", BODY_FAULTS)
def test_a_body_broken_every_time_is_an_api_connection_error(
    kind: str, server: DemoServer, sleeps: SleepRecorder
) -> None:
    server.fail_next(kind, 3)
    client = sk.SendKitClient(
        server.api_key,
        base_url=server.url,
        sleep=sleeps,
        retry=sk.RetryPolicy(max_retries=2, rng=lambda: 0.5),
    )
    with client, pytest.raises(sk.APIConnectionError, match="after 3 attempts") as caught:
        sk.load_campaigns(client)
    assert caught.value.hint


def test_a_dripped_body_is_cut_off_by_the_deadline(server: DemoServer) -> None:
    server.faults = Faults(drip=1.0, drip_seconds=0.02)
    campaign = server.workspace.campaigns[0]["_id"]
    client = sk.SendKitClient(server.api_key, base_url=server.url, timeout=5, deadline=1.5)
    started = time.monotonic()
    with client, pytest.raises(sk.DeadlineExceededError, match="deadline"):
        sk.load_leads(client, campaign, progress=False)
    # Each byte arrives well within the 5 s read timeout: only the deadline can end this,
    # and it must do so near 1.5 s, not after the minutes the whole page would take.
    assert time.monotonic() - started < 5


def test_load_leads_deadline_overrides_the_clients(server: DemoServer) -> None:
    server.faults = Faults(drip=1.0, drip_seconds=0.02)
    campaign = server.workspace.campaigns[0]["_id"]
    with sk.SendKitClient(server.api_key, base_url=server.url, timeout=5) as client:
        started = time.monotonic()
        with pytest.raises(sk.DeadlineExceededError):
            sk.load_leads(client, campaign, progress=False, deadline=1.0)
    assert time.monotonic() - started < 4


def test_a_refused_connection_is_told_apart_from_a_timeout() -> None:
    # urllib3 files a refused connection under ConnectTimeoutError; the message must not.
    client = sk.SendKitClient(
        "sk_test", base_url="http://127.0.0.1:9", retry=sk.RetryPolicy(max_retries=0)
    )
    with pytest.raises(sk.APIConnectionError) as info:
        sk.load_campaigns(client)
    assert "no response" in info.value.message
    assert "timeout" not in info.value.message
