"""Option parsing and consoles shared by the command modules (cli, cli_reports, cli_tracking)."""

from __future__ import annotations

from convbench.errors import ConvbenchError


def split_values(values) -> tuple[str, ...]:
    """Repeatable, comma-separated option values -> a flat tuple, order kept, no repeats."""
    out: list[str] = []
    for v in values or ():
        for part in str(v).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return tuple(out)


def parse_fraction(text, name: str, example: str = "0.05 or 5%") -> float:
    """``0.05`` or ``5%`` -> 0.05; anything else, negative, NaN or infinite is a user error."""
    t = str(text).strip()
    try:
        value = float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        raise ConvbenchError(f"{name}: expected a fraction such as {example}, got {text!r}") from None
    if not 0 <= value < float("inf"):
        raise ConvbenchError(f"{name}: must be a fraction of at least 0, got {text!r}")
    return value


def console(stderr: bool = False):
    """A rich console; stdout that is not a terminal (a pipe, a file, CI) gets 200 columns
    instead of rich's 80, so that no table cell is cut."""
    from rich.console import Console

    c = Console(stderr=stderr, soft_wrap=False)
    if not stderr and not c.is_terminal:
        c = Console(soft_wrap=False, width=200)
    return c
