"""prover: a standalone Filecoin WindowPoSt prover service."""

__version__ = "0.2.0"
