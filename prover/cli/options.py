"""Option types shared by the commands, so a bad value is refused by the
parser with the same clear message everywhere."""

from __future__ import annotations

import click

from prover.proofs import InvalidInput, PoStProofType


class SectorSize(click.ParamType):
    """``2KiB``, ``8MiB``, ``512MiB``, ``32GiB``, ``64GiB`` (or bytes, or a chain id)."""

    name = "size"

    def convert(self, value, param, ctx) -> PoStProofType:
        if isinstance(value, PoStProofType):
            return value
        try:
            return PoStProofType.parse(value)
        except InvalidInput as exc:
            self.fail(str(exc), param, ctx)


SECTOR_SIZE = SectorSize()


def size_option(**kwargs):
    return click.option(
        "--size",
        "proof_type",
        type=SECTOR_SIZE,
        default="2KiB",
        show_default=True,
        help="Sector size: 2KiB, 8MiB, 512MiB, 32GiB or 64GiB.",
        **kwargs,
    )
