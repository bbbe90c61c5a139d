"""lotus-miner's settings to ours: [Proving] and [Fees] to [chain]'s limits
and fees, [Addresses] to who sends PoSt (as Lotus chooses), storage.json's
paths to [[storage]]; and lotus-miner's environment overrides, listed."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from prover.chain.lotus import LotusError, MinerInfo
from prover.chain.message import fil
from prover.lotusimport.keys import ENV_COUNTERPARTS, NOT_OURS, SEALING_SENDERS
from prover.lotusimport.model import ImportResult, LotusImportError, LotusKey
from prover.lotusimport.repo import STORAGE_FILE
from prover.lotusimport.values import parse_go_duration, parse_lotus_fil
from prover.storage.sectorstore import SectorStoreError, read_sectorstore

NETWORK_POST_PARTITIONS = 3  # the network's limit per SubmitWindowedPoSt (nv21 on)
DECLARATIONS_MAX = 3000  # the miner actor's limit per DeclareFaultsRecovered


def map_keys(result: ImportResult, keys: dict[tuple[str, str], LotusKey]) -> None:
    """[Proving] and [Fees] to [chain] (the senders are ``map_senders``')."""

    def k(section: str, key: str) -> LotusKey:
        return keys[(section, key)]

    def via(*ks: LotusKey) -> str:
        return "Lotus " + "; ".join(str(x) for x in ks)

    # [Proving]
    for name in ("ParallelCheckLimit", "MaxPartitionsPerRecoveryMessage"):
        if k("Proving", name).value < 0:
            raise LotusImportError(
                f"{result.repo.config_file}: [Proving] {name}: expected 0 or more, "
                f"got {k('Proving', name).value}"
            )
    pcl = k("Proving", "ParallelCheckLimit")
    if pcl.value > 0:
        result.set("chain", "recovery_check_parallelism", pcl.value, via(pcl))
    else:
        result.skip(
            pcl,
            f"{pcl.value} (unlimited) has no counterpart: recovery_check_parallelism must be "
            "a bound (1 or more); left at its default, 32",
        )
    sct = k("Proving", "SingleCheckTimeout")
    seconds = parse_go_duration(sct.value)
    if seconds > 0:
        result.set("chain", "recovery_check_timeout_s", seconds, via(sct))
    else:
        result.skip(
            sct,
            "no timeout has no counterpart: recovery_check_timeout_s must be above 0; left "
            "at its default, 600 s",
        )
    mpp = k("Proving", "MaxPartitionsPerPoStMessage")
    if mpp.value <= 0 or mpp.value > NETWORK_POST_PARTITIONS:
        why = "0: the network's limit" if mpp.value <= 0 else "above the network's limit"
        result.set(
            "chain",
            "max_partitions_per_message",
            NETWORK_POST_PARTITIONS,
            via(mpp) + f" ({why}, {NETWORK_POST_PARTITIONS})",
        )
    else:
        result.set("chain", "max_partitions_per_message", mpp.value, via(mpp))
    mpr = k("Proving", "MaxPartitionsPerRecoveryMessage")
    if mpr.value > DECLARATIONS_MAX:
        result.set(
            "chain",
            "max_partitions_per_recovery_message",
            0,
            via(mpr) + f" (more than the actor's {DECLARATIONS_MAX}: no limit, 0)",
        )
    else:
        result.set("chain", "max_partitions_per_recovery_message", mpr.value, via(mpr))
    srp = k("Proving", "SingleRecoveringPartitionPerPostMessage")
    result.set("chain", "single_recovering_partition_per_post_message", srp.value, via(srp))

    # [Fees]
    wpf = k("Fees", "MaxWindowPoStGasFee")
    amount = fil(parse_lotus_fil(wpf.value))
    result.set("chain", "max_window_post_gas_fee", amount, via(wpf))
    result.set(
        "chain",
        "max_recovery_gas_fee",
        amount,
        via(wpf) + " (Lotus caps DeclareFaultsRecovered with it too)",
    )
    mfc = k("Fees", "MaximizeWindowPoStFeeCap")
    result.set("chain", "maximize_window_post_fee_cap", mfc.value, via(mfc))
    if mfc.value:
        result.notes.append(
            "MaximizeWindowPoStFeeCap: Lotus raises the fee cap of recovery declarations too; "
            "here only PoSt messages' (a recovery's fee cap is the node's estimate)"
        )

    for (section, key), reason in NOT_OURS.items():
        result.skip(k(section, key), reason)


def map_senders(
    result: ImportResult,
    keys: dict[tuple[str, str], LotusKey],
    infos: dict[int, MinerInfo],
    lookup_id: Callable[[str], str] | None,
) -> None:
    """[Addresses] to who sends PoSt and recovery messages. Lotus sends them
    from the miner's control addresses on chain less those its
    PreCommitControl, CommitControl, TerminateControl and DealPublishControl
    give to other messages; then the worker (always, when no control address
    is left, unless DisableWorkerFallback) and the owner (unless
    DisableOwnerFallback)."""
    dof = keys[("Addresses", "DisableOwnerFallback")]
    dwf = keys[("Addresses", "DisableWorkerFallback")]
    sealing = [keys[("Addresses", n)] for n in SEALING_SENDERS]
    reserved = [a for s in sealing for a in s.value]
    for s in sealing:
        if not s.value:
            result.skip(
                s,
                "the senders of sealing or deal messages, which a prover does not send; "
                "none set, so no control address is kept from PoSt",
            )
    if reserved and infos and lookup_id is not None:
        _senders_on_chain(result, sealing, reserved, infos, lookup_id, dwf=dwf, dof=dof)
        return
    if reserved:
        _sealing_not_applied(result, sealing)
    _fallbacks(result, infos, dwf=dwf, dof=dof)


def _senders_on_chain(
    result: ImportResult,
    sealing: list[LotusKey],
    reserved: list[str],
    infos: dict[int, MinerInfo],
    lookup_id: Callable[[str], str],
    *,
    dwf: LotusKey,
    dof: LotusKey,
) -> None:
    """``senders`` as Lotus would choose them, per miner from its addresses
    on chain less the control addresses [Addresses] keeps for sealing."""
    ids = {}
    for address in reserved:
        try:
            ids[address] = address if address[1:2] == "0" else lookup_id(address)
        except LotusError as exc:
            result.notes.append(f"[Addresses] {address}: StateLookupID failed ({exc})")
    taken = {_id_number(a) for a in ids.values()}
    senders: list[str] = []
    for miner, info in sorted(infos.items()):
        ctl = [
            a
            for a in info.control_addresses
            if a not in (info.owner, info.worker) and _id_number(a) not in taken
        ]
        chosen = list(ctl)
        if not ctl or not dwf.value:
            chosen.append(info.worker)
        if not dof.value:
            chosen.append(info.owner)
        senders += [a for a in chosen if a not in senders]
        kept = [a for a in info.control_addresses if _id_number(a) in taken]
        result.notes.append(
            f"miner {miner}: PoSt and recoveries go from {', '.join(chosen)} as in Lotus; "
            f"control addresses kept for sealing by [Addresses]: {', '.join(kept) or 'none'}"
        )
    source = "Lotus " + "; ".join(str(s) for s in [*sealing, dwf, dof] if s.set or s.value)
    result.set("chain", "senders", senders, source + " with StateMinerInfo, at import")
    result.notes.append(
        "senders is fixed at import (Lotus leaves out the control addresses its [Addresses] "
        "lists give to sealing): after a change of control addresses on chain, edit it"
    )
    for s in sealing:
        if s.value:
            result.skip(s, "left out of senders (its addresses send sealing messages)")


def _sealing_not_applied(result: ImportResult, sealing: list[LotusKey]) -> None:
    """Control addresses [Addresses] keeps for sealing, with no chain to
    resolve them: said, and not applied."""
    result.notes.append(
        "NOT MAPPED: [Addresses] "
        + ", ".join(str(s.key) for s in sealing if s.value)
        + " keep control addresses from PoSt in Lotus; without the miner's control "
        "addresses on chain (its actor, and the full node's StateMinerInfo and "
        "StateLookupID: --miner-api or --miner, --full-node-api) they cannot be left out "
        "here, so senders = [] lets every control address pay for PoSt: run the import "
        "again with the nodes, or set senders by hand"
    )
    for s in sealing:
        if s.value:
            result.skip(s, "not applied: no full node to resolve the control addresses")


def _fallbacks(
    result: ImportResult, infos: dict[int, MinerInfo], *, dwf: LotusKey, dof: LotusKey
) -> None:
    """DisableOwnerFallback and DisableWorkerFallback to use_owner and
    use_worker, where ``senders`` was not fixed at import."""
    result.set("chain", "use_owner", not dof.value, f"Lotus {dof} (use_owner = not it)")
    use_worker = not dwf.value
    source = f"Lotus {dwf} (use_worker = not it)"
    if dwf.value:
        if infos and all(
            not [a for a in i.control_addresses if a not in (i.owner, i.worker)]
            for i in infos.values()
        ):
            use_worker = True
            source += "; the miner has no control address, and then Lotus uses the worker"
        elif not infos:
            result.notes.append(
                "DisableWorkerFallback: Lotus still uses the worker when the miner has no "
                "control address; here use_worker = false then leaves only the owner"
            )
    result.set("chain", "use_worker", use_worker, source)


def _id_number(address: str) -> str:
    return address[2:] if address[1:2] == "0" else address


def map_storages(result: ImportResult) -> None:
    """storage.json's paths to [[storage]], named by their sectorstore.json ID."""
    repo = result.repo
    if repo.storage_file is None:
        result.notes.append(
            f"no {repo.path / STORAGE_FILE}: no [[storage]] imported (give --storage-json)"
        )
        return
    seen: dict[str, Path] = {}
    for path in repo.storage_paths:
        try:
            meta = read_sectorstore(path)
        except SectorStoreError as exc:
            if not path.exists():
                result.skip(
                    f"{repo.storage_file}: {path}",
                    "not found on this machine (not mounted here?): no [[storage]] for it; "
                    "add it by hand, or import where it is mounted",
                )
                continue
            raise LotusImportError(str(exc)) from None
        if meta.id in seen:
            raise LotusImportError(
                f"{repo.storage_file}: {path} and {seen[meta.id]} have the same ID {meta.id} "
                "in their sectorstore.json (Lotus refuses to open the second)"
            )
        seen[meta.id] = path
        result.storages.append(meta)


def env_notes(result: ImportResult, env: Mapping[str, str]) -> None:
    for name in sorted(env):
        if name in ENV_COUNTERPARTS or name.startswith(
            ("LOTUS_PROVING_", "LOTUS_FEES_", "LOTUS_ADDRESSES_")
        ):
            counterpart = ENV_COUNTERPARTS.get(name)
            result.notes.append(
                f"{name}={env[name]} is set in this environment: not read (lotus-miner's own "
                "environment overrides its config.toml; only the files are imported)"
                + (f"; its counterpart is {counterpart}" if counterpart else "")
            )
