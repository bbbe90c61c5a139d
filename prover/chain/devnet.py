"""An embedded devnet: a chain of one or more miner actors on a wall clock,
served over the same Lotus JSON-RPC subset the manager uses for Lotus.

It behaves like the miner actor where WindowPoSt is concerned: epochs tick
from a genesis time at ``policy.epoch_seconds``; randomness is derived
deterministically from (tag, epoch, entropy); ``SubmitWindowedPoSt`` is
decoded and refused for a closed deadline, a wrong proof type, bad commit
randomness, unknown or already proven partitions, or a proof that the chain
verifier (the proof core) rejects; a partition left unproven at Close has
its sectors marked faulty; ``DeclareFaultsRecovered`` marks sectors
recovering, and they are healed once proven.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from websockets.frames import Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from prover.chain.deadlines import DeadlineInfo, Policy, current_deadline, deadline_info
from prover.chain.encoding import (
    bitfield_from_json,
    bitfield_to_json,
    decode_declare_faults_recovered,
    decode_submit_windowed_post,
    id_address_cbor,
    sealed_cid,
)
from prover.chain.lotus import TAG_POST_CHAIN_COMMIT, TAG_WINDOWED_POST_CHALLENGE_SEED
from prover.proofs import PoStProofType, mask_randomness, prover_id, verify_window_post

METHOD_SUBMIT_WINDOWED_POST = 5
METHOD_DECLARE_FAULTS_RECOVERED = 11
EXIT_OK = 0
EXIT_ILLEGAL_ARGUMENT = 16
EXIT_NOT_FOUND = 17


@dataclass
class DevnetMiner:
    actor_id: int
    proof_type: int  # chain id (V1_1)
    period_offset: int
    # deadline index -> partitions -> sector numbers
    deadlines: dict[int, list[list[int]]]
    comm_r: dict[int, bytes]
    faulty: set[int] = field(default_factory=set)
    recovering: set[int] = field(default_factory=set)
    # (period start, deadline) -> proven partition indexes
    proven: dict[tuple[int, int], set[int]] = field(default_factory=dict)
    misses: list[dict] = field(default_factory=list)


@dataclass
class DevnetMessage:
    cid: str
    sender: str
    to: str
    method: int
    height: int
    exit_code: int
    reason: str
    pushed_at: float = 0.0  # the devnet's clock when the message came in


class Devnet:
    def __init__(
        self,
        miners: list[DevnetMiner],
        policy: Policy,
        *,
        genesis: float | None = None,
        clock: Callable[[], float] = time.time,
        worker_address: str = "t0100",
    ) -> None:
        self.policy = policy
        self.miners = {m.actor_id: m for m in miners}
        self.clock = clock
        self.genesis = clock() if genesis is None else genesis
        self.worker_address = worker_address
        self.messages: dict[str, DevnetMessage] = {}
        # Messages to lose as a reorg would: accepted by the mempool, never
        # included (tests and demos of resubmission set this).
        self.drop_next = 0
        self._lock = threading.RLock()
        self._settled_epoch = -1

    # ---- time and randomness -------------------------------------------------

    def epoch(self) -> int:
        return max(0, int((self.clock() - self.genesis) // self.policy.epoch_seconds))

    def tipset(self, epoch: int) -> dict:
        return {"Cids": [{"/": f"bafy2devnet{epoch:012d}"}], "Blocks": [], "Height": epoch}

    @staticmethod
    def randomness(tag: int, epoch: int, entropy: bytes) -> bytes:
        return hashlib.sha256(
            b"prover-devnet"
            + tag.to_bytes(8, "big")
            + epoch.to_bytes(8, "big", signed=True)
            + entropy
        ).digest()

    def miner(self, address: str) -> DevnetMiner:
        if not address.startswith(("t0", "f0")) or not address[2:].isdigit():
            raise KeyError(f"not an ID address: {address}")
        actor = int(address[2:])
        if actor not in self.miners:
            raise KeyError(f"actor {address} not found")
        return self.miners[actor]

    def deadline_of(self, m: DevnetMiner, epoch: int) -> DeadlineInfo:
        return current_deadline(m.period_offset, epoch, self.policy)

    # ---- the actor's end-of-deadline processing ---------------------------------

    def settle(self) -> None:
        """Processes every deadline that closed since the last call: sectors
        of unproven partitions become faulty."""
        with self._lock:
            now = self.epoch()
            for m in self.miners.values():
                dl = self.deadline_of(m, max(0, self._settled_epoch))
                while dl.close <= now:
                    if dl.close > self._settled_epoch and dl.index in m.deadlines:
                        proven = m.proven.get((dl.period_start, dl.index), set())
                        for p, sectors in enumerate(m.deadlines[dl.index]):
                            live = set(sectors) - (m.faulty - m.recovering)
                            if p not in proven and live:
                                m.faulty |= live
                                m.recovering -= live
                                m.misses.append(
                                    {
                                        "period_start": dl.period_start,
                                        "deadline": dl.index,
                                        "partition": p,
                                        "sectors": sorted(live),
                                    }
                                )
                    dl = dl.next()
            self._settled_epoch = now

    # ---- messages ------------------------------------------------------------------

    def push(self, msg: dict) -> str:
        with self._lock:
            self.settle()
            now = self.epoch()
            params = base64.b64decode(msg.get("Params") or "")
            digest = hashlib.sha256(
                json.dumps(msg, sort_keys=True).encode()
                + now.to_bytes(8, "big")
                + len(self.messages).to_bytes(8, "big")
            )
            cid = "bafy2devnetmsg" + digest.hexdigest()[:40]
            if self.drop_next > 0:
                self.drop_next -= 1
                return cid  # never lands: StateSearchMsg will not find it
            try:
                m = self.miner(msg["To"])
                method = int(msg["Method"])
                if method == METHOD_SUBMIT_WINDOWED_POST:
                    code, reason = self._submit_post(m, params, now)
                elif method == METHOD_DECLARE_FAULTS_RECOVERED:
                    code, reason = self._declare_recovered(m, params, now)
                else:
                    code, reason = EXIT_ILLEGAL_ARGUMENT, f"method {method} not supported"
            except KeyError as exc:
                code, reason = EXIT_NOT_FOUND, str(exc)
            except ValueError as exc:
                code, reason = EXIT_ILLEGAL_ARGUMENT, f"bad params: {exc}"
            self.messages[cid] = DevnetMessage(
                cid,
                msg.get("From", ""),
                msg.get("To", ""),
                int(msg.get("Method", 0)),
                now + 1,
                code,
                reason,
                self.clock(),
            )
            return cid

    def _submit_post(self, m: DevnetMiner, raw: bytes, now: int) -> tuple[int, str]:
        p = decode_submit_windowed_post(raw)
        dl = self.deadline_of(m, now)
        if p.deadline != dl.index or not dl.is_open():
            return EXIT_ILLEGAL_ARGUMENT, f"deadline {p.deadline} is not open (current {dl.index})"
        if p.proof_chain_id != m.proof_type:
            return EXIT_ILLEGAL_ARGUMENT, (
                f"proof type {p.proof_chain_id} is not the miner's {m.proof_type}"
            )
        if not dl.challenge <= p.commit_epoch < now:
            return EXIT_ILLEGAL_ARGUMENT, f"commit epoch {p.commit_epoch} out of range"
        if p.commit_rand != self.randomness(TAG_POST_CHAIN_COMMIT, p.commit_epoch, b""):
            return EXIT_ILLEGAL_ARGUMENT, "commit randomness does not match the chain"
        partitions = m.deadlines.get(dl.index, [])
        proven = m.proven.setdefault((dl.period_start, dl.index), set())
        public: dict[int, bytes] = {}
        for index, skipped in p.partitions:
            if not 0 <= index < len(partitions):
                return EXIT_ILLEGAL_ARGUMENT, f"no partition {index} in deadline {dl.index}"
            if index in proven:
                return EXIT_ILLEGAL_ARGUMENT, f"partition {index} already proven"
            sectors = set(partitions[index])
            if skipped - sectors:
                return EXIT_ILLEGAL_ARGUMENT, f"skipped sectors {sorted(skipped - sectors)} unknown"
            for n in ((sectors - m.faulty) | (sectors & m.recovering)) - skipped:
                public[n] = m.comm_r[n]
        if not public:
            return EXIT_ILLEGAL_ARGUMENT, "nothing to prove"
        seed = self.randomness(
            TAG_WINDOWED_POST_CHALLENGE_SEED, dl.challenge, id_address_cbor(m.actor_id)
        )
        ok = verify_window_post(
            PoStProofType.from_chain_id(m.proof_type),
            mask_randomness(seed),
            prover_id(m.actor_id),
            sorted(public.items()),
            p.proof,
        )
        if not ok:
            return EXIT_ILLEGAL_ARGUMENT, "invalid proof"
        for index, skipped in p.partitions:
            proven.add(index)
            sectors = set(partitions[index])
            m.faulty |= skipped
            healed = (sectors & m.recovering) - skipped
            m.faulty -= healed
            m.recovering -= healed
        return EXIT_OK, "proven"

    def _declare_recovered(self, m: DevnetMiner, raw: bytes, now: int) -> tuple[int, str]:
        for deadline, partition, sectors in decode_declare_faults_recovered(raw):
            parts = m.deadlines.get(deadline, [])
            if not 0 <= partition < len(parts) or sectors - set(parts[partition]):
                return EXIT_ILLEGAL_ARGUMENT, f"no such sectors in {deadline}/{partition}"
            dl = deadline_info(self.deadline_of(m, now).period_start, deadline, now, self.policy)
            if dl.fault_cutoff_passed() and not dl.has_elapsed():
                return EXIT_ILLEGAL_ARGUMENT, f"fault cutoff of deadline {deadline} has passed"
            m.recovering |= sectors & m.faulty
        return EXIT_OK, "declared"

    # ---- persistence and status -------------------------------------------------------

    def to_json(self) -> dict:
        """The devnet's set-up (not its running state): policy, genesis, miners."""
        return {
            "policy": {
                "epoch_seconds": self.policy.epoch_seconds,
                "challenge_window": self.policy.challenge_window,
                "challenge_lookback": self.policy.challenge_lookback,
                "fault_declaration_cutoff": self.policy.fault_declaration_cutoff,
                "period_deadlines": self.policy.period_deadlines,
            },
            "genesis": self.genesis,
            "worker_address": self.worker_address,
            "miners": [
                {
                    "actor_id": m.actor_id,
                    "proof_type": m.proof_type,
                    "period_offset": m.period_offset,
                    "deadlines": {str(d): parts for d, parts in m.deadlines.items()},
                    "comm_r": {str(n): c.hex() for n, c in m.comm_r.items()},
                }
                for m in self.miners.values()
            ],
        }

    @classmethod
    def from_json(
        cls, data: dict, *, clock: Callable[[], float] = time.time, restart: bool = True
    ) -> Devnet:
        """A devnet from its set-up; ``restart`` starts the chain anew now."""
        policy = Policy.devnet(**data["policy"])
        miners = [
            DevnetMiner(
                actor_id=m["actor_id"],
                proof_type=m["proof_type"],
                period_offset=m["period_offset"],
                deadlines={int(d): parts for d, parts in m["deadlines"].items()},
                comm_r={int(n): bytes.fromhex(c) for n, c in m["comm_r"].items()},
            )
            for m in data["miners"]
        ]
        return cls(
            miners,
            policy,
            clock=clock,
            genesis=None if restart else data["genesis"],
            worker_address=data.get("worker_address", "t0100"),
        )

    def status(self) -> dict:
        """Per miner and deadline: partitions proven, missed, faulty sectors;
        and every message with its outcome."""
        self.settle()
        now = self.epoch()
        out = {"epoch": now, "miners": [], "messages": []}
        for m in self.miners.values():
            dl = self.deadline_of(m, now)
            deadlines = []
            for index, parts in sorted(m.deadlines.items()):
                info = deadline_info(dl.period_start, index, now, self.policy)
                sectors = {n for p in parts for n in p}
                deadlines.append(
                    {
                        "deadline": index,
                        "open": info.open,
                        "close": info.close,
                        "partitions": len(parts),
                        "proven": sorted(m.proven.get((dl.period_start, index), set())),
                        "faulty": sorted(sectors & m.faulty),
                        "recovering": sorted(sectors & m.recovering),
                    }
                )
            out["miners"].append(
                {
                    "actor_id": m.actor_id,
                    "current_deadline": dl.index,
                    "period_start": dl.period_start,
                    "deadlines": deadlines,
                    "misses": m.misses,
                }
            )
        out["messages"] = [
            {
                "cid": msg.cid,
                "to": msg.to,
                "method": msg.method,
                "epoch": msg.height,
                "exit_code": msg.exit_code,
                "reason": msg.reason,
            }
            for msg in self.messages.values()
        ]
        return out

    # ---- JSON-RPC ------------------------------------------------------------------------

    def handle(self, method: str, params: list[Any]) -> Any:
        self.settle()
        now = self.epoch()
        name = method.removeprefix("Filecoin.")
        if name == "ChainHead":
            return self.tipset(now)
        if name == "ChainGetTipSetByHeight":
            return self.tipset(min(int(params[0]), now))
        if name == "StateNetworkVersion":
            return 21
        if name == "DevnetStatus":
            return self.status()
        if name in ("StateGetRandomnessFromBeacon", "StateGetRandomnessFromTickets"):
            tag, epoch, entropy = int(params[0]), int(params[1]), params[2]
            if epoch > now:
                raise ValueError(f"cannot draw randomness from the future ({epoch} > {now})")
            raw = base64.b64decode(entropy) if entropy else b""
            return base64.b64encode(self.randomness(tag, epoch, raw)).decode()
        if name == "MpoolPushMessage":
            cid = self.push(params[0])
            return {"Message": params[0], "Signature": {"Type": 1, "Data": ""}, "CID": {"/": cid}}
        if name in ("StateSearchMsg", "StateWaitMsg"):
            cid = (params[1] if name == "StateSearchMsg" else params[0])["/"]
            msg = self.messages.get(cid)
            if msg is None or msg.height > now:
                if name == "StateSearchMsg":
                    return None
                raise ValueError(f"message {cid} not found")
            return {
                "Message": {"/": cid},
                "Receipt": {"ExitCode": msg.exit_code, "Return": None, "GasUsed": 0},
                "ReturnDec": None,
                "TipSet": self.tipset(msg.height)["Cids"],
                "Height": msg.height,
            }
        m = self.miner(params[0])
        if name == "StateMinerInfo":
            pt = PoStProofType.from_chain_id(m.proof_type)
            return {
                "Owner": self.worker_address,
                "Worker": self.worker_address,
                "ControlAddresses": [],
                "SectorSize": pt.sector_size,
                "WindowPoStProofType": m.proof_type,
                "WindowPoStPartitionSectors": pt.partition_sectors,
            }
        if name == "StateMinerProvingDeadline":
            dl = self.deadline_of(m, now)
            p = self.policy
            return {
                "CurrentEpoch": now,
                "PeriodStart": dl.period_start,
                "Index": dl.index,
                "Open": dl.open,
                "Close": dl.close,
                "Challenge": dl.challenge,
                "FaultCutoff": dl.fault_cutoff,
                "WPoStPeriodDeadlines": p.period_deadlines,
                "WPoStProvingPeriod": p.proving_period,
                "WPoStChallengeWindow": p.challenge_window,
                "WPoStChallengeLookback": p.challenge_lookback,
                "FaultDeclarationCutoff": p.fault_declaration_cutoff,
            }
        if name == "StateMinerPartitions":
            out = []
            for sectors in m.deadlines.get(int(params[1]), []):
                s = set(sectors)
                out.append(
                    {
                        "AllSectors": bitfield_to_json(s),
                        "FaultySectors": bitfield_to_json(s & m.faulty),
                        "RecoveringSectors": bitfield_to_json(s & m.recovering),
                        "LiveSectors": bitfield_to_json(s),
                        "ActiveSectors": bitfield_to_json(s - m.faulty),
                    }
                )
            return out
        if name == "StateMinerSectors":
            wanted = None if params[1] is None else bitfield_from_json(params[1])
            return [
                {
                    "SectorNumber": n,
                    "SealProof": m.proof_type - 5,  # StackedDrg*V1_1
                    "SealedCID": {"/": sealed_cid(c)},
                    "SectorKeyCID": None,
                }
                for n, c in sorted(m.comm_r.items())
                if wanted is None or n in wanted
            ]
        raise KeyError(f"method {method} not supported by the devnet")


def serve_chain_notify(net: Devnet, sock, path: str, headers, stopping: threading.Event) -> None:
    """``ChainNotify`` over a websocket on an upgraded HTTP connection, as a
    Lotus node serves it: a ``current`` head change, then one ``apply`` per
    new epoch. The websocket protocol itself is the ``websockets`` library's
    sans-I/O ``ServerProtocol``; this only moves bytes and writes JSON."""
    proto = ServerProtocol(max_size=1 << 20)
    # The HTTP server has parsed the request already; the protocol's parser
    # must still see it to move on to frames.
    head = f"GET {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    proto.receive_data((head + "\r\n").encode("latin-1"))
    (request,) = proto.events_received()
    proto.send_response(proto.accept(request))

    def flush() -> None:
        for chunk in proto.data_to_send():
            if chunk:
                sock.sendall(chunk)

    flush()
    if proto.handshake_exc is not None:
        return
    channel, last = None, None

    def notify(kind: str, epoch: int) -> None:
        change = [{"Type": kind, "Val": net.tipset(epoch)}]
        msg = {"jsonrpc": "2.0", "method": "xrpc.ch.val", "params": [channel, change]}
        proto.send_text(json.dumps(msg).encode())

    while not stopping.is_set() and proto.state is not State.CLOSED:
        # Wake for the next epoch's head on time (Lotus pushes a head as it
        # arrives), and at least twice a second for the stop flag.
        epoch_s = net.policy.epoch_seconds
        due = net.genesis + (net.epoch() + 1) * epoch_s - net.clock()
        sock.settimeout(min(0.5, max(0.001, due)))
        try:
            data = sock.recv(65536)
            proto.receive_data(data) if data else proto.receive_eof()
        except TimeoutError:
            pass
        except OSError:
            return
        for frame in proto.events_received():
            if frame.opcode is Opcode.TEXT:
                call = json.loads(frame.data)
                if call.get("method") == "Filecoin.ChainNotify":
                    channel = 1
                    proto.send_text(
                        json.dumps({"jsonrpc": "2.0", "id": call.get("id"), "result": 1}).encode()
                    )
                    last = net.epoch()
                    notify("current", last)
                else:
                    error = {"code": 1, "message": "only ChainNotify over this websocket"}
                    proto.send_text(
                        json.dumps(
                            {"jsonrpc": "2.0", "id": call.get("id"), "error": error}
                        ).encode()
                    )
        if channel is not None:
            net.settle()
            now = net.epoch()
            while last < now:
                last += 1
                notify("apply", last)
        flush()
        if proto.close_expected():
            return


class DevnetServer:
    """The devnet over HTTP JSON-RPC on loopback (token optional)."""

    def __init__(
        self, devnet: Devnet, host: str = "127.0.0.1", port: int = 0, token: str | None = None
    ) -> None:
        self.devnet = devnet
        net = devnet
        expected = f"Bearer {token}" if token else None

        stopping = self._stopping = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.headers.get("Upgrade", "").lower() != "websocket":
                    self.send_error(405, "JSON-RPC is POST; GET only for websocket upgrades")
                    return
                if expected and self.headers.get("Authorization") != expected:
                    self.send_error(401)
                    return
                serve_chain_notify(net, self.connection, self.path, self.headers, stopping)
                self.close_connection = True

            def do_POST(self):
                if expected and self.headers.get("Authorization") != expected:
                    self.send_response(401)
                    self.end_headers()
                    return
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                try:
                    answer = {
                        "jsonrpc": "2.0",
                        "id": body.get("id"),
                        "result": net.handle(body["method"], body.get("params") or []),
                    }
                except (KeyError, ValueError, IndexError, TypeError) as exc:
                    answer = {
                        "jsonrpc": "2.0",
                        "id": body.get("id"),
                        "error": {"code": 1, "message": str(exc).strip("'\"")},
                    }
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.port = self.httpd.server_address[1]
        self.url = f"http://{host}:{self.port}/rpc/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> DevnetServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


DEVNET_DIR = "devnet"
STORAGE_NAME = "devnet"


def devnet_paths(home: Path) -> tuple[Path, Path]:
    """(devnet.json, the devnet's sector storage) under a prover home."""
    return home / DEVNET_DIR / "devnet.json", home / DEVNET_DIR / "store"


def init_devnet(
    home: Path,
    *,
    miners: int = 1,
    sectors: int = 8,
    size: str = "2KiB",
    policy: Policy | None = None,
    first_deadline: int = 2,
) -> Devnet:
    """Real test sectors and parameters, spread over partitions (full ones)
    and deadlines (two partitions each, from ``first_deadline`` so a fresh
    chain leaves time to start workers), saved under ``home``."""
    from prover.proofs import create_test_sectors, ensure_test_params

    pt = PoStProofType.from_sector_size(size)
    ensure_test_params(pt)
    config, store = devnet_paths(home)
    policy = policy or Policy.devnet()
    chain_miners = []
    for i in range(miners):
        actor = 1000 + i
        replicas = create_test_sectors(store, actor, range(1, sectors + 1), pt)
        numbers = [r.sector_id for r in replicas]
        size_p = pt.partition_sectors
        parts = [numbers[k : k + size_p] for k in range(0, len(numbers), size_p)]
        deadlines: dict[int, list[list[int]]] = {}
        for k, part in enumerate(parts):
            d = (first_deadline + k // 2) % policy.period_deadlines
            deadlines.setdefault(d, []).append(part)
        chain_miners.append(
            DevnetMiner(actor, pt.chain_id, 0, deadlines, {r.sector_id: r.comm_r for r in replicas})
        )
    net = Devnet(chain_miners, policy)
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps(net.to_json(), indent=1))
    return net


def load_devnet(home: Path) -> Devnet | None:
    config, _ = devnet_paths(home)
    if not config.is_file():
        return None
    return Devnet.from_json(json.loads(config.read_text()))
