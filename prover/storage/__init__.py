"""Reading sector files where they are: the storage host daemon
(``prover-storage``: ``config``, ``service``, ``daemon``) computes vanilla
proofs on the machine that holds the disks; ``remote`` is how a GPU worker
or the manager asks for them, failing over between hosts; ``pool`` bounds
and times the reads (a hung disk cannot take every thread)."""
