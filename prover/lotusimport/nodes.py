"""Asking lotus-miner's nodes: the miner node for its actor
(``ActorAddress``), the full node for each miner's owner, worker and control
addresses (``StateMinerInfo``) and whether its wallet holds them. A node
that cannot be reached is said so in the notes, never fatal."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from prover.chain.lotus import LotusClient, LotusError, MinerInfo, parse_api_info
from prover.lotusimport.model import ImportResult, LotusImportError
from prover.lotusimport.repo import API_FILE, TOKEN_FILE

MINER_API_ENV = "MINER_API_INFO"
FULLNODE_API_ENV = "FULLNODE_API_INFO"


def ask_miner(api_info: str, timeout: float = 10.0) -> str:
    """The miner's actor address from its node (``ActorAddress``, on the
    miner API's /rpc/v0), ``TOKEN:MULTIADDR`` or ``TOKEN:URL``."""
    url, token = miner_url(api_info)
    body = {"jsonrpc": "2.0", "id": 1, "method": "Filecoin.ActorAddress", "params": []}
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        resp = httpx.post(url, json=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise LotusError("ActorAddress", f"miner node unreachable at {url}: {exc}") from None
    if resp.status_code in (401, 403):
        raise LotusError("ActorAddress", f"the miner node at {url} refused the token")
    try:
        resp.raise_for_status()
        answer = resp.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise LotusError("ActorAddress", f"bad answer from {url}: {exc}") from None
    if answer.get("error"):
        err = answer["error"]
        raise LotusError("ActorAddress", str(err.get("message", err)), err.get("code"))
    address = answer.get("result")
    if not isinstance(address, str) or not re.fullmatch(r"[ft]0\d+", address):
        raise LotusError("ActorAddress", f"not a miner's ID address: {address!r}")
    return address


def miner_url(api_info: str) -> tuple[str, str | None]:
    """(URL of the miner API, token): lotus-miner serves /rpc/v0 only."""
    value = api_info.strip()
    for v in ("/rpc/v0", "/rpc/v1"):
        if value.rstrip("/").endswith(v):
            value = value.rstrip("/")[: -len(v)]
    token, url = parse_api_info(value)
    return url[: -len("/rpc/v1")] + "/rpc/v0", token


def parse_miner(value: str) -> tuple[int, str | None]:
    """A miner as ``f01000``, ``t01000`` or ``1000``: (actor id, prefix)."""
    m = re.fullmatch(r"([ft])0(\d+)|(\d+)", value.strip())
    if not m:
        raise ValueError(f"not a miner actor: {value!r} (f01000, t01000 or 1000)")
    if m.group(3):
        return int(m.group(3)), None
    return int(m.group(2)), m.group(1)


@dataclass
class Nodes:
    miner_api: str | None = None
    full_node_api: str | None = None
    miners: list[str] = field(default_factory=list)
    timeout: float = 10.0


def find_miners(
    result: ImportResult, nodes: Nodes, env: Mapping[str, str]
) -> tuple[list[int], str | None, str]:
    """The miners: --miner, and the miner node's ActorAddress."""
    repo = result.repo
    miners: list[int] = []
    prefix: str | None = None
    for value in nodes.miners:
        number, p = parse_miner(value)
        miners.append(number)
        prefix = prefix or p
    given = "--miner" if miners else ""
    if nodes.miner_api:
        info, where = nodes.miner_api, "--miner-api"
    elif repo.api:
        info = f"{repo.token}:{repo.api}" if repo.token else repo.api
        where = f"{repo.path / API_FILE} and {TOKEN_FILE}"
    elif env.get(MINER_API_ENV):
        info, where = env[MINER_API_ENV], MINER_API_ENV
    else:
        if not miners:
            result.notes.append(
                f"no miner node: {repo.path / API_FILE} is absent (lotus-miner removes it when "
                "it stops) and no --miner-api or MINER_API_INFO: [chain] miners left empty; "
                "give --miner f0XXXX, or run the import while lotus-miner runs"
            )
        return miners, prefix, given
    try:
        address = ask_miner(info, nodes.timeout)
    except (LotusError, ValueError) as exc:
        result.notes.append(
            f"the miner node ({where}) did not answer ActorAddress: {exc}"
            + ("" if miners else "; [chain] miners left empty (give --miner f0XXXX)")
        )
        return miners, prefix, given
    number, p = parse_miner(address)
    if number not in miners:
        miners.append(number)
    result.notes.append(f"the miner node ({where}) is {address}")
    source = f"the miner node's ActorAddress ({where})" + (" and --miner" if given else "")
    return miners, prefix or p, source


def full_node_client(
    result: ImportResult, nodes: Nodes, env: Mapping[str, str], prefix: str | None
) -> LotusClient | None:
    info = nodes.full_node_api or env.get(FULLNODE_API_ENV)
    where = "--full-node-api" if nodes.full_node_api else FULLNODE_API_ENV
    if not info:
        result.notes.append(
            "no full node (--full-node-api, or FULLNODE_API_INFO as lotus-miner runs with): "
            "[chain] api left empty, control addresses not read"
        )
        return None
    try:
        token, url = parse_api_info(info)
    except ValueError as exc:
        raise LotusImportError(f"{where}: {exc}") from None
    result.set("chain", "api", info, f"{where} (the node lotus-miner follows)")
    return LotusClient(url, token, timeout=nodes.timeout, retries=1, network=prefix or "f")


def read_miner_infos(
    result: ImportResult, client: LotusClient, miners: list[int]
) -> dict[int, MinerInfo]:
    infos: dict[int, MinerInfo] = {}
    for miner in miners:
        try:
            mi = client.state_miner_info(miner)
        except LotusError as exc:
            result.notes.append(f"the full node did not answer StateMinerInfo for {miner}: {exc}")
            continue
        infos[miner] = mi
        held = _wallet_holds(client, [*mi.control_addresses, mi.worker, mi.owner])
        result.notes.append(
            f"miner {miner} on chain: owner {mi.owner}, worker {mi.worker}, control addresses "
            f"{', '.join(mi.control_addresses) or 'none'}; in the node's wallet: {held}"
        )
    return infos


def _wallet_holds(client: LotusClient, addresses: list[str]) -> str:
    out = []
    for address in dict.fromkeys(addresses):
        try:
            key = client.state_account_key(address) if address[1:2] == "0" else address
            out.append(f"{address} {'yes' if client.wallet_has(key) else 'no'}")
        except LotusError as exc:
            out.append(f"{address} unknown ({exc.method} failed)")
    return ", ".join(out)
