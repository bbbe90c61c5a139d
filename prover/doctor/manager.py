"""A manager host: its database and schema, and the chain it follows.

The database is opened read-only (SQLite in ``mode=ro``, PostgreSQL with
one plain query) and never migrated: the doctor says where the schema
stands (``prover.store.migrate.schema_status``) and what the daemon will do
about it at start, by its ``[database] migrate`` policy.

The chain is asked for its head with the Lotus client the tracker uses
(the embedded devnet answers the same calls). A head is fresh when its
timestamp is within two block times of the node's clock; past the manager's
own ``[alerts] head_stall_epochs`` it is stale, as the
``ProverChainHeadStalled`` alert would say. This host's clock is compared
with the node's (its HTTP ``Date``), and where the node gives none, with
the head: a head from this host's future means this clock is behind (Lotus
accepts no block more than a second ahead of its own clock).
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prover.doctor.checks import Check, fail, ok, skip, warn

UPGRADE_FIX = "run `prover-manager db upgrade` (once, from any manager host of this release)"
CLOCK_FIX = "sync this host's clock (chrony or systemd-timesyncd) with NTP"


# ---- the database -----------------------------------------------------------------


@dataclass(frozen=True)
class SchemaReading:
    where: str  # the URL, password hidden
    backend: str  # "sqlite" or "postgresql"
    state: str = ""  # "empty", "behind", "current", "ahead" (migrate.SchemaStatus)
    describe: str = ""  # the status' own line
    error: str = ""  # why the database could not be read
    no_file: bool = False  # SQLite: no database file yet


def read_schema(url: str, timeout: float = 5.0) -> SchemaReading:
    """Where ``url``'s schema stands, read without writing anything."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from prover.store.engine import normalise_url
    from prover.store.migrate import schema_status

    parsed = make_url(normalise_url(url))
    where = parsed.render_as_string(hide_password=True)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        path = Path(parsed.database or "")
        if not path.is_file():
            return SchemaReading(where, backend, no_file=True)
        engine = create_engine(f"sqlite:///file:{path}?mode=ro&uri=true", poolclass=NullPool)
    else:
        args = {"connect_timeout": int(timeout)} if backend == "postgresql" else {}
        engine = create_engine(parsed, poolclass=NullPool, connect_args=args)
    try:
        status = schema_status(engine)
    except Exception as exc:  # unreachable, refused, not a database
        return SchemaReading(where, backend, error=f"{type(exc).__name__}: {exc}")
    finally:
        engine.dispose()
    return SchemaReading(where, backend, status.state, status.describe())


def database_checks(reading: SchemaReading, policy: str) -> list[Check]:
    """Reachable, then the schema against this manager and its ``policy``
    (``auto``: the daemon migrates an older schema at start; ``never``: it
    refuses to start)."""
    if reading.error:
        return [
            fail(
                "database",
                f"{reading.where}: {reading.error}",
                "check [database] url, that the server runs and this host may connect"
                if reading.backend != "sqlite"
                else "check the file and its permissions",
            )
        ]
    if reading.no_file:
        return [
            ok("database", f"{reading.where}: no file yet"),
            skip("schema", "no database yet: the manager sets it up at its first start"),
        ]
    checks = [ok("database", f"{reading.where}: reachable")]
    line = reading.describe
    if reading.state == "behind" and policy == "never":
        checks.append(fail("schema", f"{line}; [database] migrate = never", UPGRADE_FIX))
    elif reading.state == "behind":
        checks.append(
            warn(
                "schema",
                f"{line}; the manager migrates it when it starts (migrate = auto)",
                UPGRADE_FIX,
            )
        )
    elif reading.state == "ahead":
        checks.append(
            warn(
                "schema",
                f"{line}: a newer manager migrated it",
                "upgrade this manager to the release the others run",
            )
        )
    elif reading.state == "empty":
        checks.append(ok("schema", f"{line} (or the manager at its first start)"))
    else:
        checks.append(ok("schema", line))
    return checks


# ---- the chain ----------------------------------------------------------------------


@dataclass(frozen=True)
class HeadReading:
    """The chain head as read from here, with this host's clock around it."""

    height: int
    timestamp: float  # the head's blocks' timestamp
    local: float  # this host's clock at the answer
    skew: float | None  # this clock minus the node's (its HTTP Date), None: unknown


def _node_skew(url: str, token: str | None, now: Callable[[], float], timeout: float):
    """This clock minus the node's, from the ``Date`` of any answer at its
    URL (one-second resolution: half a second is added back)."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        before = now()
        resp = httpx.get(url, headers=headers, timeout=timeout)
        after = now()
        date = email.utils.parsedate_to_datetime(resp.headers["date"]).timestamp()
    except Exception:
        return None
    return (before + after) / 2 - (date + 0.5)


def read_head(api: str, *, now: Callable[[], float] = time.time, timeout: float = 5.0):
    """ChainHead through the Lotus client (a ``LotusError`` when the node
    cannot be reached or refuses the token)."""
    from prover.chain.lotus import LotusClient, parse_api_info

    token, url = parse_api_info(api)
    client = LotusClient(url, token, timeout=timeout, retries=0)
    try:
        raw = client.call("ChainHead")
    finally:
        client.close()
    local = now()
    blocks = raw.get("Blocks") or [{}]
    stamp = float(blocks[0].get("Timestamp", 0))
    return HeadReading(int(raw["Height"]), stamp, local, _node_skew(url, token, now, timeout))


def head_check(head: HeadReading, block_time: float, stall_epochs: int) -> Check:
    """Fresh within two block times of the node's clock; stale past the
    manager's own stall alert (``head_stall_epochs``)."""
    name = "chain head"
    node_now = head.local - (head.skew or 0.0)
    age = max(0.0, node_now - head.timestamp)
    epochs = age / block_time
    said = f"height {head.height}, {age:.0f} s old (blocks every {block_time:g} s)"
    if epochs <= 2:
        return ok(name, said)
    if epochs <= stall_epochs:
        return warn(
            name,
            f"{said}: {epochs:.0f} epochs behind; the node is syncing, or null rounds",
            "check `lotus sync status` on the node; it should catch up within minutes",
        )
    return fail(
        name,
        f"{said}: stale, {epochs:.0f} epochs behind (the manager's alert fires past "
        f"{stall_epochs}); deadlines would be planned and proven late or not at all",
        "bring the node in sync (`lotus sync wait`; check its peers and its clock)",
    )


def clock_check(head: HeadReading, block_time: float) -> Check:
    """This host's clock against the node's, else against the head."""
    name = "clock"
    if head.skew is not None:
        skew, against = head.skew, "the node's clock"
    else:
        ahead = head.timestamp - head.local  # a head from our future: this clock is behind
        skew, against = (-ahead if ahead > 2 else 0.0), "the head's timestamp"
    said = f"{abs(skew):.1f} s {'behind' if skew < 0 else 'ahead of'} {against}"
    if abs(skew) <= 2:
        note = (
            ""
            if head.skew is not None
            else " (the node gives no clock; one ahead shows as an old head)"
        )
        return ok(name, f"within 2 s of {against}{note}")
    if abs(skew) <= block_time:
        return warn(
            name, f"{said}: wall-clock times here (expiries, time to Close) are off", CLOCK_FIX
        )
    return fail(
        name,
        f"{said}: more than an epoch ({block_time:g} s); times here are off by epochs",
        CLOCK_FIX,
    )


# ---- which chain ------------------------------------------------------------------


@dataclass(frozen=True)
class ChainPlan:
    """What the manager follows: a Lotus node, its home's devnet, or none;
    ``api`` is what to ask for the head ("" when nothing runs to ask)."""

    check: Check
    api: str = ""
    block_time: float = 30.0
    sizes: tuple[int, ...] = ()  # the followed miners' proof types (chain ids)


def devnet_plan(home: Path) -> ChainPlan:
    """No ``[chain] api``: the home's devnet runs inside the manager."""
    from prover.devnet import devnet_paths, endpoint_path, load_devnet_setup
    from prover.homelock import DEVNET_LOCK, holder

    config, store = devnet_paths(home)
    if not config.is_file():
        return ChainPlan(
            warn(
                "chain",
                f"no [chain] api and no devnet in {home}: the manager follows no chain "
                "(jobs only by hand, `prover jobs add`)",
                "set [chain] api to a Lotus node (TOKEN:/ip4/HOST/tcp/1234/http) and "
                "[chain] miners, or `prover devnet init` for a devnet",
            )
        )
    net = load_devnet_setup(home)
    sizes = tuple(sorted({m.proof_type for m in net.miners.values()}))
    what = (
        f"no [chain] api: the embedded devnet of {home} ({len(net.miners)} miner(s), "
        f"epochs of {net.policy.epoch_seconds:g} s)"
    )
    if not store.is_dir():
        return ChainPlan(
            fail("chain", f"{what}, but its store {store} is gone", "`prover devnet init --force`"),
            sizes=sizes,
        )
    running = holder(home, DEVNET_LOCK)
    endpoint = endpoint_path(home)
    if running and endpoint.is_file():
        api = endpoint.read_text().strip()
        return ChainPlan(
            ok("chain", f"{what}, run by {running}"), api, net.policy.epoch_seconds, sizes
        )
    return ChainPlan(ok("chain", f"{what}; not running now (the manager starts it)"), sizes=sizes)


def lotus_plan(api: str, miners: list[int], block_time: float, timeout: float) -> ChainPlan:
    """A Lotus node: the miners' proof types come from StateMinerInfo (what
    verifying keys the manager needs); the node's reachability is the head
    check's."""
    from prover.chain.lotus import LotusClient, LotusError, parse_api_info

    try:
        token, url = parse_api_info(api)
    except ValueError as exc:
        return ChainPlan(fail("chain", f"[chain] api: {exc}", "TOKEN:/ip4/HOST/tcp/PORT/http"))
    if not miners:
        check = warn(
            "chain", f"Lotus node {url}, but no [chain] miners", "list the miners in [chain] miners"
        )
        return ChainPlan(check, api, block_time)
    client = LotusClient(url, token, timeout=timeout, retries=0)
    sizes: set[int] = set()
    try:
        for m in miners:
            sizes.add(client.state_miner_info(m).window_post_proof_type)
    except LotusError:
        pass  # the head check says why the node does not answer
    finally:
        client.close()
    named = ", ".join(f"f0{m}" for m in miners)
    return ChainPlan(
        ok("chain", f"Lotus node {url}; miners {named}"), api, block_time, tuple(sorted(sizes))
    )


def chain_checks(plan: ChainPlan, stall_epochs: int, now: Callable[[], float], timeout: float):
    """The plan's own check, then the head and this clock when there is a
    node to ask."""
    from prover.chain.lotus import LotusError

    out = [plan.check]
    if plan.check.status == "fail":
        return out
    if not plan.api:
        out.append(skip("chain head", "no chain running to ask"))
        return out
    try:
        head = read_head(plan.api, now=now, timeout=timeout)
    except (LotusError, ValueError, KeyError, TypeError) as exc:
        out.append(
            fail(
                "chain head",
                f"ChainHead: {exc}",
                "check that the node runs, the address, and its token ([chain] api)",
            )
        )
        return out
    return [
        *out,
        head_check(head, plan.block_time, stall_epochs),
        clock_check(head, plan.block_time),
    ]


def secret_check(home: Path) -> Check:
    """The token secret: without it the manager does not start, and managers
    of one database that hold different ones refuse each other's tokens."""
    from prover.api.tokens import read_secret
    from prover.config import SECRET_FILE

    path = home / SECRET_FILE
    try:
        read_secret(path)
    except FileNotFoundError:
        return fail(
            "token secret",
            f"{path}: missing",
            "`prover-manager daemon init` (or copy it from the other managers)",
        )
    except (OSError, ValueError) as exc:
        return fail(
            "token secret", f"{path}: {exc}", "restore it from another manager of this database"
        )
    return ok("token secret", f"{path}")
