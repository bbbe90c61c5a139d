"""The dashboard in a real browser: a real manager running the embedded
devnet and a real worker prove a deadline, then headless Chromium (Debian's
package) loads the page; the rendered DOM shows that deadline proven on
the strip (and the shadow page renders), and a screenshot is saved to
look at. Two managers on one PostgreSQL: the standby's page shows the
leader's chain (its deadlines, the open one) and says that it stands by.

Chromium is required in CI (``.ci/run`` installs it); elsewhere the test is
skipped when it is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from chain_fixtures import start_devnet, wait_for
from manager_harness import ManagerProcess, WorkerProcess
from pg_server import PrivateServer, pg_bin
from prover.chain.deadlines import Policy
from prover.devnet import STORAGE_NAME, devnet_paths, init_devnet

MINER = 1000
# 8 deadlines of 10 one-second epochs: the devnet's two sectors are one
# partition in deadline 2, open 20 s after the manager starts, closed at 30
POLICY = Policy.devnet(
    challenge_window=10, challenge_lookback=3, fault_declaration_cutoff=5, period_deadlines=8
)


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed; CI must run the browser test (see .ci/run)")
        pytest.skip("chromium is not installed (apt-get install chromium); CI runs this test")
    return path


def browse(tmp_path: Path, url: str, *args: str) -> str:
    """Headless Chromium on ``url`` with ``args`` (--dump-dom prints the
    DOM after the page's load, scripts run)."""
    cmd = [
        chromium(),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
        url,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


class Strip(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.cells: dict[int, dict[str, str]] = {}
        self.partitions: dict[int, str] = {}
        self.words: list[str] = []
        self.feed(html)
        self.text = " ".join(self.words)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "data-deadline" in a:
            self.cells[int(a["data-deadline"])] = a
        if "data-partition" in a:
            self.partitions[int(a["data-partition"])] = a["data-outcome"]

    def handle_data(self, data):
        self.words += data.split()


def test_the_strip_shows_a_deadline_proven_in_a_real_browser(tmp_path):
    chromium()  # skip (or fail in CI) before starting anything
    home = tmp_path / "mgr"
    manager = ManagerProcess(home)  # `daemon init`: its config, HTTP on a free port
    init_devnet(home, sectors=2, policy=POLICY)  # the embedded devnet, in the same home
    manager.start()
    worker = None
    try:
        assert manager.http_port, "its endpoint file names the HTTP listener"
        base = f"http://127.0.0.1:{manager.http_port}"
        _, store = devnet_paths(home)
        worker = WorkerProcess(
            tmp_path / "w1", manager.api_info("worker"), storages={STORAGE_NAME: store}
        ).start()

        def proven() -> bool:
            cells = Strip(httpx.get(f"{base}/", timeout=10).text).cells
            return cells.get(2, {}).get("data-state") == "proven"

        wait_for(proven, 150, "deadline 2 proven on the dashboard")

        dom = browse(tmp_path, f"{base}/", "--dump-dom")
        strip = Strip(dom)
        assert len(strip.cells) == POLICY.period_deadlines  # the devnet's 8, not mainnet's 48
        assert strip.cells[2]["data-state"] == "proven"
        assert "1/1 partitions proven" in strip.cells[2]["title"]
        assert strip.cells[0]["data-state"] == "empty"
        assert "current" in {c["data-state"] for c in strip.cells.values()}
        assert re.search(r"miner t01000 ?: deadline \d open .* next Close in \d+ s", strip.text)
        assert "w1" in strip.text and "Storage hosts" in strip.text and "chain epoch" in strip.text

        detail = browse(tmp_path, f"{base}/deadline?miner={MINER}&index=2", "--dump-dom")
        page = Strip(detail)
        assert page.partitions == {0: "proven"}
        assert re.search(r"landed [0-9.]+ FIL", page.text), page.text  # the message and its fee

        # the shadow page renders (a live manager: nothing compared, no link to it)
        assert 'href="/shadow"' not in dom
        shadow = Strip(browse(tmp_path, f"{base}/shadow", "--dump-dom"))
        assert "Nothing compared yet" in shadow.text and not shadow.cells

        shot = tmp_path / "dashboard.png"
        browse(tmp_path, f"{base}/", f"--screenshot={shot}", "--window-size=1280,900")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        print(f"dashboard screenshot: {shot}")
    finally:
        if worker is not None:
            worker.kill()
        manager.kill()


@pytest.mark.skipif(pg_bin() is None, reason="no PostgreSQL server installed")
def test_a_standbys_page_shows_the_leaders_chain_in_a_real_browser(tmp_path):
    chromium()
    # short leases: the leader publishes its head with each renewal (0.5 s)
    lease = {"ttl_s": 2.0, "renew_s": 0.5}
    chain = start_devnet(tmp_path, {2: [[1, 2]]}, POLICY)
    pg = PrivateServer().start()
    managers = []
    try:
        leader = chain.manager(tmp_path / "m1", database_url=pg.url, lease=lease)
        managers.append(leader)
        wait_for(lambda: leader.events("leader_elected"), 10, "the first manager leads")
        standby = chain.manager(
            tmp_path / "m2", database_url=pg.url, lease=lease, secret=leader.secret
        )
        managers.append(standby)
        assert not standby.events("leader_elected")
        (started,) = leader.events("manager_started")
        name = started["name"]

        def drawn(m: ManagerProcess) -> Strip:
            return Strip(httpx.get(f"http://127.0.0.1:{m.http_port}/", timeout=10).text)

        # the standby reads each miner's policy on its scheduler's first pass
        wait_for(
            lambda: "current" in {c["data-state"] for c in drawn(standby).cells.values()},
            30,
            "the standby's strip drawn",
        )

        ours = Strip(browse(tmp_path, f"http://127.0.0.1:{leader.http_port}/", "--dump-dom"))
        dom = browse(tmp_path, f"http://127.0.0.1:{standby.http_port}/", "--dump-dom")
        theirs = Strip(dom)
        head = Strip(dom.partition("</header>")[0]).text
        assert len(ours.cells) == len(theirs.cells) == POLICY.period_deadlines  # 8, not 48
        assert "no chain is followed" not in theirs.text
        assert f"this manager stands by: {name} leads and follows the chain" in head, head
        # the open deadline, at the epoch the leader last published (a
        # renewal or two behind the devnet's head)
        epoch = int(re.search(r"chain epoch (\d+) as ", head)[1])
        assert 0 <= chain.net.epoch() - epoch <= 5
        want = chain.net.deadline_of(chain.miner, epoch)
        opened = f"deadline {want.index} open (epochs {want.open}-{want.close})"
        assert re.search(rf"miner t01000 ?: {re.escape(opened)}", theirs.text), theirs.text
        assert theirs.cells[want.index]["data-state"] == "current"
        assert f"Leader: {name}" in theirs.text  # the Managers section agrees
    finally:
        for m in managers:
            m.kill()
        chain.server.stop()
        pg.close()
