"""Alerts end to end: a real manager following the devnet, a real
Alertmanager (Debian's prometheus-alertmanager, started by .ci/run), a local
webhook receiver, and a webhook that never answers beside them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from chain_fixtures import MINER, start_devnet, wait_for
from prover.chain.deadlines import Policy

# 1 s epochs, 6-epoch deadlines, 4 deadlines: a deadline comes round every 24 s
POLICY = Policy.devnet(
    challenge_window=6, challenge_lookback=2, fault_declaration_cutoff=3, period_deadlines=4
)


class WebhookReceiver:
    """Records every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        posts = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                posts.append(json.loads(body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def of(self, name: str) -> list[dict]:
        return [p["alert"] for p in list(self.posts) if p["alert"]["name"] == name]

    def close(self) -> None:
        self.server.shutdown()


class BlackHole:
    """Accepts connections and never answers: a webhook whose server hangs."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for c in self.held:
            c.close()


def active(am: str, test: str, name: str) -> list[dict]:
    """The alerts Alertmanager holds active with our test's label."""
    got = httpx.get(
        f"{am}/api/v2/alerts",
        params=[("filter", f'test="{test}"'), ("filter", f'alertname="{name}"')],
        timeout=10,
    )
    got.raise_for_status()
    return [a for a in got.json() if a["status"]["state"] == "active"]


def test_a_missed_deadline_is_alerted_once_then_resolved(tmp_path, alertmanager_url):
    chain = start_devnet(tmp_path, {1: [[1, 2]]}, POLICY)
    hook, hole = WebhookReceiver(), BlackHole()
    test = uuid.uuid4().hex[:12]
    m = chain.manager(
        tmp_path / "mgr",
        alerts={
            "webhooks": [hole.url, hook.url],
            "alertmanagers": [alertmanager_url],
            "interval_s": 0.5,
            "resend_s": 2.0,
            "timeout_s": 3.0,
            "labels": {"test": test},
        },
    )
    w = None
    try:
        # no worker: deadline 1 (epochs 6-12) closes without a proof
        wait_for(lambda: active(alertmanager_url, test, "ProverPartitionMissed"), 60, "the miss")
        (missed,) = active(alertmanager_url, test, "ProverPartitionMissed")
        labels = missed["labels"]
        assert (labels["miner"], labels["period_start"], labels["deadline"]) == (
            str(MINER),
            "0",
            "1",
        )
        assert labels["partition"] == "0" and labels["severity"] == "critical"
        assert "closed without a proof" in missed["annotations"]["summary"]
        assert missed["annotations"]["reason"]
        (nobody,) = active(alertmanager_url, test, "ProverNoWorker")
        assert nobody["labels"]["miner"] == str(MINER)

        # the operator's view: `prover alerts` lists both, exit status 1
        cli = subprocess.run(
            [sys.executable, "-m", "prover.cli", "alerts", "--json"],
            env={**m.env(), "PROVER_API_INFO": m.api_info()},
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert cli.returncode == 1, cli.stderr
        names = {a["name"] for a in json.loads(cli.stdout)}
        assert {"ProverPartitionMissed", "ProverNoWorker"} <= names

        # a worker comes: "no worker" resolves; the deadline comes round a
        # period later (epoch 36) and is proven, and the miss resolves
        w = chain.worker(tmp_path / "w1", m)
        wait_for(lambda: not active(alertmanager_url, test, "ProverNoWorker"), 60, "a worker")
        wait_for(lambda: chain.proven(24, 1) == {0}, 90, "deadline 1 proven a period later")
        wait_for(
            lambda: not active(alertmanager_url, test, "ProverPartitionMissed"), 60, "resolved"
        )

        # the webhook saw each once: fired, then resolved; Slack's text line
        wait_for(lambda: len(hook.of("ProverPartitionMissed")) >= 2, 30, "the webhook")
        posts = hook.of("ProverPartitionMissed")
        assert [p["status"] for p in posts] == ["firing", "resolved"], posts
        assert [p["status"] for p in hook.of("ProverNoWorker")] == ["firing", "resolved"]
        first = next(p for p in hook.posts if p["alert"]["name"] == "ProverPartitionMissed")
        assert first["text"].startswith("[CRITICAL] ProverPartitionMissed ")
        # the hanging webhook held none of this up, and was tried
        assert hole.held
        assert m.events("alert_delivery_failed") == [] or all(
            e["url"] == hole.url for e in m.events("alert_delivery_failed")
        )
    finally:
        if w is not None:
            w.kill()
        m.kill()
        chain.server.stop()
        hook.close()
        hole.close()


def test_sectors_left_out_a_low_balance_and_a_stalled_head_on_the_devnet(tmp_path):
    chain = start_devnet(tmp_path, {1: [[1, 2]]}, POLICY)
    chain.replicas[2].sealed_path.unlink()  # partition 0 proven without it
    hook = WebhookReceiver()
    m = chain.manager(
        tmp_path / "mgr",
        alerts={
            "webhooks": [hook.url],
            "interval_s": 0.5,
            "low_balance": "1000000000 FIL",  # more than any devnet sender holds
            "head_stall_epochs": 3,
        },
    )
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: chain.proven(0, 1) == {0}, 90, "deadline 1 proven")
        wait_for(lambda: hook.of("ProverSectorsLeftOut"), 30, "sectors left out")
        (left,) = hook.of("ProverSectorsLeftOut")
        assert left["labels"]["deadline"] == "1" and left["details"]["sectors"] == "2"
        wait_for(lambda: hook.of("ProverLowBalance"), 30, "a low balance")
        (low,) = hook.of("ProverLowBalance")
        assert low["status"] == "firing" and low["severity"] == "warning"

        # the chain stops: no new head for 3 epochs; then it goes on
        frozen = chain.net.clock()
        chain.net.clock = lambda: frozen
        wait_for(lambda: hook.of("ProverChainHeadStalled"), 30, "the head stalled")
        chain.net.clock = time.time
        wait_for(lambda: len(hook.of("ProverChainHeadStalled")) == 2, 30, "the head moves")
        assert [a["status"] for a in hook.of("ProverChainHeadStalled")] == ["firing", "resolved"]
        assert len(hook.of("ProverSectorsLeftOut")) == 1  # once, however many passes
    finally:
        w.kill()
        m.kill()
        chain.server.stop()
        hook.close()


def test_a_post_stuck_in_the_mpool_is_alerted_before_close_then_the_miss(tmp_path):
    from prover.chain.deadlines import Policy as P
    from prover.chain.message import ATTO_PER_FIL
    from prover.devnet.mpool import Account, Mpool, key_address_for

    # the node prices at 100 attoFIL/gas, blocks need far more than the
    # maximum fee allows: the PoSt can never land
    pool = Mpool([Account("t0100", key_address_for("t0100"), 10 * ATTO_PER_FIL)])
    pool.estimate_base_fee, pool.base_fee = 100, 10**15
    policy = P.devnet(challenge_window=8, challenge_lookback=2, fault_declaration_cutoff=3)
    chain = start_devnet(tmp_path, {2: [[1, 2]]}, policy, mpool=pool)
    hook = WebhookReceiver()
    m = chain.manager(
        tmp_path / "mgr",
        # late from 4 epochs before Close (half the window) ...
        alerts={"webhooks": [hook.url], "interval_s": 0.5, "not_landed_epochs": 4},
        maximize_window_post_fee_cap=False,
        max_window_post_gas_fee="1 FIL",
        # ... and replaced by fee every other epoch: once or more after the
        # alert fired, whenever the PoSt was pushed
        replace_after=1,
    )
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: hook.of("ProverMessageNotLanded"), 60, "the PoSt not landed")
        late = hook.of("ProverMessageNotLanded")[0]
        assert late["labels"]["deadline"] == "2" and late["labels"]["kind"] == "post"
        assert late["labels"]["partitions"] == "0"
        assert "epochs before Close" in late["summary"]
        # at Close it resolves, and the miss says the rest
        wait_for(lambda: hook.of("ProverPartitionMissed"), 60, "the miss")
        wait_for(
            lambda: [a["status"] for a in hook.of("ProverMessageNotLanded")][-1] == "resolved",
            30,
            "resolved at Close",
        )
        # once: the replacements by fee (new CIDs for the same stuck PoSt)
        # neither resolved it early nor fired it again
        assert [a["status"] for a in hook.of("ProverMessageNotLanded")] == ["firing", "resolved"]
        assert len(m.events("message_replaced")) >= 2
    finally:
        w.kill()
        m.kill()
        chain.server.stop()
        hook.close()


def test_a_proof_the_verifier_refuses_is_alerted_with_the_worker(tmp_path):
    """A rogue (or broken) worker's proof: refused, alerted once, and the job
    goes to a worker whose proof verifies."""
    from prover._proto import manager_pb2 as pb

    chain = start_devnet(tmp_path, {2: [[1, 2]]}, POLICY)
    hook = WebhookReceiver()
    m = chain.manager(tmp_path / "mgr", alerts={"webhooks": [hook.url], "interval_s": 0.5})
    w = None
    try:
        with m.client("worker") as rogue:
            rogue.call(rogue.worker.Register, pb.RegisterRequest(name="rogue-gpu"))
            wait_for(lambda: m.events("deadline_jobs_created"), 60, "deadline 2 planned")
            job = rogue.call(
                rogue.worker.Claim, pb.ClaimRequest(worker="rogue-gpu", wait_ms=20_000), timeout=40
            ).job
            done = rogue.call(
                rogue.worker.Finish,
                pb.FinishRequest(
                    worker="rogue-gpu",
                    job_id=job.id,
                    attempt=job.attempt,
                    success=True,
                    proof=bytes(range(192)),
                ),
            )
        assert done.state == "ready"  # refused: back for another worker
        wait_for(lambda: hook.of("ProverProofRefused"), 30, "the refused proof")
        (refused,) = hook.of("ProverProofRefused")
        assert refused["details"]["worker"] == "rogue-gpu"
        assert refused["labels"]["deadline"] == "2" and refused["labels"]["partition"] == "0"
        w = chain.worker(tmp_path / "w1", m)
        wait_for(lambda: chain.proven(0, 2) == {0}, 90, "proven by an honest worker")
        assert len(hook.of("ProverProofRefused")) == 1  # once
    finally:
        if w is not None:
            w.kill()
        m.kill()
        chain.server.stop()
        hook.close()
