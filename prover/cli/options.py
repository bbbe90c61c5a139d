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


def version_option(prog: str):
    """``--version``: the release, the commit it was built from and the build
    (cpu or cuda, with the driver a cuda build needs): what an operator asks
    of each host during an upgrade. Worked out only when asked (it may run
    git in a checkout)."""

    def show(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if not value or ctx.resilient_parsing:
            return
        from prover.buildinfo import build_info

        click.echo(f"{prog} {build_info().describe()}")
        ctx.exit()

    return click.option(
        "--version",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=show,
        help="Show the version, commit and build, and exit.",
    )
