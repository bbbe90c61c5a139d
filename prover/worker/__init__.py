"""prover-worker: one process per GPU that claims, proves and finishes jobs."""
