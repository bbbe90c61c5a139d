"""Shadow mode's record on both backends, and the ShadowProver's two steps
over a real job store with a node double: readiness recorded once, when the
Submitter's rule would have pushed, and at Close the chain's PoSts (anyone's)
read and compared per partition, once."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace

from conftest import job_spec
from prover.chain.deadlines import Policy, deadline_info
from prover.chain.encoding import (
    METHOD_DECLARE_FAULTS_RECOVERED,
    METHOD_SUBMIT_WINDOWED_POST,
    encode_declare_faults_recovered,
    encode_submit_windowed_post,
)
from prover.chain.lotus import ChainMessage, MsgLookup, Partition
from prover.config import ChainConfig
from prover.store.shadow import ChainPost, DeadlineTurn, ReadyPartition, ShadowBook
from prover.tracker.shadow import ShadowProver, turn_of

MINER = 1000
POLICY = Policy.devnet(
    challenge_window=10, challenge_lookback=3, fault_declaration_cutoff=5, period_deadlines=8
)
TURN = DeadlineTurn(MINER, 0, 2, 20, 30)


def test_readiness_is_recorded_once_and_settling_compares_each_partition_once(store):
    book = ShadowBook(store.db)
    assert book.record_ready(TURN, [ReadyPartition(0, 11, [])], 24) == [0]
    # a later pass does not move the first readiness
    assert book.record_ready(TURN, [ReadyPartition(0, 11, []), ReadyPartition(1, 12, [7])], 27) == [
        1
    ]
    assert book.ready_partitions(TURN) == {0, 1}
    posts = [
        ChainPost("bafy-a", "t0101", 26, 0, frozenset({0})),
        ChainPost("bafy-b", "t0101", 29, 0, frozenset({2})),  # a partition we had no job for
    ]
    rows = book.settle(TURN, [0, 1], posts, {1: {7}, 2: set()})
    got = {r.partition: (r.outcome, r.ready_epoch, r.chain_epoch, r.chain_faulty) for r in rows}
    assert got == {
        0: ("both", 24, 26, []),
        1: ("ours_only", 27, None, [7]),
        2: ("chain_only", None, 29, []),
    }
    assert book.settled_turns([TURN]) == {(MINER, 0, 2)}
    # settled rows never change: a second settle (a restart) settles nothing
    assert book.settle(TURN, [0, 1], [], {}) == []
    assert book.record_ready(TURN, [ReadyPartition(2, 13, [])], 31) == []
    listed = book.rows(MINER)
    assert [(r.partition, r.outcome, r.skipped) for r in listed] == [
        (0, "both", []),
        (1, "ours_only", [7]),
        (2, "chain_only", []),
    ]
    assert [r.partition for r in book.rows(outcomes=("chain_only",))] == [2]
    assert book.rows(MINER, settled=False) == []


@dataclass
class NodeDouble:
    """What shadow mode reads of a node, recording every call made."""

    messages: dict[str, tuple[ChainMessage, MsgLookup]] = field(default_factory=dict)
    faulty: dict[int, set[int]] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    listed_up_to: list[int] = field(default_factory=list)

    def address(self, actor_id: int) -> str:
        return f"t0{actor_id}"

    head: int = 32

    def chain_head(self):
        self.calls.append("ChainHead")
        return SimpleNamespace(height=self.head)

    def chain_get_tipset_by_height(self, height: int):
        self.calls.append("ChainGetTipSetByHeight")
        return SimpleNamespace(height=height)

    def state_list_messages(self, *, to=None, sender=None, from_height: int, tsk=None):
        self.calls.append("StateListMessages")
        top = tsk.height if tsk is not None else self.head
        self.listed_up_to.append(top)
        return [c for c, (m, look) in self.messages.items() if from_height <= look.height <= top]

    def chain_get_message(self, cid: str) -> ChainMessage:
        self.calls.append("ChainGetMessage")
        return self.messages[cid][0]

    def state_search_msg(self, cid: str):
        self.calls.append("StateSearchMsg")
        return self.messages[cid][1]

    def state_miner_partitions(self, miner: int, deadline: int) -> list[Partition]:
        self.calls.append("StateMinerPartitions")
        return [
            Partition(
                all=frozenset({1, 2, 7}),
                faulty=frozenset(self.faulty.get(i, ())),
                recovering=frozenset(),
                live=frozenset({1, 2, 7}),
                active=frozenset({1, 2, 7}),
            )
            for i in range(2)
        ]

    def land(self, cid: str, epoch: int, method: int, params: bytes, exit_code: int = 0) -> None:
        msg = ChainMessage(cid, "t0101", f"t0{MINER}", len(self.messages), method, params)
        self.messages[cid] = (msg, MsgLookup(cid, exit_code, epoch, ()))


def post_params(deadline: int, *partitions: int) -> bytes:
    return encode_submit_windowed_post(
        deadline, [(p, set()) for p in partitions], 10, bytes(192), 17, bytes(32)
    )


def test_the_shadow_prover_records_when_it_would_push_and_compares_at_close(store):
    d = deadline_info(0, 2, 24, POLICY)  # deadline 2: open 20, close 30
    ids = [
        i
        for i, _ in store.add_jobs(
            [job_spec(p, deadline=2, period_start=0, close_epoch=d.close) for p in (0, 1)]
        )
    ]
    node = NodeDouble(faulty={1: {7}})
    book = ShadowBook(store.db)
    shadow = ShadowProver(
        store, book, node, ChainConfig(max_partitions_per_message=1), lambda m: POLICY
    )
    # partition 0 proven and verified at epoch 24: it would go now
    job = store.claim("w")
    store.finish("w", job.id, job.attempt, success=True, proof=b"p" * 192)
    shadow.submit(MINER, d, 24)
    assert book.ready_partitions(turn_of(MINER, d)) == {0}
    # partition 1 only at epoch 31, after Close: never ready in time
    job = store.claim("w")
    store.finish("w", job.id, job.attempt, success=True, proof=b"p" * 192, faulty=[7])
    # the chain: the existing system's PoSt for both partitions at 26, a
    # recovery declaration and a PoSt of another deadline beside it
    node.land("bafy-post", 26, METHOD_SUBMIT_WINDOWED_POST, post_params(2, 0, 1))
    node.land("bafy-other", 27, METHOD_SUBMIT_WINDOWED_POST, post_params(3, 0))
    node.head = 36
    node.land("bafy-after", 35, METHOD_SUBMIT_WINDOWED_POST, post_params(2, 1))  # after Close
    node.land(
        "bafy-rec",
        25,
        METHOD_DECLARE_FAULTS_RECOVERED,
        encode_declare_faults_recovered([(4, 0, {1})]),
    )
    shadow.settle(36, confidence=1, lookback=lambda: 40)
    rows = {r.partition: r for r in book.rows(MINER)}
    # read from the tipset after Close (31), not from the head (36)
    assert node.listed_up_to == [31]
    assert rows[0].outcome == "both" and rows[0].ready_epoch == 24
    assert rows[0].chain_cid == "bafy-post" and rows[0].chain_sender == "t0101"
    assert rows[1].outcome == "chain_only" and rows[1].ready_epoch is None
    assert rows[1].chain_faulty == [7]
    assert sorted(r.job_id for r in rows.values()) == sorted(ids)
    # settled once: another pass reads nothing of the chain again
    node.calls.clear()
    shadow.settle(40, confidence=1, lookback=lambda: 40)
    assert "StateListMessages" not in node.calls
    # and nothing here ever asked to sign, estimate or push
    assert not [c for c in node.calls if c.startswith(("Wallet", "Mpool", "Gas"))]
