"""The wire both sides share: the manager's gRPC API as the worker and the
CLI reach it (``client``), the one set of conversions between protobuf
messages and our records (``convert``), and the job file operators write
(``jobfile``). The manager's servicers use the same conversions."""
