"""The dispute watch's rules, free of I/O: how long a turn's PoSts may be
disputed and followed, which turn a dispute names, which PoSt its index
names, and the alert a landed dispute raises."""

from __future__ import annotations

from prover.alerts import rules as r
from prover.chain.deadlines import MAINNET, Policy, deadline_info
from prover.chain.lotus import ProvingDeadline
from prover.store.disputes import LandedTurn
from prover.store.shadow import ChainPost
from prover.tracker.disputes import (
    dispute_window_end,
    disputed_period_start,
    disputed_post,
    followed,
    turn_close,
)

DEVNET = Policy.devnet(challenge_window=10, period_deadlines=24)  # a 240-epoch period


def head(policy: Policy, period_start: int, epoch: int) -> ProvingDeadline:
    return ProvingDeadline(deadline_info(period_start, 0, epoch, policy), policy)


def test_the_window_is_1800_epochs_or_until_the_deadline_opens_again():
    assert dispute_window_end(240, MAINNET) == 240 + 1800
    # a 240-epoch period: deadline 3 (closed at 40) opens again at 270
    assert dispute_window_end(40, DEVNET) == 270
    assert turn_close(2880, 3, MAINNET) == 2880 + 240


def test_turns_are_followed_until_their_window_has_ended_confidence_epochs_ago():
    turns = [LandedTurn(1000, 0, 3, 200), LandedTurn(1001, 0, 3, 30), LandedTurn(1002, 0, 0, 5)]
    policies = {1000: MAINNET, 1001: DEVNET}  # 1002's head not read yet
    assert followed(turns, 2041, policies.get, 2) == {
        1000: [turns[0]],  # ends at 2040, followed through 2041
    }
    assert followed(turns, 269, policies.get, 2) == {1000: [turns[0]], 1001: [turns[1]]}
    assert followed(turns, 271, policies.get, 2) == {1000: [turns[0]], 1001: [turns[1]]}
    assert followed(turns, 272, policies.get, 2) == {1000: [turns[0]]}
    assert followed(turns, 2042, policies.get, 2) == {}


def test_a_dispute_names_the_last_turn_of_its_deadline():
    # at epoch 300 mainnet's current deadline is 5 (of the period from 0)
    h = head(MAINNET, 0, 300)
    assert disputed_period_start(h, 3, 300) == 0  # closed at 240, this period
    assert disputed_period_start(h, 40, 300) == -2880  # closed last period
    # a miner whose periods start at 100 (mod 2880), head read in a later period
    h = head(MAINNET, 100 + 2880, 3000)
    assert disputed_period_start(h, 0, 100 + 2880 + 70) == 100 + 2880
    assert disputed_period_start(h, 5, 100 + 2880 + 70) == 100  # later in the period: the last


def post(cid: str, epoch: int, exit_code: int = 0, partitions=(0,)) -> ChainPost:
    return ChainPost(cid, "t0100", epoch, exit_code, frozenset(partitions))


def test_the_index_counts_successful_posts_in_execution_order():
    # as StateListMessages lists them: newest tipset first, each in order
    listed = [post("d", 9), post("e", 9, partitions=(4,)), post("x", 8, 16), post("a", 7)]
    listed += [post("b", 7, partitions=(1, 2)), post("c", 8)]
    order = [disputed_post(listed, i).cid for i in range(5)]
    assert order == ["a", "b", "c", "d", "e"]
    assert disputed_post(listed, 5) is None and disputed_post([], 0) is None
    assert disputed_post(listed, 1).partitions == {1, 2}


def fact(epoch: int = 500, **kw) -> r.DisputeFact:
    values = {
        "miner": 1000,
        "period_start": 0,
        "deadline": 2,
        "post_index": 0,
        "partitions": [0, 1],
        "dispute_cid": "bafy-dispute",
        "disputer": "t0200",
        "epoch": epoch,
        "post_cid": "bafy-ours",
        "workers": ["gpu-3"],
        **kw,
    }
    return r.DisputeFact(**values)


def test_a_dispute_pages_critically_for_a_period():
    (alert,) = r.disputed_posts([fact()], 600, 480)
    assert alert.name == "ProverPoStDisputed" and alert.severity == "critical"
    assert r.usual_severity(r.POST_DISPUTED) == "critical" and r.POST_DISPUTED in r.ALERT_NAMES
    assert dict(alert.labels) == {
        "miner": "1000",
        "period_start": "0",
        "deadline": "2",
        "dispute_cid": "bafy-dispute",
    }
    assert "disputed on chain at epoch 500 and found invalid" in alert.summary
    assert "partitions 0, 1 are faulty" in alert.summary and "gpu-3" in alert.summary
    assert "prover params check" in alert.summary
    assert alert.details["post_cid"] == "bafy-ours" and alert.details["disputer"] == "t0200"
    assert r.disputed_posts([fact()], 979, 480) and not r.disputed_posts([fact()], 980, 480)
    (unknown,) = r.disputed_posts([fact(partitions=[], workers=[], post_cid="")], 600, 480)
    assert "partitions unknown" in unknown.summary and "workers: unknown" in unknown.summary
