"""What a manager in shadow mode reads of the devnet, in Lotus' JSON shapes
(``documentation/en/api-methods-v1-stable.md``), through the Lotus client
over loopback HTTP: the messages on chain to or from an address
(``StateListMessages``), each one (``ChainGetMessage``), and the count of
every RPC call the devnet answered (``DevnetStatus``'s ``rpc_calls``). And
the incumbent's options, which need no proof."""

from __future__ import annotations

import base64

import pytest

from prover.chain.deadlines import Policy, deadline_info
from prover.chain.encoding import METHOD_DECLARE_FAULTS_RECOVERED, encode_declare_faults_recovered
from prover.chain.lotus import LotusClient, LotusError
from prover.chain.message import ATTO_PER_FIL
from prover.devnet import Devnet, DevnetMiner, DevnetServer
from prover.devnet.incumbent import (
    INCUMBENT_SENDER,
    IncumbentConfig,
    Proven,
    add_incumbent_account,
    format_slots,
    parse_deadline_list,
    parse_partition_list,
    plan_messages,
    turn_number,
)
from prover.devnet.mpool import Account, Mpool, key_address_for
from prover.proofs import PoStProofType

MINER = 1000
OTHER = 1001
WORKER = "t0100"
SECOND = "t0200"


class Seconds:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def node():
    clock = Seconds()
    miners = [
        DevnetMiner(MINER, 10, 0, {2: [[1, 2]]}, {1: bytes(32), 2: bytes([1]) * 32}),
        DevnetMiner(OTHER, 10, 0, {2: [[1]]}, {1: bytes(32)}),
    ]
    mpool = Mpool(
        [
            Account(WORKER, key_address_for(WORKER), 10 * ATTO_PER_FIL),
            Account(SECOND, key_address_for(SECOND), 10 * ATTO_PER_FIL),
        ]
    )
    net = Devnet(miners, Policy.devnet(), clock=clock, genesis=clock.now, mpool=mpool)
    server = DevnetServer(net).start()
    client = LotusClient(server.url, network="t", epoch_seconds=1.0, retries=0)
    yield net, clock, client, server
    client.close()
    server.stop()


def declare(client: LotusClient, miner: int, sender: str) -> str:
    """A message the devnet's actor takes at any time (nothing to declare)."""
    return client.mpool_push_message(
        f"t0{miner}", sender, METHOD_DECLARE_FAULTS_RECOVERED, encode_declare_faults_recovered([])
    )


def listed(client: LotusClient, to=None, sender=None, tsk=(), to_height=0):
    result = client.call("StateListMessages", {"To": to, "From": sender}, list(tsk), to_height)
    return None if result is None else [c["/"] for c in result]


def test_state_list_messages_lists_what_is_on_chain_newest_first(node):
    net, clock, client, _ = node
    clock.now += 3.5  # epoch 3
    a = declare(client, MINER, WORKER)  # executed at 3: in the tipset at 3
    b = declare(client, OTHER, SECOND)
    clock.now += 2  # epoch 5
    c = declare(client, MINER, SECOND)  # executed at 5, found from 6 on
    # landed as StateSearchMsg says: in the tipset after the one it is in
    assert client.state_search_msg(a).height == 4
    assert listed(client, to=f"t0{MINER}") == [a]  # c is found only from epoch 6
    clock.now += 1  # epoch 6
    raw = client.call("StateListMessages", {"To": f"t0{MINER}", "From": None}, [], 0)
    assert raw == [{"/": c}, {"/": a}]  # Lotus' shape: CIDs, newest tipset first
    assert listed(client, sender=SECOND) == [c, b]
    assert listed(client, to=f"t0{MINER}", sender=SECOND) == [c]
    # an unset address as Lotus writes it, and the other network's prefix
    assert listed(client, to=f"f0{MINER}", sender="<empty>") == [c, a]
    # from a tipset back to a height, both included
    assert listed(client, to=f"t0{MINER}", to_height=4) == [c]
    assert listed(client, to=f"t0{MINER}", to_height=3) == [c, a]
    assert listed(client, to=f"t0{MINER}", tsk=net.tipset(4)["Cids"]) == [a]
    # the same through the client, from the tipset ChainGetTipSetByHeight gives
    four = client.chain_get_tipset_by_height(4)
    assert four.height == 4 and list(four.key) == net.tipset(4)["Cids"]
    assert client.state_list_messages(to=f"t0{MINER}", from_height=0, tsk=four) == [a]
    with pytest.raises(LotusError, match="greater than start point"):
        client.chain_get_tipset_by_height(7)
    # nothing: null, as Lotus' nil list; no actor for the address: null too
    assert listed(client, to=f"t0{MINER}", sender=WORKER, to_height=5) is None
    assert listed(client, to="t09999") is None
    with pytest.raises(LotusError, match="must specify at least To or From"):
        listed(client)


def test_a_message_waiting_in_the_pool_is_not_listed(node):
    net, clock, client, _ = node
    clock.now += 2.5
    net.mpool.base_fee = 10**12  # a spike: the estimate's fee cap does not pay it
    net.mpool.estimate_base_fee = 100
    cid = declare(client, MINER, WORKER)
    clock.now += 3
    assert client.state_search_msg(cid) is None
    assert listed(client, to=f"t0{MINER}") is None
    # ... but the node has it: ChainGetMessage reads it (Lotus keeps what its
    # mpool takes in the chain blockstore)
    assert client.call("ChainGetMessage", {"/": cid})["CID"] == {"/": cid}


def test_chain_get_message_answers_the_message_in_lotus_shape(node):
    net, clock, client, _ = node
    clock.now += 1.5
    cid = declare(client, MINER, SECOND)
    clock.now += 1
    msg = client.call("ChainGetMessage", {"/": cid})
    assert list(msg) == [
        "Version",
        "To",
        "From",
        "Nonce",
        "Value",
        "GasLimit",
        "GasFeeCap",
        "GasPremium",
        "Method",
        "Params",
        "CID",
    ]
    pushed = net.messages[cid]
    assert msg == {
        "Version": 0,
        "To": f"t0{MINER}",
        "From": SECOND,
        "Nonce": 0,
        "Value": "0",
        "GasLimit": pushed.gas_limit,
        "GasFeeCap": str(pushed.gas_fee_cap),
        "GasPremium": str(pushed.gas_premium),
        "Method": METHOD_DECLARE_FAULTS_RECOVERED,
        "Params": base64.b64encode(encode_declare_faults_recovered([])).decode(),
        "CID": {"/": cid},
    }
    assert pushed.gas_limit > 0 and pushed.gas_fee_cap > 0
    second = declare(client, MINER, SECOND)
    clock.now += 1
    assert client.call("ChainGetMessage", {"/": second})["Nonce"] == 1
    with pytest.raises(LotusError, match="ipld: could not find bafy2devnetmsgnothere"):
        client.call("ChainGetMessage", {"/": "bafy2devnetmsgnothere"})


def test_rpc_calls_count_what_came_over_rpc_only(node):
    net, clock, client, server = node
    clock.now += 1.5
    client.chain_head()
    client.chain_head()
    declare(client, MINER, WORKER)
    with pytest.raises(LotusError):
        client.call("StateMinerFaults", f"t0{MINER}", [])  # refused, still answered
    # in process (as the incumbent pushes): not an RPC call
    net.push(
        {
            "To": f"t0{MINER}",
            "From": SECOND,
            "Method": METHOD_DECLARE_FAULTS_RECOVERED,
            "Params": base64.b64encode(encode_declare_faults_recovered([])).decode(),
        }
    )
    status = client.call("DevnetStatus")
    assert status["rpc_calls"] == {
        "Filecoin.ChainHead": 2,
        "Filecoin.DevnetStatus": 1,
        "Filecoin.MpoolPushMessage": 1,
        "Filecoin.StateMinerFaults": 1,
    }
    assert server.rpc_calls.snapshot()["Filecoin.DevnetStatus"] == 1
    assert len(status["messages"]) == 2
    assert "incumbent" not in status  # none runs here


# ---- the incumbent's options -----------------------------------------------------------


def test_incumbent_options_round_trip_and_default_to_off():
    assert IncumbentConfig.from_json(None) == IncumbentConfig() and not IncumbentConfig().enabled
    cfg = IncumbentConfig(
        enabled=True,
        miss=(11, 5),
        miss_every=3,
        late=2,
        batch=0,
        spread=True,
        late_partitions=((4, 1),),
        refused_partitions=((2, 0), (4, 2)),
    )
    assert IncumbentConfig.from_json(cfg.to_json()).to_json() == cfg.to_json()
    assert cfg.to_json() == {
        "enabled": True,
        "miss": [5, 11],
        "miss_every": 3,
        "late": 2,
        "batch": 0,
        "spread": True,
        "late_partitions": [[4, 1]],
        "refused_partitions": [[2, 0], [4, 2]],
        "sender": INCUMBENT_SENDER,
    }
    # a set-up saved before batching and single partitions: those are off
    old = {"enabled": True, "miss": [5], "miss_every": 0, "late": None, "sender": "t0101"}
    assert IncumbentConfig.from_json(old) == IncumbentConfig(enabled=True, miss=(5,))
    assert parse_partition_list("4/1, 2/0,4/1") == ((2, 0), (4, 1))
    assert parse_partition_list(None) == () and format_slots([(4, 1), (2, 0)]) == "2/0,4/1"
    for bad in ("4", "4/x", "4/1/2", "-1/0"):
        with pytest.raises(ValueError):
            parse_partition_list(bad)
    with pytest.raises(ValueError, match="either late or refused"):
        IncumbentConfig(late_partitions=((4, 1),), refused_partitions=((4, 1),))
    assert parse_deadline_list("5,11, 5") == (5, 11) and parse_deadline_list("") == ()
    for bad in ("5,x", "-1"):
        with pytest.raises(ValueError):
            parse_deadline_list(bad)
    with pytest.raises(ValueError):
        IncumbentConfig(late=-1)


def test_which_deadlines_the_incumbent_misses_and_when_it_pushes():
    policy = Policy.devnet(challenge_window=10, period_deadlines=4)
    m = DevnetMiner(MINER, 10, 0, {1: [[1]], 3: [[2]]}, {1: bytes(32), 2: bytes(32)})

    def dl(period: int, index: int):
        return deadline_info(period * policy.proving_period, index, 0, policy)

    # its turns: deadlines with partitions, in chain order across periods
    assert [turn_number(m, dl(p, d)) for p in (0, 1) for d in (1, 3)] == [0, 1, 2, 3]
    told = IncumbentConfig(enabled=True, miss=(3,))
    assert told.miss_reason(m, dl(0, 1)) is None
    assert "deadline 3" in told.miss_reason(m, dl(1, 3))
    every = IncumbentConfig(enabled=True, miss_every=3)
    missed = [(p, d) for p in (0, 1, 2) for d in (1, 3) if every.miss_reason(m, dl(p, d))]
    assert missed == [(1, 1), (2, 3)]  # turns 2 and 5
    d = dl(0, 1)  # epochs 10..19
    assert IncumbentConfig().push_epoch(d) == 10
    assert IncumbentConfig(late=3).push_epoch(d) == 17
    assert IncumbentConfig(late=0).push_epoch(d) == 20  # at Close: too late
    assert IncumbentConfig(late=50).push_epoch(d) == 10  # never before Open


KIB2 = PoStProofType.WINDOW_2KIB.chain_id  # 2 sectors a partition


def proven(partition: int, sectors: list[int], skipped=()) -> Proven:
    return Proven(partition, sectors, set(skipped), bytes([partition]) * 192)


def shape(messages) -> list[tuple[list[int], int, str | None]]:
    return [([p.partition for p in o.partitions], o.push_at, o.told) for o in messages]


def test_how_the_incumbent_packs_a_deadlines_partitions_and_when_each_goes():
    """One a message as Curio sends them; batched as lotus-miner does, up to
    its cap and the actor's (3), as the verifier re-chunks them; a partition
    told to fail alone; spread an epoch apart, a late one at Close."""
    policy = Policy.devnet(challenge_window=10, period_deadlines=4)
    d = deadline_info(0, 1, 0, policy)  # epochs 10..19
    four = [proven(0, [1, 2]), proven(1, [3, 4]), proven(2, [5, 6]), proven(3, [7, 8])]

    def plan(parts=four, **options):
        return shape(plan_messages(IncumbentConfig(enabled=True, **options), d, parts, KIB2))

    assert plan() == [([0], 10, None), ([1], 10, None), ([2], 10, None), ([3], 10, None)]
    assert plan(batch=0) == [([0, 1, 2], 10, None), ([3], 10, None)]
    assert plan(batch=9) == plan(batch=0)  # never more than the actor takes
    assert plan(batch=2) == [([0, 1], 10, None), ([2, 3], 10, None)]
    assert IncumbentConfig(batch=9).per_message(KIB2) == 3
    assert IncumbentConfig().per_message(KIB2) == 1
    # singled out: alone, the rest still batched (they re-chunk the same)
    assert plan(batch=0, refused_partitions=((1, 1),)) == [
        ([0, 2, 3], 10, None),
        ([1], 10, "refused"),
    ]
    assert plan(batch=0, refused_partitions=((2, 1),)) == plan(batch=0)  # another deadline
    # what the verifier cannot re-chunk: a skipped sector goes alone, a
    # partition that is not full ends its message, sectors must ascend
    skipped = [four[0], four[1], proven(2, [5, 6], skipped=[6]), four[3]]
    assert plan(skipped, batch=0) == [([0, 1, 3], 10, None), ([2], 10, None)]
    short = [four[0], proven(1, [3]), four[2], four[3]]
    assert plan(short, batch=0) == [([0, 1], 10, None), ([2, 3], 10, None)]
    unordered = [four[0], proven(1, [9, 10]), proven(2, [5, 6])]
    assert plan(unordered, batch=0) == [([0, 1], 10, None), ([2], 10, None)]
    # spread: an epoch apart; a late one at Close, not counted in the spread
    assert plan(spread=True, late_partitions=((1, 2),)) == [
        ([0], 10, None),
        ([1], 11, None),
        ([2], 20, "late"),
        ([3], 12, None),
    ]
    # from late epochs before Close: spread, but never at Close for that
    assert plan(spread=True, late=3) == [
        ([0], 17, None),
        ([1], 18, None),
        ([2], 19, None),
        ([3], 19, None),
    ]


def test_the_incumbents_account_is_funded_held_and_a_control_address(node):
    net, _, client, _ = node
    cfg = IncumbentConfig(enabled=True)
    assert add_incumbent_account(net, cfg)
    assert not add_incumbent_account(net, cfg)  # once
    assert client.wallet_has(key_address_for(INCUMBENT_SENDER))
    assert client.wallet_balance(INCUMBENT_SENDER) == 1000 * ATTO_PER_FIL
    assert INCUMBENT_SENDER in client.state_miner_info(MINER).control_addresses
    # kept in the set-up, as devnet.json holds it
    again = Devnet.from_json(net.to_json())
    assert again.mpool.account(INCUMBENT_SENDER).held
    assert again.miners[MINER].control_addresses == [INCUMBENT_SENDER]


def test_the_incumbent_skips_what_it_cannot_or_must_not_prove_and_says_so(tmp_path):
    """No proof is made here: a placeholder miner's sectors are not in the
    store, and a deadline it is told to miss is not even read."""
    from prover.devnet import placeholder_miner
    from prover.devnet.incumbent import Incumbent

    clock = Seconds()
    miners = [
        placeholder_miner(MINER, "32GiB", {0: 1}),
        placeholder_miner(OTHER, "32GiB", {0: 1, 1: 1}),
    ]
    net = Devnet(miners, Policy.devnet(), clock=clock, genesis=clock.now)
    cfg = IncumbentConfig(enabled=True, miss=(1,))
    add_incumbent_account(net, cfg)
    incumbent = Incumbent(net, tmp_path / "store", cfg)
    for epoch in (0, 1, 8):
        clock.now = net.genesis + epoch
        incumbent.tick()
    assert net.messages == {} and not net.mpool.pending
    status = incumbent.status()
    assert {k: status[k] for k in cfg.to_json()} == cfg.to_json() and status["pushed"] == []
    assert [(s["miner"], s["deadline"], s["reason"]) for s in status["skipped"]] == [
        (MINER, 0, "no sector of this miner in the devnet's store"),
        (OTHER, 0, "no sector of this miner in the devnet's store"),
        (OTHER, 1, "told to miss deadline 1"),
    ]
