"""Curio's defaults for the settings an import reads. A layer Curio writes
(``base`` above all) comments out every key at its default, so what a layer
does not say is this, not nothing: stacking starts here, as Curio's own
does (its ``DefaultCurioConfig``)."""

from __future__ import annotations

import copy
from typing import Any

# One [[Addresses]] entry as Curio fills in an entry a layer adds.
ADDRESS_ENTRY: dict[str, Any] = {
    "PreCommitControl": [],
    "CommitControl": [],
    "DealPublishControl": [],
    "TerminateControl": [],
    "DisableOwnerFallback": False,
    "DisableWorkerFallback": False,
    "MinerAddresses": [],
    "BalanceManager": {
        "MK12Collateral": {
            "DealCollateralWallet": "",
            "CollateralLowThreshold": "5 FIL",
            "CollateralHighThreshold": "20 FIL",
        }
    },
}

DEFAULTS: dict[str, Any] = {
    "Subsystems": {
        "EnableWindowPost": False,
        "WindowPostMaxTasks": 0,
        "EnableWinningPost": False,
        "WinningPostMaxTasks": 0,
    },
    "Fees": {
        "MaxPreCommitBatchGasFee": {"Base": "0 FIL", "PerSector": "0.02 FIL"},
        "MaxCommitBatchGasFee": {"Base": "0 FIL", "PerSector": "0.03 FIL"},
        "MaxUpdateBatchGasFee": {"Base": "0 FIL", "PerSector": "0.03 FIL"},
        "MaxWindowPoStGasFee": "5 FIL",
        "CollateralFromMinerBalance": False,
        "DisableCollateralFallback": False,
        "MaximizeFeeCap": True,
    },
    "Addresses": [ADDRESS_ENTRY],
    "Proving": {
        "ParallelCheckLimit": 32,
        "SingleCheckTimeout": "10m0s",
        "PartitionCheckTimeout": "20m0s",
    },
    "Apis": {"ChainApiInfo": [], "StorageRPCSecret": ""},
    "Cuzk": {"Address": ""},
}


def defaults() -> dict[str, Any]:
    """A fresh copy of the defaults, for one stacking to change."""
    return copy.deepcopy(DEFAULTS)


def entry_default(name: str) -> dict[str, Any]:
    """What Curio puts in an array-of-tables entry a layer adds."""
    return copy.deepcopy(ADDRESS_ENTRY) if name == "Addresses" else {}
