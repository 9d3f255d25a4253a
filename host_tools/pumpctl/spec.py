"""pumpctl spec: the wire specification that travels with the package."""
from __future__ import annotations

import click

from protocol.document import spec_path, spec_text


@click.command()
@click.option("--path", "show_path", is_flag=True, help="Print where PROTOCOL.md is instead of its text.")
def spec(show_path: bool) -> None:
    """Print the protocol specification (PROTOCOL.md), installed with the package; no pump needed."""
    try:
        click.echo(str(spec_path()) if show_path else spec_text(), nl=show_path)
    except FileNotFoundError as exc:
        raise click.ClickException(str(exc)) from None


COMMANDS = [spec]
