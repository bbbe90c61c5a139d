"""The dashboard's shadow page (``/shadow``) over a real store (SQLite and
PostgreSQL) with rows written by ``ShadowBook`` as shadow mode writes them,
through the real HTTP listener: each deadline's cell coloured by what its
Close showed, the margins in its title, the recent disagreements, the link
from the overview, and who gets in off loopback."""

from __future__ import annotations

from html.parser import HTMLParser
from types import SimpleNamespace

import httpx
import pytest
from prometheus_client import CollectorRegistry

from prover.api.tokens import make_token
from prover.chain.deadlines import Policy, deadline_info
from prover.chain.lotus import ProvingDeadline
from prover.manager.web import start_http
from prover.store.shadow import ChainPost, DeadlineTurn, ReadyPartition, ShadowBook

# 8 deadlines of 10 epochs (a period of 80); at epoch 133 deadline 5 of the
# period starting at 80 is open
POLICY = Policy.devnet(challenge_window=10, period_deadlines=8)
EPOCH = 133
MINER = 1000
OTHER = 1001  # rows in the store, not followed by the tracker
SECRET = bytes(range(32))
LOTUS = "t0101"  # the existing system's sender


class ShadowPage(HTMLParser):
    """The cells (miner, deadline) -> attributes and the disagreement rows."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.cells: dict[tuple[int, int], dict[str, str]] = {}
        self.rows: list[tuple[int, int, int, str]] = []
        self.links: list[str] = []
        self.words: list[str] = []
        self._miner = None
        self.feed(html)
        self.text = " ".join(self.words)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-miner" in a:
            self._miner = int(a["data-miner"])
        if "data-deadline" in a:
            self.cells[(self._miner, int(a["data-deadline"]))] = a
        if "data-deadline-row" in a:
            self.rows.append(
                (
                    int(a["data-miner-row"]),
                    int(a["data-deadline-row"]),
                    int(a["data-partition-row"]),
                    a["data-outcome"],
                )
            )
        if tag == "a" and "href" in a:
            self.links.append(a["href"])

    def handle_data(self, data):
        self.words += data.split()

    def outcomes(self, miner: int = MINER) -> list[str]:
        return [a["data-outcome"] for (m, _), a in sorted(self.cells.items()) if m == miner]


def turn(deadline: int, period: int = 80, miner: int = MINER) -> DeadlineTurn:
    open_ = period + deadline * POLICY.challenge_window
    return DeadlineTurn(miner, period, deadline, open_, open_ + POLICY.challenge_window)


def post(epoch: int, partitions, exit_code: int = 0) -> ChainPost:
    return ChainPost(f"bafy2bzace{epoch}", LOTUS, epoch, exit_code, frozenset(partitions))


def lay_out(book: ShadowBook) -> None:
    """Shadow mode's rows, one deadline per outcome."""
    # deadline 0: an older turn the chain proved alone (in the table), the
    # newest turn proven by both (on the strip)
    book.settle(turn(0, period=0), [0], [post(5, [0])], {})
    book.record_ready(turn(0), [ReadyPartition(0, 1, [])], 84)
    book.settle(turn(0), [0], [post(86, [0])], {})
    # deadline 1: two partitions, both ready before the chain's PoSt landed
    book.record_ready(turn(1), [ReadyPartition(0, 2, []), ReadyPartition(1, 3, [])], 93)
    book.settle(turn(1), [0, 1], [post(95, [0, 1])], {})
    # deadline 2: never ready; the chain's own PoSt landed -> we would have missed
    book.settle(turn(2), [0], [post(107, [0])], {})
    # deadline 3: ready, sector 4 skipped (faulty on chain too), no PoSt on chain
    book.record_ready(turn(3), [ReadyPartition(0, 4, [4])], 112)
    book.settle(turn(3), [0], [], {0: [4]})
    # deadline 4: neither; the chain's PoSt failed
    book.settle(turn(4), [0], [post(125, [0], exit_code=16)], {})
    # deadline 5: open now, our proof ready; Close not passed
    book.record_ready(turn(5), [ReadyPartition(0, 5, [])], 133)
    # deadline 6 of the period before: both; deadline 7: nothing recorded
    book.record_ready(turn(6, period=0), [ReadyPartition(0, 6, [])], 62)
    book.settle(turn(6, period=0), [0], [post(63, [0])], {})
    # another miner's row, the tracker not following it
    book.record_ready(turn(3, period=0, miner=OTHER), [ReadyPartition(0, 7, [9])], 36)
    book.settle(turn(3, period=0, miner=OTHER), [0], [], {})


def tracker_at(epoch: int = EPOCH, miners=(MINER,)):
    info = deadline_info(80, 4, epoch - 6, POLICY)
    return SimpleNamespace(
        epoch=epoch,
        heads={m: ProvingDeadline(info, POLICY) for m in miners},
        config=SimpleNamespace(miners=list(miners), confidence=1, shadow=True),
    )


@pytest.fixture
def served(store):
    servers = []

    def serve(listen="127.0.0.1:0"):
        tracker = tracker_at()
        http = start_http(
            listen, CollectorRegistry(), store=store, tracker=lambda: tracker, secret=SECRET
        )
        servers.append(http)
        return f"http://127.0.0.1:{http.port}"

    yield serve
    for s in servers:
        s.stop()


def get(url, **kw):
    return httpx.get(url, timeout=30, follow_redirects=False, **kw)


def bearer(perm: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {make_token(SECRET, perm)}"}


def test_the_shadow_strip_colours_each_deadline_by_what_its_close_showed(served, store):
    base = served()
    # no shadow rows yet: the overview does not offer the page, which says so
    assert "/shadow" not in ShadowPage(get(f"{base}/").text).links
    empty = ShadowPage(get(f"{base}/shadow").text)
    assert empty.cells == {} and "Nothing compared yet" in empty.text

    lay_out(ShadowBook(store.db))
    got = get(f"{base}/shadow")
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/html")
    assert got.headers["cache-control"] == "no-store"
    assert "nonce-" in got.headers["content-security-policy"]
    page = ShadowPage(got.text)
    assert page.outcomes() == [
        "both", "both", "chain_only", "ours_only", "neither", "open", "both", "none",
    ]  # fmt: skip
    cells = {d: a for (m, d), a in page.cells.items() if m == MINER}
    assert "now" in cells[5]["class"].split() and cells[5]["data-ready"] == "yes"
    assert "ready at epoch 133, 7 epochs before Close" in cells[5]["title"]
    assert "7 epochs before Close" in cells[1]["title"]
    assert "2 epochs before the chain's PoSt" in cells[1]["title"]
    assert f"from {LOTUS}, exit code 0" in cells[1]["title"]
    assert "partition 1 (both)" in cells[1]["title"]
    assert "never ready" in cells[2]["title"] and "we would have missed" in cells[2]["title"]
    assert "exit code 16" in cells[4]["title"]
    assert "1 sectors skipped, faulty on chain too" in cells[3]["title"]
    assert cells[6]["href"].endswith("index=6&period=0")  # to the deadline's own page
    # the miner the tracker does not follow: its highest deadline + 1 cells
    assert page.outcomes(OTHER) == ["none", "none", "none", "ours_only"]
    assert "miner t01000 : deadline 5 open (epochs 130-140)" in page.text
    assert "chain only 1" in page.text and "no row 1" in page.text
    # the disagreements, newest Close first
    assert page.rows == [
        (MINER, 3, 0, "ours_only"),
        (MINER, 2, 0, "chain_only"),
        (OTHER, 3, 0, "ours_only"),
        (MINER, 0, 0, "chain_only"),
    ]
    table = page.text[page.text.index("Recent disagreements") :]
    assert "112 (8 epochs before Close)" in table and LOTUS in table
    assert "bafy2bzace107" in table and "never" in table

    # one miner's page
    one = ShadowPage(get(f"{base}/shadow?miner={OTHER}").text)
    assert {m for m, _ in one.cells} == {OTHER} and one.rows == [(OTHER, 3, 0, "ours_only")]
    assert get(f"{base}/shadow?miner=x").status_code == 400

    # the overview now links to it
    overview = ShadowPage(get(f"{base}/").text)
    assert "/shadow" in overview.links and "Shadow mode:" in overview.text
    assert httpx.post(f"{base}/shadow", timeout=30).status_code == 405


def test_off_loopback_the_shadow_page_needs_the_admin_token(served, store):
    lay_out(ShadowBook(store.db))
    base = served("0.0.0.0:0")
    refused = get(f"{base}/shadow")
    assert refused.status_code == 303 and refused.headers["location"] == "/login"
    assert "data-outcome" not in refused.text
    worker = get(f"{base}/shadow", headers=bearer("worker"))
    assert worker.status_code == 401 and "data-outcome" not in worker.text
    admin = get(f"{base}/shadow", headers=bearer("admin"))
    assert admin.status_code == 200 and ShadowPage(admin.text).outcomes()[2] == "chain_only"
