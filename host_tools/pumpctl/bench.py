"""pumpctl commands for the bench: wireshark (the dissector), replay (a capture again) and shell."""
from __future__ import annotations

from pathlib import Path

import click

from host_tools import wireshark as ws
from host_tools.pumpctl.common import json_option, print_json


@click.command()
@click.option("--install", "install_it", is_flag=True,
              help="Copy the dissector into Wireshark's personal plugin folder.")
@click.option("--plugin-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Install into this folder instead.")
@json_option
def wireshark(install_it: bool, plugin_dir: Path | None, as_json: bool) -> None:
    """Print the path of the Wireshark dissector and the command that uses it (or install it)."""
    tshark, gui = ws.usage_commands()
    installed = str(ws.install(plugin_dir)) if install_it or plugin_dir is not None else None
    if as_json:
        print_json({"dissector": str(ws.dissector_path()), "tshark": tshark, "wireshark": gui,
                    "installed": installed})
        return
    click.echo(f"dissector: {ws.dissector_path()}")
    click.echo(tshark)
    click.echo(gui)
    if installed:
        click.echo(f"installed: {installed} (Wireshark loads it at start; no -X needed)")


COMMANDS = [wireshark]
