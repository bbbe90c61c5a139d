"""The dashboard over a real store (SQLite and PostgreSQL) and the real
HTTP listener: each deadline's state on the strip, a deadline's partitions,
workers, misses and alerts as an operator reads them; who gets in off
loopback; and that a page stays a handful of small queries at a large
provider's size."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from html.parser import HTMLParser
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import event, insert

from conftest import KIB2, job_spec
from prover.alerts import Alert
from prover.api.tokens import make_token
from prover.chain.deadlines import Policy, deadline_info
from prover.chain.lotus import LotusError, ProvingDeadline
from prover.config import ChainConfig
from prover.dashboard.auth import COOKIE, SESSION_SECONDS, session_value
from prover.manager.standby import StandbyChain
from prover.manager.web import start_http
from prover.proofs import SectorRef
from prover.store import MessageKind, Miss, StorageHosts, WorkerRegistry
from prover.store.lease import ChainLease
from prover.store.models import JobRow, MessageRow

# 8 deadlines of 10 epochs (a period of 80); at epoch 133 deadline 5 of the
# period starting at 80 is open, so the strip shows deadlines 0-5 of that
# period and 6-7 of the one before (starting at 0)
POLICY = Policy.devnet(challenge_window=10, period_deadlines=8)
EPOCH = 133
MINER = 1000
SECRET = bytes(range(32))
FEE = 123_456_789_000_000  # attoFIL: 0.000123456789 FIL
GPU = {"index": 0, "name": "NVIDIA RTX 4090", "uuid": "GPU-5f1c", "memory_total": 24 << 30}


class Page(HTMLParser):
    """The strip cells, partition rows and text of a rendered page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.cells: dict[tuple[int, int], str] = {}
        self.partitions: dict[int, str] = {}
        self.text: list[str] = []
        self._miner = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-miner" in a:
            self._miner = int(a["data-miner"])
        if "data-deadline" in a:
            self.cells[(self._miner, int(a["data-deadline"]))] = a["data-state"]
        if "data-partition" in a:
            self.partitions[int(a["data-partition"])] = a["data-outcome"]

    def handle_data(self, data):
        if data.strip():
            self.text.append(" ".join(data.split()))

    @property
    def all_text(self) -> str:
        return " ".join(self.text)

    def states(self, miner: int = MINER) -> list[str]:
        return [s for (m, _), s in sorted(self.cells.items()) if m == miner]


class Chain:
    """A store laid out as the tracker leaves it, one deadline per state."""

    def __init__(self, store, ledger) -> None:
        self.store, self.ledger = store, ledger

    def add(self, deadline, partition=0, *, period=80, skipped=(), miner=MINER, generation=0):
        close = period + (deadline + 1) * POLICY.challenge_window
        spec = job_spec(
            partition,
            miner=miner,
            deadline=deadline,
            period_start=period,
            open_epoch=close - POLICY.challenge_window,
            close_epoch=close,
            sectors=(1, 2, 3, 4),
            skipped=skipped,
            generation=generation,
        )
        ((job_id, _),) = self.store.add_jobs([spec])
        return job_id

    def claim(self, job_id, worker="w1"):
        others = [j.id for j in self.store.list_jobs(states=["ready"]) if j.id != job_id]
        job = self.store.claim(worker, exclude=others)
        assert job is not None and job.id == job_id
        return job

    def prove(self, job_id, faulty=()):
        job = self.claim(job_id)
        self.store.finish("w1", job.id, job.attempt, success=True, proof=b"p" * 192, faulty=faulty)

    def fail(self, job_id):
        for _ in range(2):  # max_tries
            job = self.claim(job_id)
            self.store.finish("w1", job.id, job.attempt, success=False, error="GPU fell off")

    def send(self, deadline, partitions, job_ids, *, exit_code=0, period=80, cid=None):
        row = self.ledger.record_push(
            kind=MessageKind.POST,
            miner=MINER,
            period_start=period,
            deadline=deadline,
            partitions=partitions,
            cid=cid or f"bafy2bzace{deadline}{period}x",
            pushed_epoch=period + deadline * 10 + 2,
            job_ids=job_ids,
        )
        if exit_code is not None:
            self.ledger.executed(
                row.id,
                exit_code=exit_code,
                epoch=period + deadline * 10 + 3,
                gas_used=41_000_000,
                base_fee=100,
                fee_paid=FEE,
            )

    def miss(self, deadline, partition=0, *, period=80, reason="why"):
        close = period + (deadline + 1) * 10
        self.ledger.record_miss(Miss(MINER, period, deadline, partition, close, [1, 2], reason))


def lay_out(store, ledger) -> Chain:
    workers = WorkerRegistry(store.db, clock=store.clock)
    c = Chain(store, ledger)
    workers.register("w1", host="gpu-box-1", gpus=[GPU], cpus=16, cpuset="0-15")
    workers.register("w2", host="gpu-box-2", allowed_miners=[MINER])
    workers.set_draining("w2")
    # deadline 0: nothing -> empty
    # deadline 1: two partitions in one landed message -> proven
    d1 = [c.add(1, 0), c.add(1, 1)]
    for j in d1:
        c.prove(j)
    c.send(1, [0, 1], d1)
    # deadline 2: sector 3 not found when planned, 4 found faulty -> partly faulty
    d2 = c.add(2, skipped=[3])
    c.prove(d2, faulty=[4])
    c.send(2, [0], [d2])
    # deadline 3: out of tries, missed
    d3 = c.add(3)
    c.fail(d3)
    c.miss(3, reason="deadline closed at epoch 120 after 2 failed tries; last error: GPU fell off")
    # deadline 4: proven, but its message failed on chain -> faulty
    d4 = c.add(4)
    c.prove(d4)
    c.send(4, [0], [d4], exit_code=16)
    c.miss(4, reason="message bafy2bzace480x failed on chain with exit code 16")
    # deadline 5: open now, w1 proving it
    c.claim(c.add(5))
    # deadline 6 of the period before: proven; deadline 7: a newer generation proven
    d6 = c.add(6, period=0)
    c.prove(d6)
    c.send(6, [0], [d6], period=0)
    old = c.add(7, period=0)
    c.fail(old)
    d7 = c.add(7, period=0, generation=1)
    c.prove(d7)
    c.send(7, [0], [d7], period=0)
    # an older occurrence of deadline 3 whose sectors were nowhere (so no job
    # was made): in the recent misses, not on the strip
    c.miss(3, period=0, reason="no sector of the partition was found on any storage ([1, 2])")
    return c


def tracker_at(epoch: int = EPOCH, miners=(MINER,), confidence: int = 1):
    """The facts the manager's tracker holds (its head, each miner's
    deadline as last read a few epochs ago)."""
    info = deadline_info(80, 4, epoch - 6, POLICY)
    return SimpleNamespace(
        epoch=epoch,
        heads={m: ProvingDeadline(info, POLICY) for m in miners},
        config=SimpleNamespace(miners=list(miners), confidence=confidence, shadow=False),
    )


def job_row(miner, start, deadline, partition, close, now) -> dict:
    sectors = [SectorRef(n, bytes([n]) + bytes(31), "store-1", "store-1") for n in (1, 2)]
    return dict(
        miner=miner, proof_type=KIB2.chain_id, period_start=start, deadline=deadline,
        partition=partition, generation=0, challenge_epoch=close - 80, open_epoch=close - 60,
        close_epoch=close, randomness=bytes(32), sectors=sectors, sector_count=2, min_sector=1,
        max_sector=2, skipped=[], faulty=[], state="succeeded", tries=1, max_tries=2, attempt=1,
        finished_attempt=1, worker="w1", created_at=now, updated_at=now, finished_at=now,
        proof=bytes(192), dry_run=False,
    )  # fmt: skip


def message_row(miner, start, deadline, close, now) -> dict:
    return dict(
        miner=miner, period_start=start, deadline=deadline, partitions=[0, 1, 2, 3, 4],
        job_ids=[], cid=f"bafy-{miner}-{start}-{deadline}", kind="post", state="pending",
        pushed_epoch=close - 50, created_at=now, updated_at=now, replaced_cids=[],
    )  # fmt: skip


ALERTS = [
    Alert(
        "PartitionMissed",
        {"miner": str(MINER), "deadline": "3", "partition": "0"},
        summary="miner 1000 deadline 3 partition 0 missed <script>alert(1)</script>",
        starts_at=datetime.now(UTC),
    )
]


@pytest.fixture
def served(store, ledger):
    lay_out(store, ledger)
    servers = []

    hosts = StorageHosts(store.db, timeout_s=15)
    hosts.announce("store-a", address="10.0.0.7:9702", storages=["store-1", "store-2"])

    def serve(
        listen="127.0.0.1:0", *, tracker=None, alerts=lambda: ALERTS, chain=True, standby=None
    ):
        tracker = tracker or (tracker_at() if chain else None)
        http = start_http(
            listen,
            CollectorRegistry(),
            store=store,
            tracker=(lambda: tracker) if tracker is not None else None,
            standby=standby,
            secret=SECRET,
            alerts=alerts,
            storage_hosts=lambda: [(h, hosts.live(h)) for h in hosts.list()],
        )
        servers.append(http)
        return f"http://127.0.0.1:{http.port}"

    yield serve
    for s in servers:
        s.stop()


def get(url, **kw):
    return httpx.get(url, timeout=30, follow_redirects=False, **kw)


def test_the_strip_shows_each_deadlines_state_and_the_page_the_rest(served):
    base = served()
    got = get(f"{base}/")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    assert got.headers["cache-control"] == "no-store"
    page = Page(got.text)
    assert page.states() == [
        "empty", "proven", "partly-faulty", "missed", "faulty", "current", "proven", "proven",
    ]  # fmt: skip
    text = page.all_text
    assert "chain epoch 133" in text
    assert "deadline 5 open (epochs 130-140), next Close in 7 s" in text
    # workers: GPU facts, cpuset, draining, what each is proving, last heartbeat
    assert "NVIDIA RTX 4090 (24 GiB)" in text and "0-15" in text
    assert "t01000 deadline 5 partition 0" in text
    assert "draining" in text and "ago" in text
    # recent misses, newest first, both periods
    assert text.index("found on any storage") < text.index("after 2 failed tries")
    # active alerts, escaped like everything else
    assert "PartitionMissed" in text and "deadline=3" in text
    assert "<script>alert(1)</script>" not in got.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in got.text
    # storage hosts: the storages each serves, live or silent
    assert "Storage hosts" in text
    assert "10.0.0.7:9702" in text and "store-1, store-2" in text and "live" in text
    # the page refreshes itself
    assert "setInterval" in got.text and 'id="live"' in got.text


def test_a_deadlines_page_shows_its_partitions_jobs_messages_and_fees(served):
    base = served()
    page = Page(get(f"{base}/deadline?miner={MINER}&index=1").text)
    assert page.partitions == {0: "proven", 1: "proven"}
    text = page.all_text
    assert "miner t01000, deadline 1 proven" in text
    assert "challenge at epoch 87, open 90, Close 100" in text
    assert "bafy2bzace180x" in text and "landed" in text
    assert "0.000123456789 FIL" in text and "w1" in text

    partly = get(f"{base}/deadline?miner={MINER}&index=2").text
    assert Page(partly).partitions == {0: "partly-faulty"}
    assert (
        '<td class="mono">3</td>' in partly and '<td class="mono">4</td>' in partly
    )  # skipped, faulty

    faulty = Page(get(f"{base}/deadline?miner={MINER}&index=4").text)
    assert faulty.partitions == {0: "faulty"}
    assert "failed (exit 16)" in faulty.all_text and "failed on chain" in faulty.all_text

    missed = Page(get(f"{base}/deadline?miner={MINER}&index=3").text)
    assert missed.partitions == {0: "missed"} and "after 2 failed tries" in missed.all_text
    assert "failed" in missed.all_text and "None sent" in missed.all_text

    # the newer generation counts; the page says there were two
    gen = Page(get(f"{base}/deadline?miner={MINER}&index=7").text)
    assert gen.partitions == {0: "proven"} and "generation 1 of 2" in gen.all_text

    # a past occurrence by its period (the recent misses link there)
    old = Page(get(f"{base}/deadline?miner={MINER}&index=3&period=0").text)
    assert old.partitions == {0: "faulty"}  # a miss with no job: nothing was there to prove
    assert "Proving period 0" in old.all_text

    assert get(f"{base}/deadline?miner=x&index=1").status_code == 400
    out_of_range = get(f"{base}/deadline?miner={MINER}&index=8")  # the policy has 8
    assert out_of_range.status_code == 400 and "0..7" in out_of_range.text
    assert get(f"{base}/deadline?miner={MINER}&index=0").status_code == 200  # empty, said so


def test_metrics_stay_as_they_were_beside_the_dashboard(served):
    base = served()
    assert get(f"{base}/metrics").status_code == 200
    assert httpx.post(f"{base}/metrics", timeout=30).status_code == 405
    assert httpx.post(f"{base}/", timeout=30).status_code == 405
    assert get(f"{base}/nope").status_code == 404
    huge = httpx.post(f"{base}/login", content=b"token=" + b"a" * 70_000, timeout=30)
    assert huge.status_code == 413  # a login is a token, not an upload
    assert get(f"{base}/metrics").status_code == 200  # and the server goes on


def test_without_a_chain_the_store_is_shown_and_says_so(served, store):
    base = served(chain=False)
    page = Page(get(f"{base}/").text)
    assert "no chain is followed" in page.all_text
    # each deadline's latest period in the store; nothing submitted, so a
    # verified proof is proven and the running one is being proven
    states = page.states()
    assert len(states) == 48
    assert states[:8] == [
        "empty", "proven", "partly-faulty", "missed", "proven", "current", "proven", "proven",
    ]  # fmt: skip


class StandbyNode:
    """The chain as a standby reads it: each miner's deadline and policy
    (StateMinerProvingDeadline), read a while before the page is drawn."""

    def __init__(self) -> None:
        self.reads = 0
        self.down = False

    def state_miner_proving_deadline(self, miner: int) -> ProvingDeadline:
        self.reads += 1
        if self.down:
            raise LotusError("StateMinerProvingDeadline", "node unreachable")
        return ProvingDeadline(deadline_info(80, 2, EPOCH - 30, POLICY), POLICY)

    def close(self) -> None:
        pass


def header(html: str) -> str:
    return Page(html.partition("</header>")[0]).all_text


def test_a_standby_shows_the_leaders_chain_and_says_it_stands_by(served, store, clock):
    # manager-1 leads and publishes its head with the lease; this one stands by
    assert ChainLease(store.db, "manager-1", clock=clock).step(EPOCH) == 1
    me = ChainLease(store.db, "manager-2", clock=clock)
    assert me.step() is None
    node = StandbyNode()
    standby = StandbyChain(
        ChainConfig(miners=[MINER], confidence=1), me.leadership, lambda: node, clock=clock
    )
    base = served(chain=False, standby=standby.facts)

    # before its first read of the chain (the node away): the leader named,
    # no strip guessed
    node.down = True
    standby.refresh()
    got = get(f"{base}/").text
    assert "no chain is followed" not in got
    assert "stands by: manager-1 leads" in header(got)
    assert "not read from the chain yet" in Page(got).all_text and not Page(got).cells

    node.down = False
    standby.refresh()  # the node back: read at the next pass
    standby.refresh()  # and once: a miner's policy and period offset stay put
    assert node.reads == 2
    got = get(f"{base}/").text
    page = Page(got)
    # the leader's view (the first test's): the policy's 8 deadlines, not
    # mainnet's 48, at the leader's epoch, deadline 5 open
    assert page.states() == [
        "empty", "proven", "partly-faulty", "missed", "faulty", "current", "proven", "proven",
    ]  # fmt: skip
    assert "deadline 5 open (epochs 130-140), next Close in 7 s" in page.all_text
    assert header(got).endswith(
        "this manager stands by: manager-1 leads and follows the chain; "
        "chain epoch 133 as manager-1 last reported it"
    )
    assert "no chain is followed" not in got
    # a deadline's page knows the policy too (8 deadlines) and says the same
    detail = get(f"{base}/deadline?miner={MINER}&index=1").text
    assert "challenge at epoch 87, open 90, Close 100" in Page(detail).all_text
    assert "stands by: manager-1 leads" in header(detail)
    assert "0..7" in get(f"{base}/deadline?miner={MINER}&index=8").text

    # the leader's lease ran out: nobody leads, the last epoch is said to be its
    clock.advance(11)
    assert "this manager stands by: no manager leads now; chain epoch 133 as the last leader" in (
        header(get(f"{base}/").text)
    )


def test_a_failing_alert_source_does_not_take_the_page_down(served):
    def broken():
        raise RuntimeError("book closed")

    got = get(f"{served(alerts=broken)}/")
    assert got.status_code == 200 and "alerts unavailable: RuntimeError: book closed" in got.text


# ---- access off loopback -------------------------------------------------------------


def test_off_loopback_only_the_admin_token_gets_in(served):
    base = served("0.0.0.0:0")  # every interface: not loopback
    admin, worker = make_token(SECRET, "admin"), make_token(SECRET, "worker")

    for path in ("/", f"/deadline?miner={MINER}&index=1"):
        refused = get(f"{base}{path}")
        assert refused.status_code == 303 and refused.headers["location"] == "/login"
        assert "data-deadline" not in refused.text and "data-partition" not in refused.text
    assert get(f"{base}/metrics").status_code == 200  # Prometheus scrapes without a token

    ok = get(f"{base}/", headers={"Authorization": f"Bearer {admin}"})
    assert ok.status_code == 200 and Page(ok.text).states()[1] == "proven"
    no = get(f"{base}/", headers={"Authorization": f"Bearer {worker}"})
    assert no.status_code == 401 and "worker token" in no.text and "data-deadline" not in no.text
    assert no.headers["www-authenticate"].startswith("Bearer")

    # the login form: a worker token or garbage is refused, no cookie set
    assert "Admin token" in get(f"{base}/login").text
    for token in (worker, "admin.0123", make_token(bytes(32), "admin"), ""):
        bad = httpx.post(f"{base}/login", data={"token": token}, timeout=30)
        assert bad.status_code == 401 and "set-cookie" not in bad.headers
    assert "worker token" in httpx.post(f"{base}/login", data={"token": worker}, timeout=30).text

    # the admin token: a session cookie, and in with it
    line = f"PROVER_API_INFO={admin}:127.0.0.1:9700"  # as `auth api-info` prints it
    good = httpx.post(f"{base}/login", data={"token": line}, timeout=30)
    assert good.status_code == 303 and good.headers["location"] == "/"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    value = cookie.partition("=")[2].partition(";")[0]
    assert value != admin  # the cookie is not the token
    inside = get(f"{base}/", cookies={COOKIE: value})
    assert inside.status_code == 200 and Page(inside.text).states()[3] == "missed"
    assert "Log out" in inside.text
    deadline = get(f"{base}/deadline?miner={MINER}&index=2", cookies={COOKIE: value})
    assert Page(deadline.text).partitions == {0: "partly-faulty"}

    # a cookie minted under another secret, or ended, goes back to the login
    forged = session_value(bytes(32), time.time())
    assert get(f"{base}/", cookies={COOKIE: forged}).headers["location"] == "/login"
    ended = session_value(SECRET, time.time() - SESSION_SECONDS - 1)
    assert get(f"{base}/", cookies={COOKIE: ended}).headers["location"] == "/login"

    out = httpx.post(f"{base}/logout", cookies={COOKIE: value}, timeout=30)
    assert out.status_code == 303 and "Max-Age=0" in out.headers["set-cookie"]


def test_on_loopback_it_is_open_unless_reached_under_another_name(served):
    base = served("127.0.0.1:0")
    assert get(f"{base}/").status_code == 200
    assert get(f"{base}/login").headers["location"] == "/"  # nothing to log in to
    # a browser on this machine sent here by DNS rebinding, or a proxy: the token
    rebound = get(f"{base}/", headers={"Host": "evil.example:80"})
    assert rebound.status_code == 303 and rebound.headers["location"] == "/login"
    admin = make_token(SECRET, "admin")
    proxied = get(
        f"{base}/", headers={"Host": "prover.internal", "Authorization": f"Bearer {admin}"}
    )
    assert proxied.status_code == 200


# ---- cheap at a large provider's size --------------------------------------------------


def test_a_page_is_a_handful_of_small_queries_at_mainnet_sizes(store):
    """25 miners, 48 deadlines, 5 partitions, two periods: 12,000 jobs and
    2,400 messages. The overview is a few SELECTs, none of them reading a
    job's sectors or proof, whatever the number of miners."""
    miners = [1000 + i for i in range(25)]
    policy = Policy(30, 60)  # mainnet's 48 deadlines of 60 epochs
    period = policy.proving_period
    epoch = period + 24 * 60 + 7  # deadline 24 of the second period open
    now = datetime.now(UTC)
    jobs, messages = [], []
    for m in miners:
        for start in (0, period):
            for d in range(48):
                close = start + (d + 1) * 60
                jobs += [job_row(m, start, d, p, close, now) for p in range(5)]
                messages.append(message_row(m, start, d, close, now))
    started = time.monotonic()
    # in bulk, as the tracker would have over two days (add_jobs takes a
    # millisecond a job, for checks this read-side test does not need)
    with store.db.begin() as conn:
        conn.execute(insert(JobRow.__table__), jobs)
        conn.execute(insert(MessageRow.__table__), messages)
    print(f"laid out {len(jobs)} jobs in {time.monotonic() - started:.1f} s")
    info = deadline_info(period, 24, epoch, policy)
    tracker = SimpleNamespace(
        epoch=epoch,
        heads={m: ProvingDeadline(info, policy) for m in miners},
        config=SimpleNamespace(miners=miners, confidence=2, shadow=False),
    )
    http = start_http(
        "127.0.0.1:0", CollectorRegistry(), store=store, tracker=lambda: tracker, secret=SECRET
    )
    statements: list[str] = []

    def seen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(store.engine, "before_cursor_execute", seen)
    try:
        started = time.monotonic()
        got = get(f"http://127.0.0.1:{http.port}/")
        took = time.monotonic() - started
        page = Page(got.text)
        detail = get(f"http://127.0.0.1:{http.port}/deadline?miner=1012&index=30")
    finally:
        event.remove(store.engine, "before_cursor_execute", seen)
        http.stop()
    print(f"overview of {len(miners)} miners rendered in {took:.2f} s ({len(got.content)} bytes)")
    assert got.status_code == 200 and len(page.cells) == 25 * 48
    # pushed, none landed yet: the open deadline is current, the closed ones
    # are missed (nothing landed long after Close)
    assert page.states(1012)[24] == "current" and page.states(1012)[23] == "missed"
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    overview, deadline_page = selects[:-3], selects[-3:]
    assert len(overview) <= 7, overview
    # whether to link the shadow page: one row of shadow_partitions at most
    (shadow,) = [s for s in overview if "FROM shadow_partitions" in s]
    assert "LIMIT" in shadow.upper()
    for s in selects:
        assert "jobs.sectors" not in s and "jobs.proof" not in s, s
    assert Page(detail.text).partitions.keys() == {0, 1, 2, 3, 4}
    assert len(deadline_page) == 3
