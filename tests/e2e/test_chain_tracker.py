"""Deadlines from the chain become jobs, and proofs go back to it: a devnet,
a real manager with its tracker, real workers."""

from __future__ import annotations

import pytest

from chain_fixtures import start_devnet, wait_for
from prover._proto import manager_pb2 as pb


@pytest.fixture
def chain(tmp_path):
    # deadlines 2..4 (opening 12 s after genesis: time to start everything)
    setup = start_devnet(tmp_path, {2: [[1, 2]], 3: [[3, 4], [5, 6]], 4: [[7, 8]]})
    yield setup
    setup.server.stop()


def test_three_consecutive_deadlines_are_proven_and_accepted(tmp_path, chain):
    net = chain.net
    m = chain.manager(tmp_path / "mgr")
    workers = [chain.worker(tmp_path / name, m, name) for name in ("w1", "w2")]
    try:
        wait_for(lambda: all(chain.proven(0, d) for d in (2, 3, 4)), 60, "deadlines 2, 3, 4 proven")
        assert chain.proven(0, 3) == {0, 1}
        assert chain.miner.faulty == set() and chain.miner.misses == []
        accepted = [msg for msg in net.messages.values() if msg.exit_code == 0]
        assert len(accepted) >= 3
        wait_for(  # the manager's log line may trail the devnet's state a little
            lambda: {e["deadline"] for e in m.events("post_submitted")} >= {2, 3, 4},
            10,
            "post_submitted events",
        )
        wait_for(lambda: len(m.events("deadline_proven")) >= 2, 15, "deadlines settled")
        assert not m.events("deadline_missed")
        assert sum(len(w.events("job_finished")) for w in workers) >= 4
    finally:
        for w in workers:
            w.kill()
        m.kill()


def test_a_corrupt_sector_is_skipped_and_the_partition_still_proven(tmp_path, chain):
    chain.replicas[3].sealed_path.unlink()  # deadline 3, partition 0
    m = chain.manager(tmp_path / "mgr")
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: chain.proven(0, 3) == {0, 1}, 60, "deadline 3 proven")
        assert 3 in chain.miner.faulty and 4 not in chain.miner.faulty  # skipped -> faulty
        assert not chain.miner.misses
    finally:
        w.kill()
        m.kill()


def test_with_no_worker_the_deadline_is_missed_recorded_and_its_sectors_fault(tmp_path, chain):
    net = chain.net
    m = chain.manager(tmp_path / "mgr")
    try:
        wait_for(
            lambda: (
                net.epoch() >= 19
                and (net.settle() or True)
                and any(x["deadline"] == 2 for x in chain.miner.misses)
            ),
            40,
            "deadline 2 missed",
        )
        assert {1, 2} <= chain.miner.faulty
        admin = m.client("admin")

        def deadline_2_misses():
            resp = admin.call(admin.admin.Deadlines, pb.DeadlinesRequest())
            return [x for x in resp.misses if x.deadline == 2]

        wait_for(deadline_2_misses, 15, "the miss recorded")
        (miss,) = deadline_2_misses()
        assert miss.partition == 0 and list(miss.sectors) == [1, 2]
        assert miss.close_epoch == 18
        assert "before any worker claimed the job" in miss.reason
        jobs = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
        assert any(j.state == "expired" and j.deadline == 2 for j in jobs)
        (event,) = [e for e in m.events("deadline_missed") if e["deadline"] == 2]
        assert event["partition"] == 0
    finally:
        m.kill()


def test_a_message_dropped_by_a_reorg_is_pushed_again(tmp_path, chain):
    chain.net.drop_next = 1  # the first SubmitWindowedPoSt never lands
    m = chain.manager(tmp_path / "mgr", resubmit_after=2)
    w = chain.worker(tmp_path / "w1", m)
    try:
        wait_for(lambda: chain.proven(0, 2) == {0}, 40, "deadline 2 proven")
        wait_for(lambda: m.events("post_dropped"), 10, "the drop noticed")

        def submitted():
            return [e for e in m.events("post_submitted") if e["deadline"] == 2]

        wait_for(lambda: len(submitted()) >= 2, 10, "the second post_submitted event")
        first, second = submitted()[:2]
        # The dropped message never took its nonce, so the same message went
        # again (as on Lotus, a message's CID is its content's): it landed.
        assert (first["nonce"], first["sender"]) == (second["nonce"], second["sender"])
        assert second["cid"] in chain.net.messages
        assert not chain.miner.misses
    finally:
        w.kill()
        m.kill()


def test_a_deadline_that_opened_and_closed_with_no_manager_is_recorded_as_missed(tmp_path, chain):
    """No leader from before deadline 3 was planned until after it closed
    (a database away longer than a deadline): nothing was planned, so no
    job stands for it, yet the chain marked its sectors faulty. The manager
    back records both partitions as missed, saying why."""
    net = chain.net
    m = chain.manager(tmp_path / "mgr")
    try:
        wait_for(lambda: m.events("deadline_jobs_created"), 30, "deadline 2 planned")
        assert [e["deadline"] for e in m.events("deadline_jobs_created")] == [2]
        m.kill()  # before deadline 3's challenge (epoch 16) is reached
        assert net.epoch() < 16, "too late: the manager may have planned deadline 3"
        wait_for(lambda: net.epoch() >= 25, 30, "deadline 3 closed (epoch 24)")
        m.restart()
        admin = m.client("admin")

        def deadline_3_misses():
            resp = admin.call(admin.admin.Deadlines, pb.DeadlinesRequest())
            return sorted(
                (x.partition, tuple(x.sectors), x.reason) for x in resp.misses if x.deadline == 3
            )

        wait_for(lambda: len(deadline_3_misses()) == 2, 20, "deadline 3's misses recorded")
        (p0, s0, reason), (p1, s1, _) = deadline_3_misses()
        assert (p0, s0, p1, s1) == (0, (3, 4), 1, (5, 6))
        assert reason.startswith("not planned: the deadline opened and closed while no manager")
        assert {3, 4, 5, 6} <= chain.miner.faulty  # the chain's side of it
        assert {e["partition"] for e in m.events("deadline_missed") if e["deadline"] == 3} == {0, 1}
        jobs = admin.call(admin.admin.ListJobs, pb.ListJobsRequest(all=True)).jobs
        assert not [j for j in jobs if j.deadline == 3]  # recorded, not planned late
    finally:
        m.kill()
