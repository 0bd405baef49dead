"""What every command shares: the global options, the API client they make, ``--json``, and the
one place failures become a one-line message and exit code 1."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..errors import PlatiError
from .client import ApiClient, CliError

Json = Annotated[bool, typer.Option("--json", help="Print the result's data as JSON, and nothing else.")]


@dataclass(frozen=True)
class CliState:
    """The root options, kept on the Click context for the subcommands."""

    url: str
    api_key: str | None


def state(ctx: typer.Context) -> CliState:
    found = ctx.find_object(CliState)
    if found is None:  # a subcommand run without the root callback (never through `plati`)
        raise CliError("internal error: the plati root options were not parsed")
    return found


def api(ctx: typer.Context) -> ApiClient:
    """An :class:`ApiClient` for the URL and key given to ``plati`` (or its environment)."""
    current = state(ctx)
    if not current.api_key:
        raise CliError(
            "no API key: pass --api-key or set PLATI_API_KEY (make one with `plati init` or `plati keys create`)"
        )
    return ApiClient(current.url, current.api_key)


def one_line(exc: CliError | PlatiError) -> str:
    if isinstance(exc, PlatiError):
        return f"error ({exc.code}): {' '.join(exc.message.split())}"
    return exc.message


class PlatiGroup(TyperGroup):
    """The root group: any :class:`CliError` or :class:`PlatiError` a command raises is printed as
    one line on stderr and ends the run with exit code 1 (usage errors keep Click's code 2)."""

    # ``ctx`` is Typer's vendored Click context, whose type is private to Typer.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (CliError, PlatiError) as exc:
            typer.echo(one_line(exc), err=True)
            raise typer.Exit(1) from None


def parse_pairs(values: list[str], separator: str, what: str, param: str) -> list[tuple[str, str]]:
    """``["K=V", ...]`` as pairs, or a usage error (exit 2) naming the bad value."""
    pairs = []
    for raw in values:
        key, sep, value = raw.partition(separator)
        key = key.strip()
        if not sep or not key:
            example = "Key: Value" if separator == ":" else "KEY=VALUE"
            raise typer.BadParameter(f"{raw!r} is not {what} of the form '{example}'", param_hint=param)
        pairs.append((key, value.strip() if separator == ":" else value))
    return pairs
