"""Checks what `auditwheel show --json WHEEL` (read on stdin) says of a wheel
.ci/wheels built: the glibc its symbols need is 2.28 or older, and nothing
outside the manylinux policy is linked but, for the GPU wheels (prover-cuda,
prover-supraseal), the NVIDIA driver's libcuda.so.1 (which a wheel must never
carry).

auditwheel reads the glibc a module needs from its versioned symbols only. A
glibc function or variable the linker found in no version of glibc 2.28's
(zig's stubs) is left undefined with no version at all, which auditwheel does
not see, and the module then fails to load on any glibc older than the one
that has it ("undefined symbol"). So each module's undefined, non-weak,
unversioned symbols are also read (readelf) and must be none that this
machine's libc or libm defines: the supraseal build's static libstdc++ asks
two such (see .ci/glibc228-compat.c).

    auditwheel show --json WHEEL | python3 .ci/wheel-check.py WHEEL
"""

import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def dynamic_symbols(path: str) -> list[tuple[str, str, str]]:
    """(binding, section index, name) of each dynamic symbol of ``path``."""
    out = subprocess.run(
        ["readelf", "--dyn-syms", "--wide", path], capture_output=True, text=True, check=True
    ).stdout
    symbols = []
    for line in out.splitlines():
        cols = line.split()
        # Num: Value Size Type Bind Vis Ndx Name
        if len(cols) >= 8 and cols[0].endswith(":") and cols[0][:-1].isdigit():
            symbols.append((cols[4], cols[6], cols[7]))
    return symbols


def glibc_defines() -> set[str]:
    """What this machine's libc and libm (those this process runs on) define."""
    libs = {
        line.split()[-1]
        for line in Path("/proc/self/maps").read_text().splitlines()
        if re.search(r"/lib(c|m)\.so\.6$", line)
    }
    return {
        name.split("@")[0]
        for lib in libs
        for _bind, ndx, name in dynamic_symbols(lib)
        if ndx != "UND"
    }


def unversioned_glibc(wheel: str) -> dict[str, list[str]]:
    """Per module in ``wheel``: the glibc symbols it takes with no version."""
    defined = glibc_defines()
    found = {}
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        for member in zf.namelist():
            if not re.search(r"\.so(\.|$)", member):
                continue
            path = zf.extract(member, tmp)
            bad = sorted(
                name
                for bind, ndx, name in dynamic_symbols(path)
                if ndx == "UND" and bind != "WEAK" and "@" not in name and name in defined
            )
            if bad:
                found[member] = bad
    return found


name = sys.argv[1]
shown = json.load(sys.stdin)
gpu = any(f"prover_{kind}-" in name for kind in ("cuda", "supraseal"))
allowed = {"libcuda.so.1"} if gpu else set()
sym_tag = shown["sym_tag"]
linked = sorted(shown["external_libs"])
glibc = re.fullmatch(r"manylinux_2_(\d+)_x86_64", sym_tag)
extra = set(linked) - allowed
unversioned = unversioned_glibc(name)
print(f"{name}: symbols {sym_tag}; outside the policy: {', '.join(linked) or 'nothing'}")
if not glibc or int(glibc.group(1)) > 28 or extra:
    sys.exit(f"{name}: not manylinux_2_28 (symbols {sym_tag}; libraries {sorted(extra)})")
if unversioned:
    sys.exit(f"{name}: glibc symbols taken with no version (not in glibc 2.28): {unversioned}")
