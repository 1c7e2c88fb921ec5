"""What every dkgen command shares: a DkgenError ends it with one line and exit status 2."""

from __future__ import annotations

import click

from dkgen.errors import DkgenError


class _OneLineErrors:
    def invoke(self, ctx: click.Context):  # type: ignore[no-untyped-def]
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except DkgenError as exc:
            click.echo(f"dkgen: error: {exc}", err=True)
            ctx.exit(2)


class DkgenGroup(_OneLineErrors, click.Group):
    """A group whose subcommands report a DkgenError as one line on stderr, exit status 2."""


class DkgenCommand(_OneLineErrors, click.Command):
    """A command that reports a DkgenError as one line on stderr, exit status 2 (also when
    it runs outside a DkgenGroup, as `python -m dkgen.cli_train` does)."""
