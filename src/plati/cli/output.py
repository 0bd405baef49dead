"""How the CLI prints: Rich tables and panels for people, exact JSON for machines.

User data is always wrapped in :class:`rich.text.Text`, so a name like ``[bold]`` is printed as
it is rather than read as markup.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console, Group, OverflowMethod, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

# When stdout is not a terminal (a pipe, a file, a test), Rich would assume 80 columns and cut
# ids short; a wider page keeps every cell whole.
_PIPE_WIDTH = 200

Cell = str | int | float | bool | None | RenderableType


def console(*, stderr: bool = False) -> Console:
    """A console on stdout (or stderr), made per call so it follows the current ``sys.stdout``."""
    out = Console(stderr=stderr, highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(stderr=stderr, highlight=False, width=_PIPE_WIDTH)
    return out


def print_json(data: Any) -> None:
    """``data`` as indented JSON on stdout, and nothing else."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def show(*renderables: RenderableType) -> None:
    console().print(*renderables)


def note(message: str) -> None:
    """A short human line on stdout (never used with ``--json``)."""
    console().print(Text(message))


def warn(message: str) -> None:
    """A warning on stderr, so it never mixes with data on stdout."""
    console(stderr=True).print(Text(message, style="bold yellow"))


def cell(value: Cell) -> RenderableType:
    if value is None:
        return Text("-", style="dim")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, int | float):
        return Text(str(value))
    if isinstance(value, str):
        return Text(value)
    return value


def when(value: str | None) -> str | None:
    """An ISO timestamp from the API as ``2024-01-05 09:00:00 UTC``."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    offset = moment.utcoffset()
    suffix = " UTC" if offset is not None and not offset else ""
    return moment.strftime("%Y-%m-%d %H:%M:%S") + suffix


_ID_COLUMNS = ("id", "mcp id", "assistant id", "channel id", "conversation id", "prefix")


def table(title: str | None, columns: Sequence[str], rows: Iterable[Sequence[Cell]], *, empty: str) -> RenderableType:
    """A table with a header row, or the ``empty`` sentence when there are no rows.

    Readable at 80 columns: id columns are never broken or cut (they are copied into the next
    command); every other cell stays on one line, and the widest ones are cut with an ellipsis
    when the page is narrow (``--json`` gives every value whole).
    """
    materialized = [[cell(value) for value in row] for row in rows]
    if not materialized:
        return Text(empty, style="dim")
    natural = [
        max([len(name), *(_plain_width(row[index]) for row in materialized)]) for index, name in enumerate(columns)
    ]
    fixed = [name.lower() in _ID_COLUMNS for name in columns]
    # SIMPLE_HEAD without edges: three spaces between columns (padding, a blank rule, padding).
    budget = console().width - 3 * (len(columns) - 1) - 1
    floors = [min(width, max(4, len(name))) for width, name in zip(natural, columns, strict=True)]
    widths = _fit(natural, fixed, floors, budget)
    rendered = Table(
        title=title, box=box.SIMPLE_HEAD, title_justify="left", expand=False, pad_edge=False, show_edge=False
    )
    for name, width, is_id in zip(columns, widths, fixed, strict=True):
        overflow: OverflowMethod = "ignore" if is_id else "ellipsis"
        rendered.add_column(name, no_wrap=True, overflow=overflow, width=width)
    for row in materialized:
        rendered.add_row(*row)
    return rendered


def _fit(natural: list[int], fixed: list[bool], floors: list[int], budget: int) -> list[int]:
    """Column widths within ``budget``: fixed columns keep their width, the widest others shrink
    first, none below its floor."""
    widths = list(natural)
    while sum(widths) > budget:
        shrinkable = [i for i, width in enumerate(widths) if not fixed[i] and width > floors[i]]
        if not shrinkable:
            break  # ids alone are wider than the page: the terminal wraps, nothing is cut
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    return widths


def _plain_width(value: RenderableType) -> int:
    return len(value.plain) if isinstance(value, Text) else 1


def panel(title: str, fields: Sequence[tuple[str, Cell]], *extra: RenderableType) -> Panel:
    """A titled panel of ``label: value`` lines, followed by ``extra`` renderables."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in fields:
        grid.add_row(Text(label), cell(value))
    parts: list[RenderableType] = [grid] if fields else []
    body = Group(*parts, *extra)
    return Panel(body, title=Text(title), title_align="left", expand=False)


def pretty(value: Any) -> Text:
    """Any JSON value, indented, as text."""
    return Text(json.dumps(value, indent=2, ensure_ascii=False))
