"""Shadow mode's rules, free of I/O: how one partition compares with the
chain, which of the chain's PoSts counts for it, the alerts on a
disagreement, and a read-only node client that cannot send."""

from __future__ import annotations

import pytest

from prover.alerts import rules
from prover.chain.lotus import LotusClient, ReadOnlyRefused
from prover.chain.message import Message
from prover.store.shadow import ChainPost, landed_post, outcome_of

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
