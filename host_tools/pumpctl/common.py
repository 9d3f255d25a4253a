"""What every pumpctl command shares: the connection options, output helpers, exit codes."""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from typing import Any, Callable

import click
from rich.console import Console

from host_tools.capture_frames import FrameSegmenter
from host_tools.client import PumpClient
from host_tools.line import LineSettings, LineSettingsError, response_timeout_s
from host_tools.units import QuantityError
from protocol.enums import Role
from protocol.keys import KeyFileError, load_keys

EXIT_OK = 0
EXIT_OTHER = 1
EXIT_USAGE = 2
EXIT_CONNECTION = 3
EXIT_AUTH = 4
EXIT_REFUSED = 5
EXIT_FILE = 6

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


class FileProblem(click.ClickException):
    """An input file that cannot be used (exit code 6); the message names line and field."""

    exit_code = EXIT_FILE


class NotReady(click.ClickException):
    """The pump is not in a state to accept the command (exit code 5, as if it had refused)."""

    exit_code = EXIT_REFUSED


@dataclass
class Connection:
    """The global options: where the pump is and who we are."""

    url: str | None
    role: Role | None
    key_hex: str | None
    keys_file: str | None
    timeout_s: float | None
    retries: int
    line: LineSettings = LineSettings()
    capture_path: str | None = None

    def response_timeout_s(self) -> float:
        """--timeout when given, else the timeout the line speed and frame sizes imply
        (see host_tools.line)."""
        if self.timeout_s is not None:
            return self.timeout_s
        baud = self.line.effective_baud(self.url or "")
        return response_timeout_s(baud, self.line.bits_per_byte)

    def link_options(self) -> dict[str, Any]:
        """The line settings as options for hal.open (usage error if the link takes none)."""
        try:
            options = self.line.link_options(self.url or "")
        except LineSettingsError as exc:
            raise click.UsageError(str(exc)) from None
        if self.capture_path is not None:
            options.update(capture=self.capture_path, capture_segmenter=FrameSegmenter)
        return options

    def role_for(self, default: Role) -> Role:
        """The --role given, else the command's default role."""
        return self.role if self.role is not None else default

    def key_for(self, role: Role) -> bytes | None:
        """The key for ``role`` from --key or --keys (None: the development key)."""
        if self.key_hex is not None:
            try:
                key = bytes.fromhex(self.key_hex)
            except ValueError:
                raise click.BadParameter("not valid hex", param_hint="--key") from None
            if not 16 <= len(key) <= 64:
                raise click.BadParameter(f"{len(key)} bytes, need 16..64", param_hint="--key")
            return key
        if self.keys_file is not None:
            try:
                keys = load_keys(self.keys_file)
            except KeyFileError as exc:
                raise FileProblem(str(exc)) from None
            if role not in keys:
                raise FileProblem(f"{self.keys_file}: keys.{role.name.lower()}: no key for this role")
            return keys[role]
        return None

    def client(self, default_role: Role = Role.CLINICIAN) -> PumpClient:
        """An unopened PumpClient for the command (use it in a ``with``)."""
        if not self.url:
            raise click.UsageError("--url is required (or set PUMPCTL_URL)")
        role = self.role_for(default_role)
        return PumpClient(self.url, role, self.key_for(role), timeout_s=self.response_timeout_s(),
                          retries=self.retries, **self.link_options())


pass_conn = click.make_pass_decorator(Connection)


def print_json(obj: Any) -> None:
    """One JSON document on stdout."""
    click.echo(json.dumps(obj, indent=2, sort_keys=False, default=_json_default))


def _json_default(value: Any) -> Any:
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if hasattr(value, "name"):
        return value.name
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


WIRE_MAX = 0xFFFF_FFFF
"""Largest value of the protocol's u32 quantity fields."""


def quantity(parser: Callable[[str], int],
             maximum: int = WIRE_MAX) -> Callable[[click.Context, click.Parameter, Any], Any]:
    """A click callback converting an option's text with a units parser; a value that does not
    parse, or is above ``maximum`` (default: what the protocol can carry), is a usage error."""
    def convert(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None:
            return None
        try:
            result = parser(value)
        except QuantityError as exc:
            raise click.BadParameter(str(exc)) from None
        if result > maximum:
            raise click.BadParameter(f"{value!r} is too large (at most {maximum} in the pump's unit)")
        return result
    return convert


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """The --json flag every command that shows data has."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(f)


def emit_json_line(obj: Any) -> None:
    """One JSON object on one line of stdout, flushed at once (for ``| jq`` while it runs)."""
    sys.stdout.write(json.dumps(obj, default=_json_default, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def warn(text: str) -> None:
    """A warning line on stderr."""
    err_console.print(f"[yellow]warning:[/] {text}")


def stdout_is_terminal() -> bool:
    """True when stdout is a terminal (live views and colours)."""
    return sys.stdout.isatty()
