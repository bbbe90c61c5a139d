"""Shadow mode's rules, free of I/O: how one partition compares with the
chain, which of the chain's PoSts counts for it, the alerts on a
disagreement, and a read-only node client that cannot send."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from prover.alerts import rules
from prover.chain.encoding import (
    METHOD_DECLARE_FAULTS_RECOVERED,
    METHOD_SUBMIT_WINDOWED_POST,
    encode_submit_windowed_post,
)
from prover.chain.lotus import ChainMessage, LotusClient, MsgLookup, ReadOnlyRefused
from prover.chain.message import Message
from prover.store.shadow import ChainPost, DeadlineTurn, landed_post, outcome_of
from prover.tracker.shadow import chain_posts

CLOSE = 100


@pytest.mark.parametrize(
    ("ready", "landed", "outcome"),
    [
        (90, True, "both"),
        (CLOSE - 1, True, "both"),  # pushed at Close - 1 may still land
        (CLOSE, True, "chain_only"),  # ready at Close is too late
        (None, True, "chain_only"),
        (90, False, "ours_only"),
        (None, False, "neither"),
        (CLOSE + 3, False, "neither"),
    ],
)
def test_a_partition_compares_by_readiness_before_close_and_the_chains_post(ready, landed, outcome):
    assert outcome_of(ready, CLOSE, landed) == outcome


def post(cid, epoch, exit_code, *parts):
    return ChainPost(cid, "t0101", epoch, exit_code, frozenset(parts))


def test_the_first_successful_post_counts_and_a_failed_one_is_kept_to_show():
    posts = [post("a", 95, 16, 0), post("b", 97, 0, 0, 1), post("c", 98, 0, 0)]
    assert landed_post(posts, 0).cid == "b"
    assert landed_post(posts, 1).cid == "b"
    assert landed_post([post("a", 95, 16, 0)], 0).exit_code == 16  # shown, not landed
    assert landed_post(posts, 2) is None


class Tipsets:
    """A node's answers to what ``chain_posts`` asks, each message with the
    tipset that included it (where it executed) and the one holding its
    receipt (what StateSearchMsg reports: the next non-null tipset)."""

    def __init__(self, head: int) -> None:
        self.head = head
        self.messages: dict[str, tuple[ChainMessage, int, MsgLookup]] = {}

    def add(
        self,
        cid,
        included,
        receipt,
        exit_code,
        deadline,
        *parts,
        method=METHOD_SUBMIT_WINDOWED_POST,
    ) -> None:
        params = encode_submit_windowed_post(
            deadline, [(p, set()) for p in parts], 10, bytes(192), 80, bytes(32)
        )
        msg = ChainMessage(cid, "t0101", "t01000", len(self.messages), method, params)
        self.messages[cid] = (msg, included, MsgLookup(cid, exit_code, receipt, ()))

    def address(self, actor_id):
        return f"t0{actor_id}"

    def chain_head(self):
        return SimpleNamespace(height=self.head)

    def chain_get_tipset_by_height(self, height):
        return SimpleNamespace(height=height)

    def state_list_messages(self, *, to, from_height, tsk):
        return [c for c, (_, inc, _) in self.messages.items() if from_height <= inc <= tsk.height]

    def chain_get_message(self, cid):
        return self.messages[cid][0]

    def state_search_msg(self, cid):
        return self.messages[cid][2]


def test_each_partition_is_judged_by_whichever_message_carried_it():
    """Deadline 3, epochs 90..99: partitions 0 and 1 in one message (as
    lotus-miner batches them), 2 alone and refused, 3 alone at Close (too
    late: refused), 4 alone at Close - 1 with null rounds after it, so its
    receipt is only in the tipset at 102; another deadline's PoSt and a
    recovery declaration beside them."""
    chain = Tipsets(head=104)
    chain.add("batch", 91, 92, 0, 3, 0, 1)
    chain.add("refused", 93, 94, 16, 3, 2)
    chain.add("late", CLOSE, CLOSE + 1, 16, 3, 3)
    chain.add("null-rounds", CLOSE - 1, CLOSE + 2, 0, 3, 4)
    chain.add("other-deadline", 95, 96, 0, 4, 0)
    chain.add("recovery", 95, 96, 0, 3, 5, method=METHOD_DECLARE_FAULTS_RECOVERED)
    chain.add("next-tipset", CLOSE + 2, CLOSE + 3, 16, 3, 5)  # not listed
    posts = chain_posts(chain, 1000, DeadlineTurn(1000, 0, 3, 90, CLOSE))
    seen = {p: landed_post(posts, p) for p in range(6)}
    assert {p: (s.cid, s.epoch, s.exit_code) for p, s in seen.items() if s} == {
        0: ("batch", 92, 0),
        1: ("batch", 92, 0),
        2: ("refused", 94, 16),
        3: ("late", CLOSE + 1, 16),  # shown: the chain has a PoSt for it, refused
        4: ("null-rounds", CLOSE + 2, 0),  # executed at Close - 1: it counts
    }
    assert seen[5] is None


def fact(outcome, ready=None, chain=None, close=CLOSE):
    return rules.ShadowFact(1000, 0, 3, 1, close, outcome, ready, chain, "t0101", "bafy-x")


def test_a_miss_we_would_have_made_warns_and_a_miss_of_the_existing_system_informs():
    alerts = rules.shadow_differences(
        [
            fact("chain_only", ready=None, chain=95),
            fact("ours_only", ready=90),
            fact("both", ready=90, chain=95),
            fact("neither"),
        ],
        epoch=CLOSE + 2,
        proving_period=240,
    )
    assert [(a.name, a.severity) for a in alerts] == [
        (rules.SHADOW_WOULD_MISS, "warning"),
        (rules.SHADOW_CHAIN_MISSED, "info"),
    ]
    assert "the chain's own PoSt landed at epoch 95, ours was never ready" in alerts[0].summary
    assert alerts[0].labels == {
        "miner": "1000",
        "period_start": "0",
        "deadline": "3",
        "partition": "1",
    }
    # a period later the deadline has come round again: quiet
    later = rules.shadow_differences([fact("chain_only", chain=95)], CLOSE + 240, 240)
    assert later == []
    assert rules.usual_severity(rules.SHADOW_CHAIN_MISSED) == "info"


def test_a_read_only_client_refuses_every_sending_call_before_the_network():
    # nothing listens on port 9: a call that went out would fail otherwise
    client = LotusClient("http://127.0.0.1:9/rpc/v1", retries=0, read_only=True, network="t")
    msg = Message(to="t01000", sender="t0100", nonce=0, value=0, method=5, params=b"")
    for call in (
        lambda: client.mpool_push_message("t01000", "t0100", 5, b""),
        lambda: client.wallet_sign_message("t0100", msg),
        lambda: client.gas_estimate_message_gas(msg),
        lambda: client.call("MpoolPush", {}),
        lambda: client.call("GasEstimateFeeCap", {}, 0, []),
        lambda: client.call("WalletSignMessage", "t0100", {}),
    ):
        with pytest.raises(ReadOnlyRefused, match="read-only"):
            call()
    client.close()
