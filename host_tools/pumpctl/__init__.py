"""pumpctl: the programmer on the command line.

``pumpctl --url URL [--role clinician|patient] [--key HEX | --keys FILE] COMMAND ...``

Commands: status, schedule show|set, drug [set], limits [set], start, stop, bolus, ptm, cancel,
refill, alarms [ack], clock [set], log, monitor, plot, sniff, ports, spec. Every command that shows
data takes ``--json``.

Errors are one line on stderr and an exit code: 0 ok, 1 other error, 2 usage, 3 connection
(cannot open the link, no answer), 4 authentication (key refused), 5 refused by the pump (its
reason printed), 6 invalid file (line and field printed).
"""
from __future__ import annotations

import logging
import sys

import click

from host_tools.errors import (AuthenticationFailed, ConnectionFailed, ProtocolViolation,
                               PumpError, Refused, ResponseTimeout)
from host_tools.pumpctl import bench, logs, refill, spec, therapy, tools
from host_tools.pumpctl.common import (EXIT_AUTH, EXIT_CONNECTION, EXIT_FILE, EXIT_OTHER,
                                       EXIT_REFUSED, EXIT_USAGE, Connection, err_console, warn)
from host_tools.pumpctl.lineopts import connection_line, line_options
from host_tools.pumpctl.views import refusal_text
from protocol.frame import PROTOCOL_VERSION
from host_tools.schedule_file import ScheduleFileError
from protocol.enums import Role
from protocol.keys import KeyFileError, load_key_file

log = logging.getLogger("pumpctl")


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--url", envvar="PUMPCTL_URL", help="Pump link: /dev/pts/N, virtual://NAME, tcp://HOST:PORT, ...")
@click.option("--role", type=click.Choice(["clinician", "patient"], case_sensitive=False), default=None,
              help="Session role (default: clinician; patient for ptm).")
@click.option("--key", "key_hex", metavar="HEX", envvar="PUMPCTL_KEY",
              help="Role key as hex (default: the development key). Other users can see a command "
                   "line: prefer the PUMPCTL_KEY environment variable or --key-file.")
@click.option("--key-file", "key_file", type=click.Path(dir_okay=False),
              help="File holding the role key as hex (readable by its owner only, like ssh keys).")
@click.option("--keys", "keys_file", type=click.Path(dir_okay=False), help="Key file (intrapump-keys/1 JSON).")
@click.option("--timeout", type=click.FloatRange(min=0.01), default=None,
              help="Seconds to wait for each answer before retransmitting "
                   "(default: from the line speed, 0.5 s + the largest exchange's time on the line).")
@click.option("--retries", type=click.IntRange(min=0), default=3, show_default=True,
              help="Retransmissions of an unanswered request.")
@click.option("--capture", "capture_path", type=click.Path(dir_okay=False), default=None,
              help="Record the link to a pcapng file, one packet per frame (Wireshark: pumpctl wireshark).")
@line_options
@click.option("-v", "--verbose", count=True, help="Log more (-vv for frames).")
@click.version_option(package_name="intrapump", prog_name="pumpctl",
                      message="%(prog)s (intrapump) %(version)s, protocol version " + str(PROTOCOL_VERSION))
@click.pass_context
def cli(ctx: click.Context, url: str | None, role: str | None, key_hex: str | None,
        key_file: str | None, keys_file: str | None, timeout: float | None, retries: int,
        capture_path: str | None, verbose: int, **line: object) -> None:
    """Program and read an intrapump pump (virtual or real)."""
    key_hex = _key_hex(ctx, key_hex, key_file, keys_file)
    level = logging.ERROR if not verbose else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    url, settings = connection_line(url, line)
    conn = Connection(url, Role[role.upper()] if role else None, key_hex, keys_file, timeout, retries,
                      settings, capture_path)
    if url:
        log.info("link %s: %s; response timeout %.3g s%s", url, settings.describe(url),
                 conn.response_timeout_s(), "" if timeout is None else " (--timeout)")
    ctx.obj = conn


def _key_hex(ctx: click.Context, key_hex: str | None, key_file: str | None,
              keys_file: str | None) -> str | None:
    """The role key as hex from --key, PUMPCTL_KEY or --key-file (an explicit --key-file or
    --keys wins over the environment variable); warns when the key is on the command line."""
    from_env = ctx.get_parameter_source("key_hex") is click.core.ParameterSource.ENVIRONMENT
    if from_env and (key_file is not None or keys_file is not None):
        key_hex = None
    if sum(x is not None for x in (key_hex, key_file, keys_file)) > 1:
        raise click.UsageError("give only one of --key, --key-file and --keys")
    if key_hex is not None and not from_env:
        warn("--key puts the key on the command line, where other users can see it (ps); "
             "use PUMPCTL_KEY or --key-file instead")
    if key_file is not None:
        return load_key_file(key_file).hex()
    return key_hex


for _command in [*therapy.COMMANDS, refill.refill, logs.log_cmd, logs.plot, *tools.COMMANDS,
                 *bench.COMMANDS, *spec.COMMANDS]:
    cli.add_command(_command)


def _fail(message: str, code: int) -> int:
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    return code


def run(argv: list[str] | None = None) -> int:
    """Run pumpctl with ``argv`` (default: sys.argv[1:]) and return its exit code."""
    try:
        cli.main(args=argv, prog_name="pumpctl", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except click.Abort:
        return _fail("aborted", EXIT_OTHER)
    except click.ClickException as exc:  # FileProblem carries EXIT_FILE
        return _fail(exc.format_message(), exc.exit_code)
    except ScheduleFileError as exc:
        return _fail(str(exc), EXIT_FILE)
    except KeyFileError as exc:
        return _fail(str(exc), EXIT_FILE)
    except AuthenticationFailed as exc:
        return _fail(f"authentication failed: {exc}", EXIT_AUTH)
    except (ConnectionFailed, ResponseTimeout) as exc:
        return _fail(f"connection: {exc}", EXIT_CONNECTION)
    except Refused as exc:
        return _fail(refusal_text(exc), EXIT_REFUSED)
    except ProtocolViolation as exc:
        return _fail(f"protocol violation: {exc}", EXIT_OTHER)
    except PumpError as exc:
        return _fail(str(exc), EXIT_OTHER)
    except ValueError as exc:
        return _fail(str(exc), EXIT_OTHER)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, for the user
        log.debug("unexpected error", exc_info=True)
        return _fail(f"unexpected {type(exc).__name__}: {exc}", EXIT_OTHER)


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())


__all__ = ["cli", "main", "run"]
