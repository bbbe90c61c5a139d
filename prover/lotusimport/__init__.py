"""Import from lotus-miner: a manager config from a lotus-miner repo
(``prover-manager config import-lotus``).

What is read, and from where:

- ``config.toml`` of the repo, as Lotus writes it (every default commented
  out, ``#  Key = value``; what is set is uncommented): the ``[Proving]``,
  ``[Fees]`` and ``[Addresses]`` keys become their counterparts in
  ``[chain]``; a key with none, or with another meaning here, is reported
  with the reason. A key not set in the file has Lotus' default (its
  ``node/config`` defaults), and is mapped all the same, so that the written
  config says what the miner did.
- ``storage.json`` (``{"StoragePaths": [{"Path": ...}]}``) and each path's
  ``sectorstore.json``: one ``[[storage]]`` per path, named by its ID.
- The miner node (the repo's ``api`` and ``token`` files, ``--miner-api`` or
  ``MINER_API_INFO``): ``ActorAddress``, the miner's actor. The full node
  (``--full-node-api`` or ``FULLNODE_API_INFO``, what lotus-miner runs
  with): ``StateMinerInfo`` for the owner, worker and control addresses,
  ``StateLookupID`` for the addresses ``[Addresses]`` names, and whether the
  wallet holds each possible sender. It becomes ``[chain] api``. A node that
  cannot be reached is said so, and what the files give is written.

Values are converted as Lotus reads them: FIL amounts as ``types.ParseFIL``
does (``"0.5 FIL"``, ``"5"`` meaning FIL, ``"1000 attoFIL"``), durations as
Go's ``time.ParseDuration`` (``"10m0s"``). Environment overrides
(``LOTUS_PROVING_...``) are lotus-miner's process's own: they are listed
when set here, never read.

The steps, a module each: ``repo`` reads the repo's files, ``keys`` knows
lotus-miner's keys (their defaults, their types, and which are not ours),
``nodes`` asks the miner and full nodes, ``mapping`` turns Lotus' settings
into ours (limits, fees, senders, storages), ``render`` writes our config;
``importer.import_repo`` runs them in order. ``values`` reads values as
Lotus does, ``model`` holds what the steps pass along.
"""

from prover.lotusimport.importer import import_repo
from prover.lotusimport.model import ImportResult, LotusImportError
from prover.lotusimport.nodes import Nodes, miner_url, parse_miner
from prover.lotusimport.render import render
from prover.lotusimport.values import parse_go_duration, parse_lotus_fil, toml_value

__all__ = [
    "ImportResult",
    "LotusImportError",
    "Nodes",
    "import_repo",
    "miner_url",
    "parse_go_duration",
    "parse_lotus_fil",
    "parse_miner",
    "render",
    "toml_value",
]
