"""Command-line entry points (``prover``; later ``prover-manager``, ``prover-worker``)."""
