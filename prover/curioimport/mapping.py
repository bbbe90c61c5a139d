"""Curio's stacked settings to ours: [[Addresses]] to the miners and who
sends PoSt, [Fees] and [Proving] to [chain]'s fees and limits, [Apis]
ChainApiInfo to the node followed; everything else a layer sets is listed
as not carried over, with the reason."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from prover.chain.lotus import parse_api_info
from prover.chain.message import ATTO_PER_FIL, fil
from prover.curioimport.layers import Stacked
from prover.curioimport.model import CurioImportError, CurioImportResult
from prover.lotusimport.values import parse_go_duration, parse_lotus_fil

# [[Addresses]] lists whose control addresses Curio keeps from PoSt: they
# send other messages (sealing, deals, terminations).
OTHER_SENDERS = ("PreCommitControl", "CommitControl", "TerminateControl", "DealPublishControl")

ADDRESS_KEYS_READ = (
    "MinerAddresses",
    "DisableOwnerFallback",
    "DisableWorkerFallback",
    *OTHER_SENDERS,
)

# Keys of the sections read here that have no counterpart, and why.
NOT_OURS = {
    ("Proving", "PartitionCheckTimeout"): (
        "sectors are checked one at a time here (recovery_check_timeout_s each), and a "
        "partition's proof is bounded by its deadline"
    ),
    ("Subsystems", "WindowPostMaxTasks"): (
        "how many WindowPoSt tasks one Curio machine runs at once; here each worker's own "
        "config (its GPUs) says how many jobs it takes"
    ),
    ("Subsystems", "EnableWinningPost"): "winning PoSt (block production) is not ours",
    ("Subsystems", "WinningPostMaxTasks"): "winning PoSt (block production) is not ours",
    ("Apis", "StorageRPCSecret"): (
        "Curio's storage RPC secret: storage hosts and workers use the manager's tokens "
        "(prover-manager auth api-info)"
    ),
    ("Cuzk", "Address"): (
        "Curio's external SNARK daemon: here the workers compute the SNARKs on their GPUs"
    ),
}
_SECTION_REASONS = {
    "Fees": "a sealing, snap-deal or collateral fee: a prover sends only PoSt and recoveries",
    "Addresses": "market collateral, not PoSt",
    "Subsystems": "a Curio task other than WindowPoSt",
}
_ID_ADDRESS = re.compile(r"([ft])0(\d+)")


def map_stacked(result: CurioImportResult, st: Stacked) -> None:
    """Every step, in order; each setting consumed is left out of the
    not-carried-over listing."""
    used = {
        ("Fees", "MaxWindowPoStGasFee"),
        ("Fees", "MaximizeFeeCap"),
        ("Proving", "ParallelCheckLimit"),
        ("Proving", "SingleCheckTimeout"),
        ("Apis", "ChainApiInfo"),
        ("Subsystems", "EnableWindowPost"),
    }
    map_miners(result, st)
    map_senders(result, st)
    map_fees(result, st)
    map_proving(result, st)
    map_api(result, st)
    for (section, key), reason in NOT_OURS.items():
        if st.source(section, key) or section in ("Proving", "Subsystems"):
            result.skip(st.describe(section, key), reason)
        used.add((section, key))
    _list_the_rest(result, st, used)


def map_miners(result: CurioImportResult, st: Stacked) -> None:
    """[[Addresses]] MinerAddresses of every entry to ``miners`` and
    ``network``: Curio serves their union, and needs ID addresses."""
    miners: list[int] = []
    prefixes: set[str] = set()
    for i, entry in enumerate(_entries(st)):
        values = entry.get("MinerAddresses", [])
        where = "Curio " + st.describe("Addresses", i, "MinerAddresses")
        if not isinstance(values, list):
            raise CurioImportError(f"{where}: expected a list of addresses, got {values!r}")
        for value in values:
            m = _ID_ADDRESS.fullmatch(value.strip()) if isinstance(value, str) else None
            if not m:
                raise CurioImportError(
                    f"{where}: {value!r} is not a miner's ID address (f0... or t0...; Curio "
                    "looks miners up by their ID)"
                )
            prefixes.add(m.group(1))
            if int(m.group(2)) not in miners:
                miners.append(int(m.group(2)))
    if len(prefixes) > 1:
        raise CurioImportError(
            "[[Addresses]] MinerAddresses mix mainnet (f0...) and test-network (t0...) miners"
        )
    layers = sorted(
        {st.source("Addresses", i, "MinerAddresses") or "" for i in range(len(_entries(st)))} - {""}
    )
    if not miners:
        result.notes.append(
            f"no miner in [[Addresses]] MinerAddresses of the layers {', '.join(st.layers)}: "
            "miners = [] (name the layer that lists them with --layers)"
        )
        return
    source = f"Curio [[Addresses]] MinerAddresses (layer {', '.join(map(repr, layers))})"
    result.set("chain", "miners", miners, source)
    prefix = prefixes.pop()
    result.set("chain", "network", prefix, f"the miners' address prefix ({prefix}0...)")


def map_senders(result: CurioImportResult, st: Stacked) -> None:
    """Curio sends PoSt and recoveries from the miner's control addresses on
    chain less those its [[Addresses]] lists give to other messages, then
    the worker (always when no control address is left, unless
    DisableWorkerFallback), then the owner (unless DisableOwnerFallback).
    Ours without ``senders``: control addresses, worker, owner, each by its
    flag. Our flags are one for all miners: where entries differ, the
    address one entry turns off is off for all."""
    entries = [e for e in _entries(st) if e.get("MinerAddresses")] or _entries(st)
    for flag, ours in (
        ("DisableOwnerFallback", "use_owner"),
        ("DisableWorkerFallback", "use_worker"),
    ):
        values = [bool(e.get(flag, False)) for e in entries]
        on = any(values)
        sources = [
            f"[[Addresses]] #{i + 1} {flag} = {'true' if v else 'false'}"
            for i, v in enumerate(values)
        ]
        result.set("chain", ours, not on, f"Curio {'; '.join(sources)} ({ours} = not it)")
        if len(set(values)) > 1:
            result.notes.append(
                f"[[Addresses]] entries differ in {flag}: our {ours} is one for all miners, "
                f"so it is {'false' if on else 'true'} for all"
            )
    if any(e.get("DisableWorkerFallback") for e in entries):
        result.notes.append(
            "DisableWorkerFallback: Curio still uses the worker when the miner has no control "
            "address left for PoSt; here use_worker = false then leaves only the owner"
        )
    result.set(
        "chain",
        "use_control_addresses",
        True,
        "Curio's rule: PoSt goes from the miner's control addresses on chain first",
    )
    kept = {name: [a for e in entries for a in e.get(name, [])] for name in OTHER_SENDERS}
    if not any(kept.values()):
        for name in OTHER_SENDERS:
            result.skip(
                f"[[Addresses]] {name} = []",
                "the senders of other messages, which a prover does not send; none set, so no "
                "control address is kept from PoSt",
            )
        return
    addresses = sorted({a for values in kept.values() for a in values})
    result.notes.append(
        "NOT MAPPED: Curio keeps the control addresses "
        + ", ".join(addresses)
        + " ([[Addresses]] "
        + ", ".join(n for n, v in kept.items() if v)
        + ") from PoSt; here use_control_addresses takes every control address on chain. "
        "To keep them out, set [chain] senders by hand: the miner's other control addresses "
        "(lotus state miner-info), then its worker and owner"
    )
    for name, values in kept.items():
        if values:
            result.skip(
                f"[[Addresses]] {name} = {values}",
                "not applied: without the chain, the control addresses cannot be left out of "
                "use_control_addresses (see the notes)",
            )


def map_fees(result: CurioImportResult, st: Stacked) -> None:
    """MaxWindowPoStGasFee caps SubmitWindowedPoSt and DeclareFaultsRecovered
    in Curio: both our fees. MaximizeFeeCap raises the fee cap to it."""
    atto = _fil(st, "Fees", "MaxWindowPoStGasFee")
    via = "Curio " + st.describe("Fees", "MaxWindowPoStGasFee")
    result.set("chain", "max_window_post_gas_fee", fil(atto), via)
    result.set(
        "chain",
        "max_recovery_gas_fee",
        fil(atto),
        via + " (Curio caps DeclareFaultsRecovered with it too)",
    )
    cap = _typed(st, bool, "Fees", "MaximizeFeeCap")
    result.set(
        "chain",
        "maximize_window_post_fee_cap",
        cap,
        "Curio " + st.describe("Fees", "MaximizeFeeCap"),
    )
    if cap:
        result.notes.append(
            "MaximizeFeeCap: Curio raises the fee cap of every message it sends; here only PoSt "
            "messages' (a recovery's fee cap is the node's estimate)"
        )


def map_proving(result: CurioImportResult, st: Stacked) -> None:
    """ParallelCheckLimit and SingleCheckTimeout bound Curio's sector checks
    before a recovery (and its sector reads in a WindowPoSt proof): our
    recovery checks'."""
    pcl = _typed(st, int, "Proving", "ParallelCheckLimit")
    via = "Curio " + st.describe("Proving", "ParallelCheckLimit")
    if pcl < 0:
        raise CurioImportError(f"{via}: expected 0 or more")
    if pcl > 0:
        result.set("chain", "recovery_check_parallelism", pcl, via)
    else:
        result.skip(
            st.describe("Proving", "ParallelCheckLimit"),
            "0 (unlimited) has no counterpart: recovery_check_parallelism must be a bound (1 or "
            "more); left at its default, 32",
        )
    sct = st.get("Proving", "SingleCheckTimeout")
    via = "Curio " + st.describe("Proving", "SingleCheckTimeout")
    try:
        seconds = (
            sct / 1e9
            if isinstance(sct, int) and not isinstance(sct, bool)
            else parse_go_duration(sct)
        )
    except ValueError as exc:
        raise CurioImportError(f"{via}: {exc}") from None
    if seconds > 0:
        result.set("chain", "recovery_check_timeout_s", seconds, via)
    else:
        result.skip(
            st.describe("Proving", "SingleCheckTimeout"),
            "no timeout has no counterpart: recovery_check_timeout_s must be above 0; left at "
            "its default, 600 s",
        )
    result.notes.append(
        "Curio also reads a WindowPoSt proof's sectors ParallelCheckLimit at a time, each within "
        "SingleCheckTimeout; here a worker's sector reads are bounded by its own config "
        "(sector_timeout_s), not by the manager's"
    )


def map_api(result: CurioImportResult, st: Stacked) -> None:
    """[Apis] ChainApiInfo, the Lotus nodes Curio follows: the first is the
    node the manager follows."""
    infos = st.get("Apis", "ChainApiInfo")
    if not infos:
        result.notes.append("no [Apis] ChainApiInfo in the layers: [chain] api left empty")
        return
    if not isinstance(infos, list) or not all(isinstance(i, str) for i in infos):
        raise CurioImportError(
            f"Curio {st.describe('Apis', 'ChainApiInfo')}: expected a list of strings"
        )
    try:
        parse_api_info(infos[0])
    except ValueError as exc:
        raise CurioImportError(f"Curio [Apis] ChainApiInfo: {exc}") from None
    where = st.source("Apis", "ChainApiInfo")
    result.set("chain", "api", infos[0], f"Curio [Apis] ChainApiInfo, the first (layer {where!r})")
    if len(infos) > 1:
        result.notes.append(
            f"[Apis] ChainApiInfo names {len(infos)} nodes; the manager follows one (the first)"
        )


def _list_the_rest(result: CurioImportResult, st: Stacked, used: set[tuple[str, str]]) -> None:
    """Each value a layer set that nothing here read, with the reason."""
    for path in st.set_by_layers():
        section = str(path[0])
        key = str(
            path[2]
            if section == "Addresses" and len(path) > 2
            else path[1]
            if len(path) > 1
            else ""
        )
        if (section, key) in used or (section == "Addresses" and key in ADDRESS_KEYS_READ):
            continue
        reason = _SECTION_REASONS.get(section, f"[{section}] is not about WindowPoSt")
        result.skip(st.describe(*path), reason)


def _entries(st: Stacked) -> list[dict[str, Any]]:
    entries = st.get("Addresses")
    if not isinstance(entries, list):
        raise CurioImportError(f"Addresses must be [[Addresses]] entries, got {entries!r}")
    return entries


def _typed(st: Stacked, kind: type, *path: str) -> Any:
    value = st.get(*path)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise CurioImportError(f"Curio {st.describe(*path)}: expected {kind.__name__}")
    return value


def _fil(st: Stacked, *path: str) -> int:
    """attoFIL in a Curio FIL value: a string as Lotus' ParseFIL reads it, or
    a bare number of FIL."""
    value = st.get(*path)
    try:
        if isinstance(value, str):
            return parse_lotus_fil(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
            atto = Decimal(str(value)) * ATTO_PER_FIL
            if atto == atto.to_integral_value():
                return int(atto)
        raise ValueError(f"not a FIL amount: {value!r}")
    except ValueError as exc:
        raise CurioImportError(f"Curio {st.describe(*path)}: {exc}") from None
