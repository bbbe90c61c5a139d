"""Checks what `auditwheel show --json WHEEL` (read on stdin) says of a wheel
.ci/wheels built: the glibc its symbols need is 2.28 or older, and nothing
outside the manylinux policy is linked but, for the CUDA wheel, the NVIDIA
driver's libcuda.so.1 (which a wheel must never carry).

    auditwheel show --json WHEEL | python3 .ci/wheel-check.py WHEEL
"""

import json
import re
import sys

name = sys.argv[1]
shown = json.load(sys.stdin)
allowed = {"libcuda.so.1"} if "prover_cuda-" in name else set()
sym_tag = shown["sym_tag"]
linked = sorted(shown["external_libs"])
glibc = re.fullmatch(r"manylinux_2_(\d+)_x86_64", sym_tag)
extra = set(linked) - allowed
print(f"{name}: symbols {sym_tag}; outside the policy: {', '.join(linked) or 'nothing'}")
if not glibc or int(glibc.group(1)) > 28 or extra:
    sys.exit(f"{name}: not manylinux_2_28 (symbols {sym_tag}; libraries {sorted(extra)})")
