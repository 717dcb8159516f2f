"""Printing to the terminal without letting user text act as Rich markup.

Error messages quote what the user typed, file contents and plugin strings; Rich would parse
``[/x]`` in them as a closing tag (and crash the printer), drop ``[tag]`` and ``[nan]``. Every
printer here escapes the text it is given and adds its own styling around it.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def safe(text: Any) -> str:
    """``text`` as a string Rich prints literally."""
    return escape(str(text))


def error(message: Any) -> None:
    err_console.print(f"[bold red]error:[/] {safe(message)}", highlight=False, soft_wrap=True)


def warning(message: Any, label: str = "warning") -> None:
    err_console.print(f"[yellow]{safe(label)}:[/] {safe(message)}", highlight=False, soft_wrap=True)


def info(message: Any, *, stderr: bool = False) -> None:
    (err_console if stderr else console).print(safe(message), highlight=False, soft_wrap=True)
