"""The devnet's incumbent: an existing prover that submits the miner's
WindowPoSts itself (real proofs of the store's 2KiB sectors, signed messages
through the devnet's mpool from its own account), misses the deadlines it
is told to, lands late when told, and never pushes twice across a restart.
What a manager in shadow mode reads of it goes through the Lotus client
over HTTP, in Lotus' shapes.

Most tests drive ``Incumbent.tick`` with the devnet's clock in hand; one
runs it as ``prover devnet init --incumbent`` sets it up, on its thread in
the process that serves the devnet, in real time."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from chain_fixtures import Seconds
from prover.chain.deadlines import Policy
from prover.chain.encoding import (
    METHOD_SUBMIT_WINDOWED_POST,
    decode_submit_windowed_post,
    id_address_cbor,
)
from prover.chain.lotus import TAG_WINDOWED_POST_CHALLENGE_SEED, LotusClient
from prover.cli.devnet_cmds import devnet_group, devnet_policy
from prover.devnet import Devnet, DevnetMiner, DevnetServer, devnet_paths, init_devnet
from prover.devnet.home import load_incumbent_config, serve_home_devnet
from prover.devnet.incumbent import (
    INCUMBENT_SENDER,
    Incumbent,
    IncumbentConfig,
    add_incumbent_account,
)
from prover.devnet.mpool import key_address_for
from prover.proofs import (
    PoStProofType,
    create_test_sectors,
    ensure_test_params,
    mask_randomness,
    prover_id,
    verify_window_post,
)
from prover.store.shadow import DeadlineTurn, landed_post
from prover.tracker.shadow import chain_posts

MINER = 1000
KIB2 = PoStProofType.WINDOW_2KIB


@pytest.fixture
def chain(tmp_path):
    """Deadline 0 (epochs 0..9): partitions [1, 2] and [3, 4]; deadline 1
    (10..19): [5, 6]; challenges 3 epochs before Open."""
    ensure_test_params(KIB2)
    store = tmp_path / "store"
    replicas = create_test_sectors(store, MINER, range(1, 7), KIB2)
    miner = DevnetMiner(
        actor_id=MINER,
        proof_type=KIB2.chain_id,
        period_offset=0,
        deadlines={0: [[1, 2], [3, 4]], 1: [[5, 6]]},
        comm_r={r.sector_id: r.comm_r for r in replicas},
    )
    clock = Seconds()
    net = Devnet([miner], Policy.devnet(), clock=clock)
    server = DevnetServer(net, token="t").start()
    client = LotusClient(server.url, "t", network="t", epoch_seconds=1.0, retries=0)
    yield net, clock, store, client
    client.close()
    server.stop()


def incumbent_for(net: Devnet, store, **options) -> Incumbent:
    config = IncumbentConfig(enabled=True, **options)
    add_incumbent_account(net, config)
    return Incumbent(net, store, config)


def at(net, clock, epoch: int, incumbent: Incumbent | None = None) -> None:
    clock.to_epoch(net.genesis, epoch)
    if incumbent is not None:
        incumbent.tick()


def posts(net) -> list:
    return [m for m in net.messages.values() if m.method == METHOD_SUBMIT_WINDOWED_POST]


def test_the_incumbent_proves_each_deadline_itself_through_the_mpool(chain):
    net, clock, store, client = chain
    incumbent = incumbent_for(net, store)
    at(net, clock, 0, incumbent)  # deadline 0 is open: proven and pushed at once
    assert len(net.mpool.pending) == 0 and len(posts(net)) == 2
    at(net, clock, 1)
    assert net.miners[MINER].proven[(0, 0)] == {0, 1}
    at(net, clock, 7, incumbent)  # deadline 1's challenge: proven, held until Open
    assert len(posts(net)) == 2
    at(net, clock, 10, incumbent)
    at(net, clock, 11)
    assert net.miners[MINER].proven[(0, 1)] == {0}
    landed = posts(net)
    assert [(m.sender, m.exit_code, m.height) for m in landed] == [
        (INCUMBENT_SENDER, 0, 1),
        (INCUMBENT_SENDER, 0, 1),
        (INCUMBENT_SENDER, 0, 11),
    ]
    # real signed messages from its own account: nonces in order, gas paid
    account = net.mpool.account(INCUMBENT_SENDER)
    assert account.nonce == 3 and all(m.fee > 0 for m in landed)
    assert [p["partitions"] for p in incumbent.pushed] == [[0], [1], [0]]

    # what a manager in shadow mode reads: the messages to the miner, each
    # one, where it executed (Lotus' JSON, through the Lotus client)
    cids = client.state_list_messages(to=f"t0{MINER}", from_height=0)
    assert cids == [landed[2].cid, landed[0].cid, landed[1].cid]  # newest tipset first
    for cid in cids:
        msg = client.chain_get_message(cid)
        assert (msg.sender, msg.to, msg.method) == (INCUMBENT_SENDER, f"t0{MINER}", 5)
        assert decode_submit_windowed_post(msg.params).deadline in (0, 1)
    raw = client.call("ChainGetMessage", {"/": cids[0]})
    assert raw["Nonce"] == 2 and int(raw["GasFeeCap"]) > 0 and raw["CID"] == {"/": cids[0]}
    turn = DeadlineTurn(MINER, 0, 0, 0, 10)
    found = chain_posts(client, MINER, turn)
    assert sorted(p.partitions for p in found) == [frozenset({0}), frozenset({1})]
    assert {(p.sender, p.exit_code, p.epoch) for p in found} == {(INCUMBENT_SENDER, 0, 1)}
    status = client.call("DevnetStatus")
    assert status["duplicate_posts"] == 0 and status["miners"][0]["misses"] == []
    # the incumbent called nothing over RPC: only this test's calls are counted
    assert set(status["rpc_calls"]) == {
        "Filecoin.ChainHead",  # chain_posts: the tipset after Close, under the head
        "Filecoin.ChainGetTipSetByHeight",
        "Filecoin.StateListMessages",
        "Filecoin.ChainGetMessage",
        "Filecoin.StateSearchMsg",
        "Filecoin.DevnetStatus",
    }


def test_the_incumbent_misses_the_deadlines_it_is_told_to(chain):
    net, clock, store, _ = chain
    incumbent = incumbent_for(net, store, miss=(0,))
    for epoch in (0, 5, 9):
        at(net, clock, epoch, incumbent)
    assert posts(net) == []
    at(net, clock, 10, incumbent)  # deadline 0 closed unproven; deadline 1 is proven
    at(net, clock, 11)
    m = net.miners[MINER]
    assert [(x["deadline"], x["partition"], x["sectors"]) for x in m.misses] == [
        (0, 0, [1, 2]),
        (0, 1, [3, 4]),
    ]
    assert m.faulty == {1, 2, 3, 4} and m.proven[(0, 1)] == {0}
    assert [(s["deadline"], s["reason"]) for s in incumbent.skipped] == [
        (0, "told to miss deadline 0")
    ]
    # the next period: deadline 0's sectors are faulty (nothing recovers
    # them), so there is nothing to prove, and that is said
    incumbent.config = IncumbentConfig(enabled=True)
    at(net, clock, 480, incumbent)
    assert incumbent.skipped[-1]["reason"] == "every sector faulty: nothing to prove"
    assert len(posts(net)) == 1


@pytest.mark.parametrize("late", [3, 0])
def test_the_incumbent_lands_late_when_told(chain, late):
    """Deadline 1 (epochs 10..19): proven from its challenge, pushed when it
    is ``late`` epochs from Close: at 17 it lands in time; at Close (0) it is
    too late, refused, and the deadline is missed."""
    net, clock, store, _ = chain
    incumbent = incumbent_for(net, store, miss=(0,), late=late)
    at(net, clock, 7, incumbent)
    for epoch in (10, 16):
        at(net, clock, epoch, incumbent)
        assert posts(net) == []
    at(net, clock, 17, incumbent)
    if late:
        (msg,) = posts(net)
        at(net, clock, 18)
        assert (msg.exit_code, msg.height) == (0, 18)  # executed at Close - 3
        assert incumbent.pushed[-1]["epochs_before_close"] == 3
        assert net.miners[MINER].proven[(0, 1)] == {0}
        return
    at(net, clock, 19, incumbent)
    assert posts(net) == []
    at(net, clock, 20, incumbent)
    (msg,) = posts(net)
    at(net, clock, 21)
    assert msg.exit_code == 16 and "not open" in msg.reason
    assert incumbent.pushed[-1]["epochs_before_close"] == 0
    assert [x["deadline"] for x in net.miners[MINER].misses] == [0, 0, 1]


def restarted(net: Devnet, clock) -> Devnet:
    """The devnet as a restart finds it: its set-up and its saved state."""
    again = Devnet.from_json(net.to_json(), clock=clock, restart=False)
    again.load_state(json.loads(json.dumps(net.state_json())))
    return again


def test_a_restarted_incumbent_never_pushes_twice(chain):
    net, clock, store, _ = chain
    incumbent = incumbent_for(net, store)
    # deadline 0's messages wait in the pool (a base-fee spike) when the
    # devnet restarts: they are not pushed again
    net.mpool.base_fee, net.mpool.estimate_base_fee = 10**12, 100
    at(net, clock, 0, incumbent)
    waiting = sorted(p.cid for p in net.mpool.pending.values())
    assert len(waiting) == 2 and posts(net) == []
    net = restarted(net, clock)
    incumbent = Incumbent(net, store, incumbent.config)
    at(net, clock, 1, incumbent)
    assert len(net.mpool.pending) == 2 and not incumbent.pushed
    assert sorted(s["reason"] for s in incumbent.skipped) == [
        f"pushed already ({cid})" for cid in waiting
    ]
    net.mpool.base_fee = 100  # the spike passes: they land
    net.settle()  # what the node does at each call: included now
    at(net, clock, 2)
    assert net.miners[MINER].proven[(0, 0)] == {0, 1} and not net.mpool.pending

    # restarted again while deadline 0 is open: proven already, nothing pushed
    net = restarted(net, clock)
    incumbent = Incumbent(net, store, incumbent.config)
    at(net, clock, 3, incumbent)
    assert not incumbent.pushed
    assert [s["reason"] for s in incumbent.skipped] == ["proven already"] * 2
    assert net.status()["duplicate_posts"] == 0 and len(posts(net)) == 2
    assert {m.exit_code for m in posts(net)} == {0}


# ---- as `prover devnet init --incumbent` sets it up -------------------------------------


def test_devnet_init_saves_the_incumbents_options(tmp_path):
    home = tmp_path / "home"
    runner = CliRunner()
    common = ["init", "--sectors", "2", "--window", "6", "--deadlines", "4", "--home", str(home)]
    out = runner.invoke(devnet_group, common)
    assert out.exit_code == 0, out.output
    assert load_incumbent_config(home) == IncumbentConfig()  # off by default
    out = runner.invoke(devnet_group, [*common, "--force", "--incumbent-late", "2"])
    assert out.exit_code != 0 and "need --incumbent" in out.output
    out = runner.invoke(
        devnet_group,
        [*common, "--force", "--incumbent", "--incumbent-miss", "4"],
    )
    assert out.exit_code != 0 and "deadlines run 0..3" in out.output
    out = runner.invoke(
        devnet_group,
        [*common, "--force", "--incumbent", "--incumbent-miss", "1,3", "--incumbent-late", "2"],
    )
    assert out.exit_code == 0, out.output
    assert "incumbent: proves from t0101, misses deadlines 1,3" in out.output
    assert load_incumbent_config(home) == IncumbentConfig(enabled=True, miss=(1, 3), late=2)
    setup = json.loads(devnet_paths(home)[0].read_text())
    assert setup["incumbent"]["miss"] == [1, 3]
    assert INCUMBENT_SENDER in setup["miners"][0]["control_addresses"]
    account = next(a for a in setup["accounts"] if a["id"] == INCUMBENT_SENDER)
    assert account["key"] == key_address_for(INCUMBENT_SENDER) and account["held"]
    # batching as lotus-miner (bare: as many as the actor takes), single
    # partitions told to fail
    told = ["--incumbent-late-partition", "1/0", "--incumbent-refused-partition", "3/1,1/1"]
    out = runner.invoke(devnet_group, [*common, "--force", "--incumbent-batch", *told])
    assert out.exit_code != 0 and "need --incumbent" in out.output
    out = runner.invoke(
        devnet_group, [*common, "--force", "--incumbent", "--incumbent-batch", *told]
    )
    assert out.exit_code == 0, out.output
    assert "batches partitions as the actor allows, partitions 1/0 at Close" in out.output
    assert "partitions 1/1,3/1 refused" in out.output
    assert load_incumbent_config(home) == IncumbentConfig(
        enabled=True, batch=0, late_partitions=((1, 0),), refused_partitions=((1, 1), (3, 1))
    )
    for bad, says in (
        (["--incumbent-batch", "2", "--incumbent-late-partition", "4/0"], "deadlines run 0..3"),
        (["--incumbent-late-partition", "1"], "like 2/0,4/1"),
        (
            ["--incumbent-late-partition", "1/0", "--incumbent-refused-partition", "1/0"],
            "either late or refused",
        ),
    ):
        out = runner.invoke(devnet_group, [*common, "--force", "--incumbent", *bad])
        assert out.exit_code != 0 and says in out.output, out.output
    out = runner.invoke(
        devnet_group,
        [*common, "--force", "--incumbent", "--incumbent-batch", "2", "--incumbent-spread"],
    )
    assert out.exit_code == 0, out.output
    assert load_incumbent_config(home) == IncumbentConfig(enabled=True, batch=2, spread=True)
    assert "batches up to 2, an epoch between messages" in out.output


def wait_until(predicate, timeout: float, what: str):
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_incumbent_runs_with_the_devnet_and_after_a_restart_pushes_nothing_twice(tmp_path):
    """In real time (1 s epochs): deadline 1 (epochs 6..11) of a 4-deadline
    period holds one partition; the devnet that serves the home runs the
    incumbent, which proves it; the devnet restarts while the deadline is
    still open and its incumbent pushes nothing again."""
    home = tmp_path / "home"
    init_devnet(
        home,
        sectors=2,
        policy=devnet_policy(6, 4),
        first_deadline=1,
        incumbent=IncumbentConfig(enabled=True),
    )
    running = serve_home_devnet(home, holder="test")
    try:
        assert running.incumbent is not None
        client = LotusClient(running.url, network="t", epoch_seconds=1.0, retries=0)
        try:

            def proven():
                status = client.call("DevnetStatus")
                (deadline,) = status["miners"][0]["deadlines"]
                return status if deadline["proven"] == [0] else None

            status = wait_until(proven, 30, "the incumbent's PoSt to land")
        finally:
            client.close()
    finally:
        running.stop()
    assert status["epoch"] < 12  # proven in time, and still open
    (pushed,) = status["incumbent"]["pushed"]
    assert pushed["deadline"] == 1 and pushed["sender"] == INCUMBENT_SENDER
    assert status["rpc_calls"]["Filecoin.DevnetStatus"] >= 1
    assert not any(
        k.startswith(("Filecoin.MpoolPush", "Filecoin.WalletSign")) for k in status["rpc_calls"]
    )

    running = serve_home_devnet(home, holder="test")
    try:
        net = running.devnet
        wait_until(lambda: net.epoch() >= 13, 30, "deadline 1 to close")
        runner = CliRunner()
        out = runner.invoke(devnet_group, ["status", "--json", "--home", str(home)])
        assert out.exit_code == 0, out.output
        status = json.loads(out.output)
        out = runner.invoke(devnet_group, ["status", "--home", str(home)])
        assert out.exit_code == 0, out.output
        assert "incumbent: proves from t0101, pushes at Open; 0 PoSts pushed" in out.output
        assert "RPC calls answered: 2 (DevnetStatus 2)" in out.output
    finally:
        running.stop()
    assert status["rpc_calls"] == {"Filecoin.DevnetStatus": 1}  # since this start
    assert status["incumbent"]["pushed"] == []
    assert status["duplicate_posts"] == 0 and status["miners"][0]["misses"] == []
    assert [m["exit_code"] for m in status["messages"]] == [0]


def test_the_incumbent_batches_as_lotus_miner_does_and_fails_the_partitions_it_is_told_to(chain):
    """Deadline 0's two partitions in one message, their proofs merged and
    valid (the chain's verifier takes them, so a dispute would fail); what a
    shadow manager reads of it names both partitions."""
    net, clock, store, client = chain
    incumbent = incumbent_for(net, store, batch=0)
    at(net, clock, 0, incumbent)
    (msg,) = posts(net)
    params = decode_submit_windowed_post(msg.params)
    assert [i for i, _ in params.partitions] == [0, 1] and len(params.proof) == 2 * 192
    at(net, clock, 1)
    m = net.miners[MINER]
    assert msg.exit_code == 0 and m.proven[(0, 0)] == {0, 1}
    seed = net.randomness(TAG_WINDOWED_POST_CHALLENGE_SEED, -3, id_address_cbor(MINER))
    public = sorted((n, m.comm_r[n]) for n in (1, 2, 3, 4))
    assert verify_window_post(KIB2, mask_randomness(seed), prover_id(MINER), public, params.proof)
    (found,) = chain_posts(client, MINER, DeadlineTurn(MINER, 0, 0, 0, 10))
    assert (found.cid, found.partitions, found.exit_code) == (msg.cid, frozenset({0, 1}), 0)
    assert incumbent.pushed[-1]["partitions"] == [0, 1]


def test_the_incumbent_pushes_a_partition_told_to_fail_alone_refused_or_late(chain):
    """Batching on, deadline 0's partition 1 told to be refused: it goes
    alone, an epoch after partition 0 (spread), and the actor refuses it;
    deadline 1's partition told to be late goes at Close and is refused as
    well. Each is read back with the message that carried it, and missed."""
    net, clock, store, client = chain
    incumbent = incumbent_for(
        net, store, batch=0, spread=True, refused_partitions=((0, 1),), late_partitions=((1, 0),)
    )
    at(net, clock, 0, incumbent)  # partition 0 at Open, the refused one an epoch later
    assert [p["partitions"] for p in incumbent.pushed] == [[0]]
    at(net, clock, 1, incumbent)
    assert [(p["partitions"], p.get("told")) for p in incumbent.pushed] == [
        ([0], None),
        ([1], "refused"),
    ]
    at(net, clock, 7, incumbent)  # deadline 1 proven; its partition held until Close
    for epoch in (10, 19):
        at(net, clock, epoch, incumbent)
    assert len(incumbent.pushed) == 2
    at(net, clock, 20, incumbent)
    at(net, clock, 21)
    assert incumbent.pushed[-1]["epochs_before_close"] == 0
    outcome = {
        (d, p): (s.exit_code, s.epoch)
        for d, close in ((0, 10), (1, 20))
        for p in (0, 1)
        if (
            s := landed_post(
                chain_posts(client, MINER, DeadlineTurn(MINER, 0, d, close - 10, close)), p
            )
        )
    }
    assert outcome == {(0, 0): (0, 1), (0, 1): (16, 2), (1, 0): (16, 21)}
    reasons = sorted(msg.reason for msg in posts(net) if msg.exit_code)
    assert reasons == [
        "commit randomness does not match the chain",
        "deadline 1 is not open (current 2)",
    ]
    assert [(x["deadline"], x["partition"]) for x in net.miners[MINER].misses] == [(0, 1), (1, 0)]
