"""The devnet's wallet and mpool refuse what Lotus' refuse, through the
Lotus client over HTTP: keys, funds, nonces, signatures, replace-by-fee,
a base-fee spike, and the v0 API."""

from __future__ import annotations

import httpx
import pytest

from chain_fixtures import Seconds
from prover.chain.deadlines import Policy
from prover.chain.encoding import METHOD_DECLARE_FAULTS_RECOVERED, encode_declare_faults_recovered
from prover.chain.lotus import LotusClient, LotusError
from prover.chain.message import ATTO_PER_FIL, Message
from prover.devnet import Devnet, DevnetMiner, DevnetServer
from prover.devnet.mpool import Account, Mpool, key_address_for

MINER = 1000
WORKER = "t0100"
KEY = key_address_for(WORKER)
POOR = "t0200"


@pytest.fixture
def chain():
    miner = DevnetMiner(MINER, 10, 0, {0: [[1, 2]]}, {1: bytes(32), 2: bytes(32)})
    miner.control_addresses = [POOR, WORKER]
    mpool = Mpool(
        [
            Account(WORKER, KEY, 10 * ATTO_PER_FIL),
            Account(POOR, key_address_for(POOR), 1000),  # 1000 attoFIL: pays nothing
        ]
    )
    clock = Seconds()
    net = Devnet([miner], Policy.devnet(), clock=clock, mpool=mpool)
    clock.to_epoch(net.genesis, 5)
    server = DevnetServer(net, token="t").start()
    client = LotusClient(server.url, "t", network="t", epoch_seconds=1.0, retries=0)
    yield net, client, clock
    client.close()
    server.stop()


def recovery(sender: str = KEY) -> Message:
    """A message the devnet's actor accepts at any time (nothing to declare)."""
    return Message(
        to=f"t0{MINER}",
        sender=sender,
        method=METHOD_DECLARE_FAULTS_RECOVERED,
        params=encode_declare_faults_recovered([]),
    )


def send(client, msg: Message, max_fee: int | None = None, **gas) -> tuple[Message, str]:
    est = client.gas_estimate_message_gas(msg, max_fee)
    if gas:
        est = est.with_gas(
            limit=gas.get("limit", est.gas_limit),
            fee_cap=gas.get("fee_cap", est.gas_fee_cap),
            premium=gas.get("premium", est.gas_premium),
        )
    est = Message(**{**est.__dict__, "nonce": client.mpool_get_nonce(msg.sender)})
    return est, client.mpool_push(client.wallet_sign_message(msg.sender, est))


def test_addresses_keys_and_control_addresses(chain):
    _, client, _ = chain
    assert client.wallet_has(KEY) and not client.wallet_has(WORKER)  # keys, not ID addresses
    assert client.state_account_key(WORKER) == KEY and client.state_lookup_id(KEY) == WORKER
    assert client.wallet_balance(WORKER) == 10 * ATTO_PER_FIL
    assert client.wallet_balance("t0999") == 0
    assert client.state_miner_info(MINER).control_addresses == (POOR, WORKER)
    with pytest.raises(LotusError, match="actor not found"):
        client.state_account_key("t0999")


def test_a_message_is_estimated_signed_pushed_charged_and_found(chain):
    net, client, clock = chain
    est, cid = send(client, recovery(), max_fee=ATTO_PER_FIL)
    assert est.gas_limit > 0 and est.max_fee <= ATTO_PER_FIL
    assert client.state_search_msg(cid) is None  # lands in the next epoch
    clock.to_epoch(net.genesis, 6)
    found = client.state_search_msg(cid)
    assert found.exit_code == 0 and found.gas_used > 0
    paid = 10 * ATTO_PER_FIL - client.wallet_balance(KEY)
    assert 0 < paid <= est.max_fee
    assert client.mpool_get_nonce(KEY) == 1
    with pytest.raises(LotusError, match="minimum expected nonce is 1"):
        client.mpool_push(client.wallet_sign_message(KEY, est))  # nonce 0 again


def test_the_mpool_refuses_a_sender_that_cannot_pay_and_a_forged_signature(chain):
    _, client, _ = chain
    poor_key = client.state_account_key(POOR)
    with pytest.raises(LotusError, match="not enough funds"):
        send(client, recovery(poor_key))
    est = client.gas_estimate_message_gas(recovery())
    signed = client.wallet_sign_message(KEY, est)
    forged = type(signed)(
        est.with_gas(limit=est.gas_limit * 2, fee_cap=est.gas_fee_cap, premium=est.gas_premium),
        signed.signature_type,
        signed.signature,
    )
    with pytest.raises(LotusError, match="signature verification failed"):
        client.mpool_push(forged)
    with pytest.raises(LotusError, match="key not found"):
        client.wallet_sign_message(WORKER, est)  # an ID address is not a key


def test_mpool_push_message_needs_a_key_the_wallet_holds(chain):
    net, client, _ = chain
    net.mpool.account(WORKER).held = False
    with pytest.raises(LotusError, match="key not found"):
        client.mpool_push_message(f"t0{MINER}", WORKER, 11, encode_declare_faults_recovered([]))


def test_a_base_fee_spike_holds_a_message_until_it_is_replaced_by_fee(chain):
    net, client, clock = chain
    send(client, recovery())  # lands at once: nonce 0
    clock.to_epoch(net.genesis, 6)  # a base fee holds for an epoch's tipset
    est = client.gas_estimate_message_gas(recovery())
    est = Message(**{**est.__dict__, "nonce": 1})
    net.mpool.base_fee = est.gas_fee_cap * 10  # the base fee jumps after pricing
    stuck = client.mpool_push(client.wallet_sign_message(KEY, est))
    clock.to_epoch(net.genesis, 8)
    assert client.state_search_msg(stuck) is None  # under the base fee: waits
    assert client.mpool_get_nonce(KEY) == 2  # the pending message counts
    low = est.with_gas(
        limit=est.gas_limit, fee_cap=net.mpool.base_fee * 2, premium=int(est.gas_premium * 1.1)
    )
    with pytest.raises(LotusError, match="too low GasPremium"):
        client.mpool_push(client.wallet_sign_message(KEY, low))
    bumped = est.with_gas(
        limit=est.gas_limit, fee_cap=net.mpool.base_fee * 2, premium=est.gas_premium * 2
    )
    replacement = client.mpool_push(client.wallet_sign_message(KEY, bumped))
    clock.to_epoch(net.genesis, 9)
    found = client.state_search_msg(stuck)  # allowReplaced: the replacement's lookup
    assert found is not None and found.message == replacement and found.exit_code == 0
    assert client.state_search_msg(stuck, allow_replaced=False) is None
    assert client.mpool_get_nonce(KEY) == 2


def test_a_waiting_message_lands_when_the_base_fee_falls(chain):
    net, client, clock = chain
    est = client.gas_estimate_message_gas(recovery())
    net.mpool.base_fee = est.gas_fee_cap + 1  # just over what it was priced at
    cid = client.mpool_push(client.wallet_sign_message(KEY, est))
    clock.to_epoch(net.genesis, 7)
    assert client.state_search_msg(cid) is None
    net.mpool.base_fee = 100
    clock.to_epoch(net.genesis, 8)
    client.chain_head()  # any call lets the devnet include what now pays
    clock.to_epoch(net.genesis, 9)
    assert client.state_search_msg(cid).exit_code == 0


def test_the_v0_api_and_v0_params_are_refused(chain):
    _, client, _ = chain
    v0 = client.url.replace("/rpc/v1", "/rpc/v0")
    resp = httpx.post(
        v0,
        json={"jsonrpc": "2.0", "id": 1, "method": "Filecoin.ChainHead", "params": []},
        headers={"Authorization": "Bearer t"},
    )
    assert resp.status_code == 404
    with pytest.raises(LotusError, match="wrong param count"):
        client.call("StateSearchMsg", {"/": "bafy2devnetmsg"})  # v0's [cid]


def test_accounts_and_control_addresses_survive_a_restart(chain):
    net, _, _ = chain
    again = Devnet.from_json(net.to_json())
    assert again.mpool.account(POOR).balance == 1000
    assert again.miners[MINER].control_addresses == [POOR, WORKER]
