"""Errors as one line for people: ``error: <field>: <what is wrong>``, never a traceback for what a user typed or sent.

Exit codes: 2 when the command line itself is wrong (a usage error, a missing or unreadable file, a value that
does not parse), 1 when the service refused the request (a problem answer, which names the field) or failed.
``MIXOPT_DEBUG=1`` shows the traceback of an unexpected error.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from mixopt.errors import MixoptError

USAGE = 2
REFUSED = 1
MORE_SHOWN = 3

err_console = Console(stderr=True, soft_wrap=True)  # soft_wrap: a long message stays one line


def say(message: str) -> None:
    # escaped: messages hold brackets (runs[17].weights, psycopg[binary]) that rich would take for markup
    err_console.print(f"[red]error:[/red] {escape(' '.join(message.split()))}")


def problem_line(exc: MixoptError) -> str:
    """A problem answer as one line: its first offending field (with its line in a file) and message, and how many
    more there are; the detail when it names no field."""
    if not exc.errors:
        return exc.detail
    first = exc.errors[0]
    where = f"{first.loc} (line {first.line})" if first.line is not None else first.loc
    text = f"{where}: {first.msg}" if where else first.msg
    rest = exc.errors[1:]
    if rest:
        locs = ", ".join(e.loc for e in rest[:MORE_SHOWN]) + (", ..." if len(rest) > MORE_SHOWN else "")
        text += f" (and {len(rest)} more: {locs})"
    return text


def validation_line(exc: ValidationError) -> str:
    """A pydantic error as one line naming the field (``domains[3].name: String should match pattern ...``)."""
    errors = exc.errors()
    if not errors:
        return str(exc).splitlines()[0]
    first = errors[0]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{loc or exc.title}: {first['msg']}{more}"


def _click_like(exc: BaseException) -> bool:
    """A click error (typer raises click's, or from typer 0.2x its own copy of them): it formats its message and
    carries its exit code (2 for usage errors)."""
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def _named(exc: BaseException, name: str) -> bool:
    return any(cls.__name__ == name for cls in type(exc).__mro__)


def usage_line(exc: Any) -> str:
    """A usage error as one line, naming the parameter when click knows it."""
    param = getattr(exc, "param", None)
    message = str(exc.format_message())
    name = getattr(param, "name", None)
    if name and name not in message:
        return f"{name}: {message}"
    return message


def os_line(exc: OSError) -> str:
    name = exc.filename if exc.filename is not None else ""
    reason = exc.strerror or str(exc)
    return f"{name}: {reason}" if name else reason


def run(command: Callable[..., Any]) -> int:
    """Run the typer app ``command`` (``standalone_mode=False``) and turn every error into one line; the exit code."""
    try:
        result = command(standalone_mode=False)
    except MixoptError as exc:
        say(problem_line(exc))
        return REFUSED
    except ValidationError as exc:
        say(validation_line(exc))
        return USAGE
    except OSError as exc:
        say(os_line(exc))
        return USAGE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if _named(exc, "NoArgsIsHelpError"):  # ``mixopt`` alone: the help
            ctx = getattr(exc, "ctx", None)
            print(ctx.get_help() if ctx is not None else exc)
            return USAGE
        if _named(exc, "Abort"):
            say("aborted")
            return REFUSED
        if _click_like(exc):  # a usage error (2), a file that cannot be opened, ...
            say(usage_line(exc))
            return int(exc.exit_code)  # type: ignore[attr-defined]
        # a defect, not the user's input: still one line, the traceback on request
        if os.environ.get("MIXOPT_DEBUG"):
            traceback.print_exc()
        say(f"unexpected {type(exc).__name__}: {exc} (MIXOPT_DEBUG=1 shows the traceback)")
        return REFUSED
    return result if isinstance(result, int) else 0
