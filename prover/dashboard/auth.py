"""Who may see the dashboard: the auth decision, free of I/O.

The dashboard shows everything the admin API does, so off loopback it takes
the admin token, as the gRPC admin methods do: in an ``Authorization:
Bearer`` header (scripts, curl) or through the login form, which checks the
token once and sets a session cookie. The cookie is not the token: it is an
HMAC under the manager's secret of its expiry, so a cookie that leaks opens
the read-only dashboard for at most ``SESSION_SECONDS`` and never the API,
and a new secret ends every session. A worker token is refused: workers
prove, they do not read the operator's view. On a loopback listener
everything is open, like ``/metrics`` (whoever is on the machine can read
the database anyway).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie

from prover.api.tokens import token_perm

COOKIE = "prover_dashboard"
SESSION_SECONDS = 12 * 3600


def is_loopback(host: str) -> bool:
    """Whether a listener bound to ``host`` is reachable from this machine
    only. A name other than localhost is not trusted to be (it may resolve
    to anything)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str | None) -> str | None:
    """The host of a Host header ("127.0.0.1:9701", "[::1]:9701",
    "localhost"), or None when there is none."""
    if not header or not header.strip():
        return None
    header = header.strip()
    if header.startswith("["):
        return header[1:].partition("]")[0]
    return header.partition(":")[0]


def _mac(secret: bytes, expires: int) -> str:
    return hmac.new(secret, f"dashboard-session:{expires}".encode(), hashlib.sha256).hexdigest()


def session_value(secret: bytes, now: float) -> str:
    """A new session cookie's value, valid until now + SESSION_SECONDS."""
    expires = int(now) + SESSION_SECONDS
    return f"{expires}.{_mac(secret, expires)}"


def session_valid(secret: bytes, value: str, now: float) -> bool:
    expires, _, mac = value.partition(".")
    if not expires.isdigit() or int(expires) <= now:
        return False
    return hmac.compare_digest(mac, _mac(secret, int(expires)))


def session_cookie(secret: bytes, now: float) -> str:
    """The Set-Cookie header value for a session that starts now."""
    value = session_value(secret, now)
    return f"{COOKIE}={value}; Max-Age={SESSION_SECONDS}; Path=/; HttpOnly; SameSite=Strict"


def cleared_cookie() -> str:
    return f"{COOKIE}=; Max-Age=0; Path=/; HttpOnly; SameSite=Strict"


def cookie_from(header: str | None) -> str | None:
    """The session cookie's value in a Cookie header, if any."""
    if not header:
        return None
    jar = SimpleCookie()
    try:
        jar.load(header)
    except CookieError:
        return None
    morsel = jar.get(COOKIE)
    return morsel.value if morsel is not None and morsel.value else None


@dataclass(frozen=True)
class Access:
    """The decision on one request. Refused with ``login`` set, a browser
    is sent to the login form (no credentials, or a session that ended);
    without it the credentials shown were wrong (401)."""

    allowed: bool
    reason: str
    login: bool = False


def pasted_token(text: str) -> str:
    """The token in what an operator pastes into the login form: the token
    itself, or the whole line ``prover-manager auth api-info --perm admin``
    prints (``PROVER_API_INFO=<token>:<host:port>``; a token has no colon)."""
    return text.strip().removeprefix("PROVER_API_INFO=").partition(":")[0]


def token_refusal(secret: bytes, token: str) -> str | None:
    """Why ``token`` does not open the dashboard, or None if it does."""
    perm = token_perm(secret, token.strip())
    if perm == "admin":
        return None
    if perm == "worker":
        return "a worker token cannot open the dashboard: use an admin token"
    return "not a token of this manager"


def decide(
    secret: bytes,
    *,
    loopback: bool,
    authorization: str | None,
    cookie: str | None,
    now: float,
) -> Access:
    """May this request see the dashboard? ``authorization`` is the
    Authorization header, ``cookie`` the session cookie's value."""
    if loopback:
        return Access(True, "loopback listener")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return Access(False, "expected Authorization: Bearer <admin token>")
        refusal = token_refusal(secret, token)
        return Access(True, "admin token") if refusal is None else Access(False, refusal)
    if cookie:
        if session_valid(secret, cookie, now):
            return Access(True, "session")
        return Access(False, "the session ended: log in again", login=True)
    return Access(False, "log in with the admin token", login=True)
