"""Who may see the dashboard: the decision on each request, the session
cookie the login sets, and which listeners count as loopback."""

from __future__ import annotations

import pytest

from prover.api.tokens import make_token, token_perm
from prover.dashboard.auth import (
    COOKIE,
    SESSION_SECONDS,
    cookie_from,
    decide,
    host_name,
    is_loopback,
    pasted_token,
    session_cookie,
    session_valid,
    session_value,
    token_refusal,
)

SECRET = bytes(range(32))
OTHER = bytes(32)
NOW = 1_800_000_000.0
ADMIN = make_token(SECRET, "admin")
WORKER = make_token(SECRET, "worker")


def off_loopback(authorization=None, cookie=None, now=NOW):
    return decide(SECRET, loopback=False, authorization=authorization, cookie=cookie, now=now)


def test_on_loopback_no_credentials_are_needed():
    assert decide(SECRET, loopback=True, authorization=None, cookie=None, now=NOW).allowed


def test_off_loopback_without_credentials_the_browser_goes_to_the_login():
    access = off_loopback()
    assert not access.allowed and access.login


def test_the_admin_token_in_a_bearer_header_is_enough():
    assert off_loopback(f"Bearer {ADMIN}").allowed
    assert off_loopback(f"bearer  {ADMIN} ").allowed


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (f"Bearer {WORKER}", "worker token"),
        (f"Bearer {make_token(OTHER, 'admin')}", "not a token of this manager"),
        ("Bearer admin.0000", "not a token of this manager"),
        (f"Basic {ADMIN}", "Bearer"),
        ("Bearer ", "Bearer"),
    ],
)
def test_anything_but_this_managers_admin_token_is_refused_saying_why(header, reason):
    access = off_loopback(header)
    assert not access.allowed and not access.login  # 401, not the login form
    assert reason in access.reason


def test_a_bad_header_is_not_rescued_by_a_good_cookie():
    access = off_loopback(f"Bearer {WORKER}", session_value(SECRET, NOW))
    assert not access.allowed


def test_the_session_cookie_opens_the_dashboard_until_it_expires():
    value = session_value(SECRET, NOW)
    assert off_loopback(cookie=value).allowed
    assert off_loopback(cookie=value, now=NOW + SESSION_SECONDS - 1).allowed
    ended = off_loopback(cookie=value, now=NOW + SESSION_SECONDS)
    assert not ended.allowed and ended.login  # back to the login form


@pytest.mark.parametrize(
    "value",
    [
        session_value(OTHER, NOW),  # made under another secret
        ADMIN,  # the token itself is not a session
        "99999999999.deadbeef",  # a far expiry with a made-up MAC
        "",
        "garbage",
    ],
)
def test_a_forged_or_foreign_cookie_is_refused(value):
    assert not session_valid(SECRET, value, NOW)
    assert not off_loopback(cookie=value or "x").allowed


def test_a_changed_expiry_breaks_the_mac():
    expires, _, mac = session_value(SECRET, NOW).partition(".")
    assert not session_valid(SECRET, f"{int(expires) + 86400}.{mac}", NOW)


def test_the_cookie_is_not_an_api_token_and_is_kept_from_scripts():
    header = session_cookie(SECRET, NOW)
    name, _, rest = header.partition("=")
    value = rest.partition(";")[0]
    assert name == COOKIE and token_perm(SECRET, value) is None  # opens no gRPC call
    attributes = {a.strip() for a in rest.split(";")[1:]}
    assert {"HttpOnly", "SameSite=Strict", "Path=/", f"Max-Age={SESSION_SECONDS}"} <= attributes


def test_the_login_takes_only_this_managers_admin_token():
    assert token_refusal(SECRET, ADMIN) is None
    assert token_refusal(SECRET, f" {ADMIN}\n") is None  # pasted with a newline
    assert "worker" in token_refusal(SECRET, WORKER)
    assert token_refusal(SECRET, make_token(OTHER, "admin")) == "not a token of this manager"


def test_the_login_takes_the_token_or_the_api_info_line_it_is_in():
    line = f"PROVER_API_INFO={ADMIN}:10.0.0.5:9700"
    assert pasted_token(line) == ADMIN
    assert pasted_token(f"{ADMIN}:10.0.0.5:9700\n") == ADMIN
    assert pasted_token(f"  {ADMIN} ") == ADMIN
    assert token_refusal(SECRET, pasted_token(f"PROVER_API_INFO={WORKER}:h:1")) is not None


def test_the_session_cookie_is_found_among_others():
    value = session_value(SECRET, NOW)
    assert cookie_from(f"theme=dark; {COOKIE}={value}; other=1") == value
    assert cookie_from("theme=dark") is None
    assert cookie_from(None) is None
    assert cookie_from(f"{COOKIE}=") is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.1.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),  # every interface
        ("::", False),
        ("10.1.2.3", False),
        ("192.168.0.10", False),
        ("prover.example.net", False),  # a name could resolve to anything
        ("", False),
    ],
)
def test_which_listeners_are_loopback(host, loopback):
    assert is_loopback(host) == loopback


@pytest.mark.parametrize(
    ("header", "host"),
    [
        ("127.0.0.1:9701", "127.0.0.1"),
        ("[::1]:9701", "::1"),
        ("localhost", "localhost"),
        ("evil.example:80", "evil.example"),
        ("", None),
        (None, None),
    ],
)
def test_the_host_of_a_host_header(header, host):
    assert host_name(header) == host
