"""Terminal output: rich tables on a terminal, plain aligned text otherwise, JSON on request.

``rich`` is imported only when stdout is a terminal (a pipe, a log or a test gets plain text).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO


class Output:
    def __init__(self, fmt: str = "text", stream: TextIO | None = None, color: bool | None = None) -> None:
        self.fmt = fmt
        self.stream = stream or sys.stdout
        self.rich = fmt == "text" and (self.stream.isatty() if color is None else color)
        self._console: Any = None

    @property
    def console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)
        return self._console

    def json(self, data: Any) -> None:
        self.stream.write(json.dumps(data, indent=2, sort_keys=False) + "\n")

    def heading(self, text: str) -> None:
        if self.rich:
            self.console.rule(f"[bold]{text}")
        else:
            self.stream.write(f"== {text}\n")

    def line(self, text: str = "", style: str = "") -> None:
        if self.rich and style:
            self.console.print(text, style=style, markup=False)
        elif self.rich:
            self.console.print(text, markup=False)
        else:
            self.stream.write(text + "\n")

    def fields(self, pairs: Sequence[tuple[str, Any]]) -> None:
        width = max((len(k) for k, _ in pairs), default=0)
        for k, v in pairs:
            self.line(f"{k.ljust(width)}  {_text(v)}")

    def table(self, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str = "") -> None:
        if self.rich:
            from rich.table import Table

            t = Table(title=title or None, show_lines=False)
            for c in columns:
                t.add_column(c, overflow="fold")
            for r in rows:
                t.add_row(*[_text(v) for v in r])
            self.console.print(t)
            return
        if title:
            self.stream.write(title + "\n")
        cells = [list(columns)] + [[_text(v) for v in r] for r in rows]
        widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
        for row in cells:
            self.stream.write("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() + "\n")

    def block(self, text: str, language: str = "json") -> None:
        if self.rich:
            from rich.syntax import Syntax

            self.console.print(Syntax(text, language, word_wrap=True))
        else:
            self.stream.write(text.rstrip("\n") + "\n")


def _text(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (dict, list)):
        return json.dumps(v, sort_keys=True)
    return str(v)
