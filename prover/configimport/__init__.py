"""What every import of another system's settings into our manager config
shares (``prover-manager config import-lotus``, ``import-curio``): the
report (each key set, with where it came from; each setting not carried
over, with the reason) and the written config (the shipped default text
with each imported key set in place). One place, so that both imports
write and report alike."""

from prover.configimport.render import render, toml_value
from prover.configimport.report import ConfigImportError, ImportReport, Setting, Unmapped

__all__ = ["ConfigImportError", "ImportReport", "Setting", "Unmapped", "render", "toml_value"]
