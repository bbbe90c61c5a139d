"""The dashboard's routes on the manager's HTTP listener: read the store
(``prover.store.overview``, a handful of SELECTs a page), build the views
(``views``), render them with Jinja2 (autoescaped), behind ``auth``.

Pages: ``/`` (every miner's strip, active alerts, recent misses, workers),
``/deadline?miner=M&index=D[&period=P]`` (one deadline's partitions and
messages), ``/shadow[?miner=M]`` (shadow mode's comparison with the chain's
own PoSts: ``shadow``), ``/login`` (GET the form, POST the token) and
``/logout``.
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, StrictUndefined

from prover.alerts import Alert
from prover.buildinfo import build_info
from prover.chain.deadlines import MAINNET
from prover.dashboard.auth import (
    SESSION_SECONDS,
    Access,
    cleared_cookie,
    cookie_from,
    decide,
    host_name,
    is_loopback,
    pasted_token,
    session_cookie,
    token_refusal,
)
from prover.dashboard.shadow import (
    ShadowState,
    disagreements,
    shadow_strips,
    since_close,
)
from prover.dashboard.states import DeadlineState
from prover.dashboard.views import (
    ChainFacts,
    Rows,
    ago,
    chain_ranges,
    chain_strips,
    deadline_page,
    fee_text,
    store_strips,
)
from prover.logs import get_logger
from prover.metrics.http import Request, Response, Route, method_not_allowed
from prover.store.database import Database
from prover.store.errors import StoreUnavailable
from prover.store.overview import Overview
from prover.store.shadow import ShadowBook

log = get_logger("prover.dashboard")

REFRESH_S = 5
RECENT_MISSES = 20
RECENT_DISAGREEMENTS = 50
# the rows a shadow page reads at most (two periods of 25 miners' 48
# deadlines of 5 partitions is 12,000)
SHADOW_ROWS = 20_000
HTML = "text/html; charset=utf-8"
# a mark beside the colour of each state, for who cannot tell the colours apart
MARKS = {
    DeadlineState.CURRENT: "\u25b8",  # a small triangle: under way
    DeadlineState.PROVEN: "\u2713",  # a check mark
    DeadlineState.PARTLY_FAULTY: "!",
    DeadlineState.FAULTY: "\u26a0",  # a warning sign
    DeadlineState.MISSED: "\u2717",  # a cross
    DeadlineState.EMPTY: "",
}


def _sectors(numbers) -> str:
    """Sector numbers for a table cell: all of a few, the count of many."""
    numbers = list(numbers)
    if len(numbers) <= 12:
        return ", ".join(map(str, numbers))
    return f"{', '.join(map(str, numbers[:10]))} ... ({len(numbers)} sectors)"


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.0f} GiB"


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("prover.dashboard", "templates"),
        autoescape=True,  # every value is text, whatever a row or alert holds
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(ago=ago, fil=fee_text, sectors=_sectors, gib=_gib)
    # which release and commit this manager runs: upgrades go host by host
    env.globals["build"] = build_info().describe()
    return env


def _query(request: Request) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(request.query).items()}


class Dashboard:
    """The pages over one manager's store. ``chain`` gives the tracker's
    facts, or on a standby the leader's (None: no chain is followed),
    ``alerts`` the active alerts (read from the thread that serves the page;
    the alert watch fills them from its own)."""

    def __init__(
        self,
        db: Database,
        *,
        secret: bytes,
        listen_host: str,
        chain: Callable[[], ChainFacts | None] = lambda: None,
        alerts: Callable[[], list[Alert]] = list,
        storage_hosts: Callable[[], list[tuple[Any, bool]]] = list,
        managers: Callable[[], dict[str, Any] | None] = lambda: None,
        wall: Callable[[], float] = time.time,
        refresh_s: int = REFRESH_S,
    ) -> None:
        self.overview = Overview(db)
        self.shadow_book = ShadowBook(db)
        self.storage_hosts = storage_hosts  # (StorageHostRow, live) of the index
        # who leads and the managers on the database: {"leader": Leadership,
        # "managers": [(ManagerRow, live)], "me": name}; None with one manager
        self.managers = managers
        self.secret = secret
        self.loopback = is_loopback(listen_host)
        self.chain = chain
        self.alerts = alerts
        self.wall = wall
        self.refresh_s = refresh_s
        self.env = environment()

    def routes(self) -> dict[str, Route]:
        return {
            "/": self._guarded(self.index),
            "/deadline": self._guarded(self.deadline),
            "/shadow": self._guarded(self.shadow),
            "/login": self.login,
            "/logout": self.logout,
        }

    # ---- access -----------------------------------------------------------------

    def access(self, request: Request) -> Access:
        # a loopback listener reached under another name (a proxy, or DNS
        # rebinding from a browser on this machine) asks for the token too
        host = host_name(request.headers.get("Host"))
        loopback = self.loopback and (host is None or is_loopback(host))
        return decide(
            self.secret,
            loopback=loopback,
            authorization=request.headers.get("Authorization"),
            cookie=cookie_from(request.headers.get("Cookie")),
            now=self.wall(),
        )

    def _guarded(self, page: Callable[[Request], Response]) -> Route:
        def serve(request: Request) -> Response:
            if request.method != "GET":
                return method_not_allowed("GET")
            access = self.access(request)
            if not access.allowed:
                return self._refused(access)
            try:
                return page(request)
            except StoreUnavailable as exc:
                log.warning("dashboard_store_unavailable", error=str(exc))
                return self._text(503, f"the database is unavailable: {exc}")

        return serve

    def _refused(self, access: Access) -> Response:
        if access.login:  # a browser without a session: to the form
            return self._redirect("/login")
        return self._render(
            "login.html",
            401,
            error=access.reason,
            logout=False,
            headers=(("WWW-Authenticate", 'Bearer realm="prover dashboard"'),),
        )

    # ---- pages ------------------------------------------------------------------

    def index(self, request: Request) -> Response:
        chain = self.chain()
        if chain is not None:
            ranges = chain_ranges(chain)
            rows = Rows.of(
                self.overview.strip_jobs(ranges),
                self.overview.strip_posts(ranges),
                self.overview.strip_misses(ranges),
            )
            strips = chain_strips(chain, rows)
        else:
            strips = store_strips(Rows.of(self.overview.latest_jobs()))
        running = defaultdict(list)
        for r in self.overview.running():
            running[r.worker].append(r)
        alerts, alerts_error = [], ""
        try:
            alerts = self.alerts()
        except Exception as exc:  # the page goes on without them
            log.exception("dashboard_alerts_failed")
            alerts_error = f"alerts unavailable: {type(exc).__name__}: {exc}"
        return self._render(
            "overview.html",
            chain=chain,
            chain_line=self._chain_line(chain),
            strips=strips,
            states=list(DeadlineState),
            marks={s.value: m for s, m in MARKS.items()},
            alerts=alerts,
            alerts_error=alerts_error,
            misses=self.overview.recent_misses(RECENT_MISSES),
            workers=self.overview.workers(),
            running=running,
            storage_hosts=self.storage_hosts(),
            managers=self._managers(),
            shadow_nav=bool(self.shadow_book.rows(limit=1)),
            refresh_s=self.refresh_s,
        )

    def _managers(self) -> dict[str, Any] | None:
        try:
            return self.managers()
        except Exception:  # the page goes on without the section
            log.exception("dashboard_managers_failed")
            return None

    def deadline(self, request: Request) -> Response:
        q = _query(request)
        try:
            miner, index = int(q["miner"]), int(q["index"])
            period = int(q["period"]) if q.get("period") else None
        except (KeyError, ValueError):
            return self._text(400, "expected /deadline?miner=M&index=D[&period=P] (integers)")
        chain = self.chain()
        head = chain.heads.get(miner) if chain is not None else None
        deadlines = head.policy.period_deadlines if head is not None else MAINNET.period_deadlines
        if not 0 <= index < deadlines:
            return self._text(400, f"deadline index {index} out of range 0..{deadlines - 1}")
        if period is None:
            period = self._period_of(chain, miner, index)
        if period is None:
            return self._text(404, f"nothing recorded for miner {miner} deadline {index}")
        page = deadline_page(
            miner,
            index,
            period,
            self.overview.deadline_jobs(miner, period, index),
            self.overview.deadline_messages(miner, period, index),
            self.overview.deadline_misses(miner, period, index),
            chain=chain,
        )
        return self._render(
            "deadline.html",
            d=page,
            chain_line=self._chain_line(chain),
            refresh_s=self.refresh_s,
        )

    def shadow(self, request: Request) -> Response:
        q = _query(request)
        try:
            miner = int(q["miner"]) if q.get("miner") else None
        except ValueError:
            return self._text(400, "expected /shadow[?miner=M] (an integer)")
        chain = self.chain()
        if miner is not None and chain is not None:
            chain = replace(chain, miners=[miner])
        rows = self.shadow_book.rows(miner, since_close=since_close(chain), limit=SHADOW_ROWS)
        recent = self.shadow_book.rows(
            miner, outcomes=("chain_only", "ours_only"), limit=RECENT_DISAGREEMENTS
        )
        return self._render(
            "shadow.html",
            chain_line=self._chain_line(chain),
            miner=miner,
            strips=shadow_strips(rows, chain),
            states=list(ShadowState),
            disagreements=disagreements(recent, RECENT_DISAGREEMENTS),
            shadow_nav=True,
            refresh_s=self.refresh_s,
        )

    def _period_of(self, chain: ChainFacts | None, miner: int, index: int) -> int | None:
        """The strip's occurrence of deadline ``index``: from the chain, or
        the latest in the store without one."""
        if chain is not None and chain.epoch is not None and miner in chain.heads:
            for r in chain_ranges(ChainFacts(chain.epoch, [miner], chain.heads)):
                if r.first <= index <= r.last:
                    return r.period_start
            return None
        return self.overview.latest_period(miner, index)

    def login(self, request: Request) -> Response:
        if request.method == "GET":
            if self.access(request).allowed:
                return self._redirect("/")
            return self._render("login.html", error="", logout=False)
        if request.method != "POST":
            return method_not_allowed("GET, POST")
        form = parse_qs(request.body.decode("utf-8", "replace"))
        token = pasted_token((form.get("token") or [""])[-1])
        refusal = token_refusal(self.secret, token) if token else "no token given"
        if refusal is not None:
            log.warning("dashboard_login_refused", reason=refusal)
            return self._render("login.html", 401, error=refusal, logout=False)
        log.info("dashboard_login")
        return self._redirect("/", (("Set-Cookie", session_cookie(self.secret, self.wall())),))

    def logout(self, request: Request) -> Response:
        if request.method != "POST":
            return method_not_allowed("POST")
        return self._redirect("/login", (("Set-Cookie", cleared_cookie()),))

    # ---- responses --------------------------------------------------------------

    def _chain_line(self, chain: ChainFacts | None) -> str:
        if chain is None:
            return "no chain is followed: showing what the store has (jobs added by hand)"
        if chain.leader is not None:
            return _standby_line(chain)
        if chain.epoch is None:
            return "following the chain: no head yet"
        return f"chain epoch {chain.epoch}"

    def _render(
        self,
        template: str,
        status: int = 200,
        *,
        headers: tuple[tuple[str, str], ...] = (),
        **context,
    ) -> Response:
        nonce = secrets.token_urlsafe(16)
        now = datetime.fromtimestamp(self.wall(), UTC)
        context.setdefault("refresh_s", 0)
        context.setdefault("logout", not self.loopback)
        context.setdefault("shadow_nav", False)
        body = self.env.get_template(template).render(
            nonce=nonce,
            now=now,
            updated=now.strftime("%H:%M:%S UTC"),
            session_hours=SESSION_SECONDS // 3600,
            **context,
        )
        return Response(status, body.encode(), HTML, (*_headers(nonce), *headers))

    def _redirect(self, to: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
        return Response(303, b"", HTML, (("Location", to), *_headers(""), *headers))

    def _text(self, status: int, text: str) -> Response:
        return Response(status, (text + "\n").encode(), headers=_headers(""))


def _standby_line(chain: ChainFacts) -> str:
    """A standby's header: it follows no chain itself, so it says whose
    chain view this is and how old its epoch may be (the leader publishes
    its head each time it renews the lease)."""
    if chain.leader:
        who, whose = f"{chain.leader} leads and follows the chain", chain.leader
    else:
        who, whose = "no manager leads now", "the last leader"
    if chain.epoch is None:
        return f"this manager stands by: {who}; no chain epoch reported yet"
    return f"this manager stands by: {who}; chain epoch {chain.epoch} as {whose} last reported it"


def _headers(nonce: str) -> tuple[tuple[str, str], ...]:
    """No caching of what the operator sees, no framing, scripts and styles
    only our own (by nonce)."""
    own = f"'nonce-{nonce}'" if nonce else "'none'"
    policy = (
        f"default-src 'none'; script-src {own}; style-src {own}; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
    return (
        ("Cache-Control", "no-store"),
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
    )
