"""Reading the chain and knowing its rules: deadline math, encodings, the
Lotus client, ChainNotify and the epoch clock. It imports nothing above it;
the tracker (``prover.tracker``) and the devnet (``prover.devnet``) build on
it."""
