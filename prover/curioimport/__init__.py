"""Import from Curio: a manager config from Curio's config layers
(``prover-manager config import-curio``).

Curio keeps its configuration in its database, not in files: each layer is
a row of ``curio.harmony_config`` (title, TOML text), and a node runs with
``base`` plus the layers it is started with. What is read:

- the layers named (``base`` always first), stacked as Curio stacks them
  over its defaults (``layers``): ``[[Addresses]]`` gives the miners and
  who sends PoSt, ``[Fees]`` and ``[Proving]`` the fees and check limits,
  ``[Apis] ChainApiInfo`` the node to follow; every other key a layer sets
  is reported with the reason it is not carried over;
- ``[Subsystems] EnableWindowPost`` of the stack and of every layer, and
  ``curio.harmony_machine_details`` (the layers and tasks each machine
  runs, its miners): where Curio proves WindowPoSt today, which has to
  stop before the prover proves live.

The steps, a module each: ``database`` reads the tables, ``layers``
stacks, ``mapping`` turns Curio's settings into ours, ``importer`` runs
them in order; ``defaults`` holds Curio's defaults, ``model`` what the
steps pass along. The written config is prover.configimport's, as the
lotus-miner import's is.
"""

from prover.curioimport.importer import import_database, import_from
from prover.curioimport.layers import Stacked, layer_order, parse_layer, stack
from prover.curioimport.model import (
    SCHEMA,
    CurioDatabase,
    CurioImportError,
    CurioImportResult,
    Machine,
)

__all__ = [
    "SCHEMA",
    "CurioDatabase",
    "CurioImportError",
    "CurioImportResult",
    "Machine",
    "Stacked",
    "import_database",
    "import_from",
    "layer_order",
    "parse_layer",
    "stack",
]
