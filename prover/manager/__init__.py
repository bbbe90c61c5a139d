"""The manager daemon: job store, sweeps, gRPC servicers."""
