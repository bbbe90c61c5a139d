"""prover: a standalone Filecoin WindowPoSt prover service."""

__version__ = "0.1.0"
