"""The chain side: deadline math, encodings; later the Lotus client, the
devnet and the tracker."""
