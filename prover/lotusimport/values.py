"""Values as Lotus reads them: FIL amounts as ``types.ParseFIL`` does,
durations as Go's ``time.ParseDuration``; and ours as TOML writes them."""

from __future__ import annotations

import json
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from prover.chain.message import ATTO_PER_FIL
from prover.configimport.render import toml_value

__all__ = ["lotus_text", "parse_go_duration", "parse_lotus_fil", "toml_value"]

_DURATION_UNITS = {
    "ns": Decimal("1e-9"),
    "us": Decimal("1e-6"),
    "\u00b5s": Decimal("1e-6"),  # Go accepts both micro signs
    "\u03bcs": Decimal("1e-6"),
    "ms": Decimal("1e-3"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
}
_DURATION_PART = re.compile("(\\d+\\.?\\d*|\\.\\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)")


def parse_go_duration(text: str) -> float:
    """Seconds in a Go duration string ("10m0s", "1h30m", "1.5s", "0")."""
    if not isinstance(text, str):
        raise ValueError(f'not a duration string: {text!r} (write it as "10m0s")')
    s = text
    sign = Decimal(1)
    if s.startswith(("+", "-")):
        sign = Decimal(-1) if s[0] == "-" else Decimal(1)
        s = s[1:]
    if s == "0":
        return 0.0
    if not s:
        raise ValueError(f"not a duration: {text!r}")
    total, pos = Decimal(0), 0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if not m:
            raise ValueError(f'not a duration: {text!r} (e.g. "10m0s", "90s", "1h")')
        total += Decimal(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return float(sign * total)


def parse_lotus_fil(text: Any) -> int:
    """attoFIL in a Lotus FIL string, read as ``types.ParseFIL`` reads it: a
    decimal number, then nothing or "FIL" (FIL), or "attoFIL"/"aFIL"."""
    if not isinstance(text, str):
        raise ValueError(f'not a FIL amount string: {text!r} (Lotus writes "5 FIL")')
    number = text[: len(text) - len(text.lstrip("-.0123456789"))]
    suffix = text[len(number) :].strip().lower()
    if suffix in ("", "fil"):
        scale = ATTO_PER_FIL
    elif suffix in ("attofil", "afil"):
        scale = 1
    else:
        raise ValueError(f"not a FIL amount: {text!r} (unrecognized unit {suffix!r})")
    try:
        amount = Decimal(number) * scale
    except InvalidOperation:
        raise ValueError(f"not a FIL amount: {text!r}") from None
    if amount != amount.to_integral_value():
        raise ValueError(f"not a whole number of attoFIL: {text!r}")
    if amount < 0:
        raise ValueError(f"a negative amount: {text!r}")
    return int(amount)


def lotus_text(value: Any) -> str:
    """A value as it stands in Lotus' config.toml."""
    return toml_value(value) if not isinstance(value, dict) else json.dumps(value)
