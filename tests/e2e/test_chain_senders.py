"""Who pays for a miner's messages, a message stuck under a base-fee spike,
and a reorg that moves the challenge before submission: a devnet whose
mpool keeps balances, nonces and a base fee, a real manager and a real
worker proving 2KiB sectors."""

from __future__ import annotations

import json
import subprocess
import sys

from chain_fixtures import POLICY, start_devnet, wait_for
from prover.chain.message import ATTO_PER_FIL
from prover.devnet.mpool import Account, Mpool, key_address_for

WORKER = "t0100"  # the devnet's worker address
POOR = "t0200"


def accounts(worker_balance: int = 10 * ATTO_PER_FIL) -> Mpool:
    return Mpool(
        [
            Account(WORKER, key_address_for(WORKER), worker_balance),
            Account(POOR, key_address_for(POOR), 1000),  # cannot pay any message
        ]
    )


def deadlines_json(m) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "prover.cli", "deadlines", "--json", "--api", m.api_info("admin")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_a_control_address_without_funds_is_passed_over_for_the_next(tmp_path):
    chain = start_devnet(tmp_path, {2: [[1, 2]]}, mpool=accounts(), control_addresses=(POOR,))
    m = chain.manager(tmp_path / "mgr")
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: chain.proven(0, 2) == {0}, 60, "deadline 2 proven")
        # the devnet may include the message before the manager's log line
        # about it has been read from its pipe
        wait_for(lambda: m.events("post_submitted"), 10, "the push logged")
        (submitted,) = m.events("post_submitted")
        assert submitted["sender"] == key_address_for(WORKER) and submitted["nonce"] == 0
        assert int(submitted["fee_cap"]) * submitted["gas_limit"] <= 5 * ATTO_PER_FIL
        wait_for(lambda: m.events("post_landed"), 10, "the message followed")
        (landed,) = m.events("post_landed")
        assert landed["gas_used"] > 0
        spent = 10 * ATTO_PER_FIL - chain.net.mpool.account(WORKER).balance
        assert 0 < spent <= int(submitted["fee_cap"]) * submitted["gas_limit"]
        # the fee recorded is what the chain took, from its tipset's base fee
        assert int(landed["fee_paid"]) == spent and landed["base_fee"] == "100"
        assert chain.net.mpool.account(POOR).balance == 1000  # never charged
    finally:
        w.kill()
        m.kill()
        chain.server.stop()


def test_no_usable_sender_is_shown_and_named_in_the_miss(tmp_path):
    chain = start_devnet(tmp_path, {2: [[1, 2]]}, mpool=accounts(worker_balance=1000))
    m = chain.manager(tmp_path / "mgr")
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: m.events("post_push_failed"), 60, "a failed push")
        failed = m.events("post_push_failed")[0]["error"]
        assert "no usable sender for miner 1000" in failed
        assert "t0100: balance 0.000000000000001 FIL below the message's maximum fee 4.99" in failed
        view = deadlines_json(m)
        shown = [d.get("submit_error", "") for d in view["deadlines"] if d["index"] == 2]
        assert shown and "no usable sender" in shown[0]
        wait_for(lambda: m.events("deadline_missed"), 40, "the miss recorded")
        (miss,) = m.events("deadline_missed")
        assert "no usable sender" in miss["reason"]
        assert not chain.proven(0, 2)
    finally:
        w.kill()
        m.kill()
        chain.server.stop()


def test_a_message_stuck_under_a_base_fee_spike_is_replaced_by_fee_and_lands(tmp_path):
    pool = accounts()
    # the node prices at a base fee of 100 attoFIL/gas (fee cap ~101,000 with
    # the premium), but blocks now need 1,000,000
    pool.estimate_base_fee, pool.base_fee = 100, 1_000_000
    chain = start_devnet(tmp_path, {2: [[1, 2]]}, POLICY, mpool=pool)
    m = chain.manager(
        tmp_path / "mgr",
        maximize_window_post_fee_cap=False,
        replace_after=1,
        max_window_post_gas_fee="1 FIL",
    )
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: chain.proven(0, 2) == {0}, 60, "deadline 2 proven")
        # the devnet may include the message before the manager's log line
        # about it has been read from its pipe
        wait_for(lambda: m.events("post_submitted"), 10, "the push logged")
        (submitted,) = m.events("post_submitted")
        assert int(submitted["fee_cap"]) < 1_000_000  # priced under the spike: it waited
        wait_for(lambda: m.events("post_landed"), 10, "the message followed")
        (replaced,) = m.events("message_replaced")
        assert replaced["nonce"] == submitted["nonce"]
        assert int(replaced["premium"]) >= int(submitted["premium"]) * 1.25
        assert int(replaced["fee_cap"]) >= 1_000_000
        (landed,) = m.events("post_landed")
        assert landed["cid"] == replaced["cid"] and landed["replaced"] == [submitted["cid"]]
        assert landed["base_fee"] == "1000000"  # paid at the spike's base fee
        spent = 10 * ATTO_PER_FIL - chain.net.mpool.account(WORKER).balance
        assert int(landed["fee_paid"]) == spent
        assert chain.net.epoch() < 18  # before deadline 2's Close
        (row,) = [x for x in deadlines_json(m)["deadlines"] if x["index"] == 2] or [None]
        if row is not None:  # still shown while deadline 2 is current
            (msg,) = row["messages"]
            assert msg["replaced_cids"] == [submitted["cid"]] and msg["state"] == "landed"
            assert msg["fee_paid"] == landed["fee_paid"]
    finally:
        w.kill()
        m.kill()
        chain.server.stop()


def test_a_reorg_that_moves_the_challenge_replans_instead_of_sending_refused_proofs(tmp_path):
    chain = start_devnet(tmp_path, {2: [[1, 2]]})
    m = chain.manager(tmp_path / "mgr")
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: m.events("deadline_jobs_created"), 30, "deadline 2 planned")
        chain.net.reorg()  # every challenge changes; the jobs' proofs will not verify
        wait_for(lambda: chain.proven(0, 2) == {0}, 60, "deadline 2 proven")
        (changed,) = {e["deadline"] for e in m.events("challenge_changed")}
        assert changed == 2
        (replanned,) = m.events("deadline_replanned")
        assert replanned["generation"] == 1
        refused = [x.reason for x in chain.net.messages.values() if x.exit_code != 0]
        assert refused == []  # no message the actor refused
        assert not chain.miner.misses
    finally:
        w.kill()
        m.kill()
        chain.server.stop()
