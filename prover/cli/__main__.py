from prover.cli.main import cli

cli()
