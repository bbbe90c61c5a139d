"""Can a worker or storage host reach every manager it is given, with a
token those managers take, and do they speak compatible APIs?

Each address of ``TOKEN:HOST:PORT[,HOST:PORT...]`` is asked on its own
(the client's failover would hide a dead one behind a live one, which is
exactly what an operator must hear about before the live one fails too).

One call tells all three things without changing anything: ``Status``
(AdminService). With an admin token it answers, with the manager's version
and API; with a worker token the manager refuses it as PERMISSION_DENIED,
which it only says after the token's HMAC checked out (so the token is
good, and a worker token is what these hosts should hold); a token that is
not the manager's is UNAUTHENTICATED. ``Register`` and ``AnnounceStorage``
would also carry the manager's API, but they are not questions: they
register a worker (ending its drain) or mark a storage host live, so a
doctor never sends them. With a worker token the API comparison is
therefore left to the manager, which refuses an incompatible client at
Register naming both versions, and said so as ``skip``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from prover.doctor.checks import Check, fail, ok, skip, warn

WORKER_TOKEN_FIX = (
    "on a manager host run `prover-manager auth api-info --perm worker` and give its "
    "line to this host (PROVER_API_INFO, or `api` in its config); managers of one "
    "database must share one ~/.prover/secret"
)


@dataclass(frozen=True)
class ManagerAnswer:
    """What one manager said to ``Status`` (see the module docstring)."""

    address: str
    reached: bool
    error: str = ""  # why it was not reached, or answered as no manager does
    perm: str = ""  # "admin", "worker", or "" when it refused the token
    refusal: str = ""  # the manager's words refusing the token
    version: str = ""  # its release, when it answered
    api_version: int | None = None  # None: not told (a worker token)
    min_client_api: int | None = None


def ask_manager(
    token: str, address: str, *, ca_file: str | Path | None = None, timeout: float = 5.0
) -> ManagerAnswer:
    """``Status`` at one address, its answer or refusal sorted out."""
    import grpc

    from prover._proto import manager_pb2 as pb
    from prover.api.client import ApiInfo, ManagerClient

    try:
        client = ManagerClient(ApiInfo(token, address), ca_file=ca_file)
    except OSError as exc:  # the CA file
        return ManagerAnswer(address, False, error=f"cannot read the CA: {exc}")
    try:
        resp = client.admin.Status(pb.StatusRequest(), timeout=timeout)
    except grpc.RpcError as exc:
        code = exc.code()
        if code == grpc.StatusCode.PERMISSION_DENIED:
            return ManagerAnswer(address, True, perm="worker")
        if code == grpc.StatusCode.UNAUTHENTICATED:
            return ManagerAnswer(address, True, refusal=exc.details() or "")
        return ManagerAnswer(address, False, error=f"{code.name}: {exc.details()}")
    finally:
        client.close()
    commit = getattr(resp, "commit", "")
    return ManagerAnswer(
        address,
        True,
        perm="admin",
        version=f"{resp.version}+{commit}" if commit else resp.version,
        # 0 from a manager of release 0.1.0, which knew no API numbers: API 1
        api_version=getattr(resp, "api_version", 0) or 1,
        min_client_api=getattr(resp, "min_client_api", 0) or 1,
    )


def ask_all(
    token: str, addresses: list[str], *, ca_file: str | Path | None, timeout: float
) -> list[ManagerAnswer]:
    """Every address at once: a dead manager costs one timeout, not one each."""
    with ThreadPoolExecutor(max_workers=max(1, min(len(addresses), 8))) as pool:
        return list(
            pool.map(lambda a: ask_manager(token, a, ca_file=ca_file, timeout=timeout), addresses)
        )


def reach_check(answer: ManagerAnswer) -> Check:
    name = f"manager {answer.address}"
    if answer.reached:
        return ok(name, f"answers{f' ({answer.version})' if answer.version else ''}")
    return fail(
        name,
        f"not reached: {answer.error}",
        "start prover-manager there, open the port, or correct the address "
        "(TOKEN:HOST:PORT[,HOST:PORT...]); with TLS, give the manager's CA (api_ca)",
    )


def token_check(answer: ManagerAnswer, role: str) -> Check | None:
    """The token's permission, for a worker or storage host (None when the
    manager was not reached)."""
    if not answer.reached:
        return None
    name = f"token at {answer.address}"
    if not answer.perm:
        return fail(
            name, f"refused: {answer.refusal}: not a token this manager made", WORKER_TOKEN_FIX
        )
    if answer.perm == "admin":
        return warn(
            name,
            f"an admin token: more than a {role} needs (it can reset and remove jobs)",
            "use a worker token: `prover-manager auth api-info --perm worker`",
        )
    return ok(name, f"a worker token, as a {role} needs")


def version_check(answer: ManagerAnswer, api: int) -> Check | None:
    """The manager's API against this installation's ``api``."""
    if not answer.reached or not answer.perm:
        return None
    name = f"API at {answer.address}"
    if answer.api_version is None:
        return skip(
            name,
            f"not compared: a manager tells its API only in Status, which takes an admin "
            f"token; this host speaks API {api} (a manager refuses an incompatible worker "
            "at Register, naming both)",
            "to compare, run the doctor once with an admin token (--api, from "
            "`prover-manager auth api-info --perm admin`)",
        )
    lowest = answer.min_client_api or 1
    if api < lowest:
        return fail(
            name,
            f"this host speaks API {api}; the manager ({answer.version}) serves API "
            f"{lowest} and newer",
            "upgrade prover on this host to the managers' release",
        )
    if answer.api_version < api:
        return warn(
            name,
            f"the manager ({answer.version}) speaks API {answer.api_version}, older than this "
            f"host's {api}: it ignores what API {api} adds",
            "upgrade the managers first, then workers and storage hosts",
        )
    return ok(
        name,
        f"manager API {answer.api_version} (serves {lowest} and newer); this host API {api}",
    )


def manager_checks(
    api_info: str,
    role: str,
    *,
    api: int,
    ca_file: str | Path | None = None,
    timeout: float = 5.0,
) -> list[Check]:
    """Every check of every manager address in ``api_info``."""
    from prover.api.client import ApiInfoError, parse_api_info

    if not api_info:
        return [
            fail(
                "managers",
                f"no manager to talk to: a {role} needs TOKEN:HOST:PORT[,HOST:PORT...]",
                "set `api` in its config or PROVER_API_INFO (prover-manager auth api-info "
                "--perm worker prints it), or pass --api",
            )
        ]
    try:
        info = parse_api_info(api_info)
    except ApiInfoError as exc:
        return [fail("managers", str(exc), "write it as TOKEN:HOST:PORT[,HOST:PORT...]")]
    out: list[Check] = []
    for answer in ask_all(info.token, list(info.addresses), ca_file=ca_file, timeout=timeout):
        out.append(reach_check(answer))
        out += [c for c in (token_check(answer, role), version_check(answer, api)) if c]
    return out
