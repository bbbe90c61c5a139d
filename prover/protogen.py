"""Generates the gRPC stubs in ``prover/_proto`` from ``protos/``.

    python -m prover.protogen           # write the stubs
    python -m prover.protogen --check   # exit 1 if the committed stubs are stale

The stubs are committed so that installing needs no protoc; the check (run by
the test suite) fails when a .proto changed without regenerating them.
"""

from __future__ import annotations

import argparse
import filecmp
import sys
import tempfile
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
OUT = ROOT / "prover" / "_proto"


def generate(out_root: Path) -> list[Path]:
    from grpc_tools import protoc

    well_known = resources.files("grpc_tools") / "_proto"
    sources = sorted(PROTOS.rglob("*.proto"))
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *(str(p) for p in sources),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted((out_root / "prover" / "_proto").glob("*.py*"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fresh = generate(Path(tmp))
        stale = []
        for path in fresh:
            committed = OUT / path.name
            if not committed.exists() or not filecmp.cmp(path, committed, shallow=False):
                stale.append(path.name)
                if not args.check:
                    committed.write_bytes(path.read_bytes())
        if args.check and stale:
            print(f"stale gRPC stubs: {', '.join(stale)}; run `python -m prover.protogen`")
            return 1
    if not args.check:
        (OUT / "__init__.py").touch()
        print(f"wrote {len(fresh)} files to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
