"""How the CLI names the leading manager (``pb.Leader``), in one place for
``prover workers list``, ``prover deadlines`` and ``prover status``."""

from __future__ import annotations

from prover._proto import manager_pb2 as pb


def leader_line(leader: pb.Leader) -> str:
    """``leader: NAME at ADDR (term N, lease 8.1s left); managers: a (live),
    b (silent 42s)``, or that nobody leads."""
    if leader.name:
        lease = (
            f"lease {leader.expires_in_s:.1f}s left"
            if leader.expires_in_s > 0
            else f"lease ran out {-leader.expires_in_s:.0f}s ago"
        )
        head = f"leader: {leader.name} at {leader.address} (term {leader.term}, {lease})"
    else:
        head = "leader: none"
    managers = ", ".join(
        f"{m.name}{'*' if m.name == leader.answered_by else ''} "
        f"({'live' if m.live else f'silent {m.last_seen_age_s:.0f}s'}"
        f"{', ' + m.version if m.version else ''})"
        for m in leader.managers
    )
    return f"{head}; managers: {managers}" if managers else head
