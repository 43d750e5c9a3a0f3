r"""Workload files: convbench's own and oneDNN benchdnn's batch files, read the same way.

Format
------
A file is read as benchdnn reads a batch file: whitespace-separated words; ``#`` outside a quoted
name starts a comment to the end of the line; a ``\`` at the end of a line joins its last word with
the next line's first word. A word that starts with ``--`` is a flag; every other word is one
descriptor (:mod:`convbench.workloads.descriptor`), its count written as ``*N`` at the end of its
name (``n"layer3.0.conv1*6"``; benchdnn's own files do this too). Flags hold for the descriptors
after them, on the same line and below, in included files too, until changed or ``--reset``.

Flags understood (lists with ``,`` give one entry per combination, as benchdnn runs them):

* ``--dir=``: convbench's ``fwd``, ``dgrad``, ``wgrad`` (the descriptor's bias is kept), or
  benchdnn's ``FWD_B``, ``FWD_D``, ``FWD_I`` (fwd), ``BWD_D`` (dgrad), ``BWD_W``, ``BWD_WB``
  (wgrad). A benchdnn direction sets the bias as benchdnn does: ``FWD_B`` and ``BWD_WB`` keep
  it; ``FWD_D``, ``FWD_I`` and ``BWD_W`` have one only with ``--bia-dt``; ``BWD_D`` has none.
  Without ``--dir`` an entry has no direction (the plan chooses) and keeps its bias.
* ``--dt=`` (benchdnn ``f32``, ``bf16``, ``f16``, ``u8:s8:f32``, ... or convbench ``fp32``,
  ``int8``, ...) and the older ``--cfg=`` (``f32``, ``u8s8s32``, ``bf16bf16f32``, ...): the
  entry's dtype, taken from the source and weights types when both map to the same convbench
  dtype (``u8``/``s8`` -> ``int8``, ``s4``/``u4`` -> ``int4``, ``f8_*`` -> ``fp8``); otherwise
  the dtype is left unset, with a warning.
* ``--bia-dt=`` (``--bia_dt=``): ``undef`` for no bias, any type for a bias (see ``--dir``).
* ``--mb=N``: overrides the batch of the descriptors (``0``: no override).
* ``--layout=NAME``: convbench's layout of the entries below (``nchw``, ``nhwc``, ...).
* ``--batch=FILE``: reads FILE there, relative to the including file's folder (then to the folders
  of the files that include that one, as benchdnn searches); an include cycle is an error.
* ``--reset``: back to no direction, dtype, layout, ``--bia-dt`` or ``--mb``.

Every other flag (``--alg=``, ``--attr-...``, ``--stag=``, ``--strides=``, ...) is skipped with
one warning per flag name and load. A bad line is reported as one line ``FILE:LINE: <token>:
<why>`` and the rest of that line is dropped; the file goes on.

:func:`save` writes one descriptor per line, with ``--dir=``/``--dt=``/``--layout=`` lines where
they change and ``--reset`` where they go back to unset.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

from convbench.errors import ConvbenchError
from convbench.workloads.descriptor import format_entry, parse_entry
from convbench.workloads.spec import DIRECTIONS, DTYPE_BITS, ConvSpec

__all__ = ["WorkloadEntry", "WorkloadWarning", "load", "save", "dumps"]


class WorkloadWarning(UserWarning):
    """A workload file flag convbench does not use (it is skipped)."""


_LAYOUT = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class WorkloadEntry:
    """One workload: a spec, how many times it occurs, and optionally the direction, dtype and
    layout it is to run in (None: whatever the plan asks for).

    ``source`` is where it was read (``FILE:LINE``); it is not part of equality.
    """

    spec: ConvSpec
    count: int = 1
    direction: str | None = None
    dtype: str | None = None
    source: str = field(default="", compare=False)
    layout: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.spec, ConvSpec):
            raise ConvbenchError(f"spec: expected a ConvSpec, got {self.spec!r}")
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise ConvbenchError(f"count: must be a positive integer, got {self.count!r}")
        if self.direction is not None and self.direction not in DIRECTIONS:
            raise ConvbenchError(
                f"direction: unknown direction {self.direction!r} (known: {', '.join(DIRECTIONS)})"
            )
        if self.dtype is not None and self.dtype not in DTYPE_BITS:
            raise ConvbenchError(f"dtype: unknown dtype {self.dtype!r} (known: {', '.join(DTYPE_BITS)})")
        if self.layout is not None and (not isinstance(self.layout, str) or not _LAYOUT.match(self.layout)):
            raise ConvbenchError(f"layout: expected a lowercase name such as 'nhwc', got {self.layout!r}")


# ---- flag values ----------------------------------------------------------------------------
#: benchdnn direction -> (convbench direction, bias rule): "keep" the descriptor's bias,
#: "bia-dt" only with --bia-dt, "none" never.
_BENCHDNN_DIRS = {
    "FWD_B": ("fwd", "keep"),
    "FWD_D": ("fwd", "bia-dt"),
    "FWD_I": ("fwd", "bia-dt"),
    "BWD_D": ("dgrad", "none"),
    "BWD_W": ("wgrad", "bia-dt"),
    "BWD_WB": ("wgrad", "keep"),
}
#: benchdnn data type -> convbench dtype (None: known to benchdnn, no convbench dtype).
_BENCHDNN_DT = {
    "f32": "fp32", "f64": "fp64", "tf32": "tf32", "bf16": "bf16", "f16": "fp16",
    "s8": "int8", "u8": "int8", "s4": "int4", "u4": "int4",
    "f8_e5m2": "fp8", "f8_e4m3": "fp8", "s32": None, "f4_e2m1": None, "f4_e3m0": None,
    "e8m0": None, "undef": None,
}
_CFG_PART = re.compile(r"bf16|f16|f32|f64|s8|u8|s32|s4|u4")
_IGNORED_WHY = {
    "--alg": "algorithm choice (convbench's own option chooses algorithms)",
    "--stag": "memory format (use convbench's layouts)",
    "--wtag": "memory format (use convbench's layouts)",
    "--dtag": "memory format (use convbench's layouts)",
    "--strides": "memory strides (use convbench's layouts)",
}


def _direction(item: str) -> tuple[str, str]:
    if item.lower() in DIRECTIONS:
        return item.lower(), "keep"
    found = _BENCHDNN_DIRS.get(item.upper())
    if item.upper() == "BWD_DW":
        raise ConvbenchError("BWD_DW is two directions: use BWD_D,BWD_W")
    if found is None:
        known = ", ".join([*DIRECTIONS, *_BENCHDNN_DIRS])
        raise ConvbenchError(f"unknown direction {item!r} (known: {known})")
    return found


def _dtype(item: str) -> tuple[str | None, str | None]:
    """Map one ``--dt`` item to (dtype, why it is unclear)."""
    if item in DTYPE_BITS and item not in _BENCHDNN_DT:
        return item, None
    parts = item.split(":")
    if len(parts) not in (1, 3):
        raise ConvbenchError(f"data types {item!r}: expected one type or src:wei:dst")
    for p in parts:
        if p not in _BENCHDNN_DT:
            raise ConvbenchError(f"unknown data type {p!r} in {item!r}")
    src, wei = parts[0], parts[1] if len(parts) == 3 else parts[0]
    return _pair(src, wei)


def _pair(src: str, wei: str) -> tuple[str | None, str | None]:
    a, b = _BENCHDNN_DT.get(src), _BENCHDNN_DT.get(wei)
    if a is None or a != b:
        return None, f"no single convbench dtype for source {src} and weights {wei}"
    return a, None


def _cfg(item: str) -> tuple[str | None, str | None]:
    """Map one legacy ``--cfg`` value (``u8s8s32``, ``bf16bf16f32``, ``f32_wino``...)."""
    if item in DTYPE_BITS and item not in _BENCHDNN_DT:
        return item, None
    head = item.lower().split("_")[0]
    parts = _CFG_PART.findall(head)
    if not parts or "".join(parts) != head:
        return None, f"configuration {item!r} names no data types convbench reads"
    return _pair(parts[0], parts[1] if len(parts) > 1 else parts[0])


def _int_list(flag: str, value: str) -> tuple[int, ...]:
    out = []
    for item in value.split(","):
        if not item.isdigit():
            raise ConvbenchError(f"{flag}={value}: expected non-negative integers, got {item!r}")
        out.append(int(item))
    return tuple(out)


# ---- reading --------------------------------------------------------------------------------
_TOKENS = re.compile(
    r'(?P<space>\s+)|(?P<comment>#.*)|(?P<word>(?:"(?:[^"\\]|\\.)*"|[^\s"#])+)|(?P<quote>")', re.S
)
_Report = Callable[[str], None]


def _words(line: str) -> tuple[list[str], bool]:
    """Split one physical line into words; return (words, ends with a continuation ``\\``)."""
    if '"' not in line and "#" not in line and "\\" not in line:
        return line.split(), False
    words = []
    for m in _TOKENS.finditer(line):
        if m.lastgroup == "word":
            words.append(m.group())
        elif m.lastgroup == "quote":
            raise ConvbenchError(f"{line[m.start():].strip()}: name has no closing quote")
        elif m.lastgroup == "comment":
            break
    continued = bool(words) and words[-1].endswith("\\")
    if continued:
        words[-1] = words[-1][:-1]
        if not words[-1]:
            words.pop()
    return words, continued


@dataclass(frozen=True)
class _Settings:
    """What the flags read so far say (benchdnn's settings; reset by --reset)."""

    dirs: tuple = ((None, "keep"),)
    dtypes: tuple = (None,)
    bias_dt: tuple = (False,)
    mbs: tuple = (0,)
    layouts: tuple = (None,)


class _Stop(ConvbenchError):
    """The first bad line of a strict load (already located: FILE:LINE: ...)."""


class _Loader:
    """One load() call: its settings, warnings given, include stack and output."""

    def __init__(self, strict: bool, on_error: _Report, on_warning: _Report) -> None:
        self.strict = strict
        self.on_error = on_error
        self.on_warning = on_warning
        self.settings = _Settings()
        self.warned: set[str] = set()
        self.stack: list[str] = []
        self.entries: list[WorkloadEntry] = []

    def bad(self, source: str, message: str) -> None:
        text = f"{source}: {message}"
        if self.strict:
            raise _Stop(text)
        self.on_error(text)

    def warn(self, source: str, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            self.on_warning(f"{source}: {message}")

    # -- files
    def read_file(self, display: str, real: str) -> None:
        self.stack.append(real)
        try:
            text = _read_text(display)
            self.read_text(text, display, os.path.dirname(real))
        finally:
            self.stack.pop()

    def read_text(self, text: str, display: str, folder: str) -> None:
        pending: list[str] = []  # words of a line that ended in a continuation
        joining = False
        first = 0
        for lineno, line in enumerate(text.split("\n"), 1):
            if not joining:
                first = lineno
            try:
                words, continued = _words(line)
            except ConvbenchError as e:
                self.bad(f"{display}:{first}", str(e))
                pending, joining = [], False
                continue
            if joining and pending and words:
                # benchdnn joins the last word before the break with the first one after it
                words = pending[:-1] + [pending[-1] + words[0]] + words[1:]
            elif joining:
                words = pending + words
            pending, joining = words, continued
            if not continued and words:
                self.line(words, f"{display}:{first}", folder)
        if joining and pending:
            self.line(pending, f"{display}:{first}", folder)

    # -- one logical line
    def line(self, words: list[str], source: str, folder: str) -> None:
        for word in words:
            try:
                if word.startswith("--"):
                    self.flag(word, source, folder)
                else:
                    self.descriptor(word, source)
            except _Stop:
                raise
            except ConvbenchError as e:
                self.bad(source, str(e))
                return

    def descriptor(self, word: str, source: str) -> None:
        spec, count = parse_entry(word)
        s = self.settings
        seen = set()
        for (direction, rule), dtype, bias_dt, mb, layout in itertools.product(
            s.dirs, s.dtypes, s.bias_dt, s.mbs, s.layouts
        ):
            bias = spec.bias and (rule == "keep" or (rule == "bia-dt" and bias_dt))
            changes = {}
            if bias != spec.bias:
                changes["bias"] = bias
            if mb and mb != spec.batch:
                changes["batch"] = mb
            entry = WorkloadEntry(
                spec.with_(**changes) if changes else spec, count, direction, dtype, source, layout
            )
            key = (entry, entry.spec.name)
            if key not in seen:
                seen.add(key)
                self.entries.append(entry)

    def flag(self, word: str, source: str, folder: str) -> None:
        name, eq, value = word.partition("=")
        key = name.replace("_", "-")
        s = self.settings
        if key == "--reset":
            if eq:
                raise ConvbenchError(f"{word}: --reset takes no value")
            self.settings = _Settings()
            return
        handlers = {"--dir", "--dt", "--cfg", "--bia-dt", "--mb", "--batch", "--layout"}
        if key not in handlers:
            why = _IGNORED_WHY.get(key)
            if why is None and key.startswith("--attr"):
                why = "primitive attributes (post-ops, scales, ...) are not part of a ConvSpec"
            self.warn(source, key, f"{name}: flag ignored ({why or 'not a shape, direction or data type'})")
            return
        if not eq or not value:
            raise ConvbenchError(f"{word}: {name} needs a value ({name}=...)")
        if key == "--batch":
            self.include(value, source, folder)
            return
        if key == "--mb":
            self.settings = replace(s, mbs=_int_list(name, value))
            return
        items = value.split(",")
        if any(not item for item in items):
            raise ConvbenchError(f"{word}: empty item in the list")
        try:
            if key == "--dir":
                s = replace(s, dirs=tuple(_direction(item) for item in items))
            elif key == "--layout":
                for item in items:
                    if not _LAYOUT.match(item.lower()):
                        raise ConvbenchError(f"layout {item!r} is not a layout name")
                s = replace(s, layouts=tuple(item.lower() for item in items))
            elif key == "--bia-dt":
                for item in items:
                    if item not in _BENCHDNN_DT:
                        raise ConvbenchError(f"unknown data type {item!r}")
                s = replace(s, bias_dt=tuple(item != "undef" for item in items))
            else:
                read_one = _dtype if key == "--dt" else _cfg
                dtypes = []
                for item in items:
                    dtype, unclear = read_one(item)
                    if unclear:
                        self.warn(source, f"{key}={item}", f"{name}={item}: {unclear}; dtype left unset")
                    dtypes.append(dtype)
                s = replace(s, dtypes=tuple(dtypes))
        except ConvbenchError as e:
            raise ConvbenchError(f"{word}: {e}") from None
        self.settings = s

    def include(self, value: str, source: str, folder: str) -> None:
        folders = [folder] + [os.path.dirname(p) for p in reversed(self.stack)]
        if os.path.isabs(value):
            folders = [""]
        for f in dict.fromkeys(folders):
            path = os.path.join(f, value)
            if os.path.isfile(path):
                break
        else:
            raise ConvbenchError(f"--batch={value}: no such file (looked in {folders[0] or '.'})")
        real = os.path.realpath(path)
        if real in self.stack:
            chain = " -> ".join(os.path.basename(p) for p in (*self.stack[self.stack.index(real):], real))
            raise ConvbenchError(f"--batch={value}: include cycle ({chain})")
        self.read_file(path, real)


def _read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise ConvbenchError(f"workload file: no such file {path!r}") from None
    except IsADirectoryError:
        raise ConvbenchError(f"workload file: {path!r} is a folder") from None
    except UnicodeDecodeError:
        raise ConvbenchError(f"workload file: {path!r} is not UTF-8 text") from None
    except OSError as e:
        raise ConvbenchError(f"workload file: cannot read {path!r} ({e.strerror})") from None


_LOOKS_LIKE_TEXT = re.compile(r"^\s*(--|#|[a-z]+\d)")


def _print_error(message: str) -> None:
    print(message, file=sys.stderr)


_HERE = os.path.dirname(os.path.abspath(__file__))


def _warn(message: str) -> None:
    # point the warning at the caller of load(), however deep the includes went
    frame, level = sys._getframe(0), 1
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_HERE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, WorkloadWarning, stacklevel=level)


def load(
    path_or_text: str | os.PathLike,
    strict: bool = False,
    on_error: _Report | None = None,
    on_warning: _Report | None = None,
) -> list[WorkloadEntry]:
    """Read a workload file (convbench's or a benchdnn batch file) or its text.

    ``path_or_text``: a path (``os.PathLike``, or a string naming an existing file), or the text
    itself (a string with a newline, or one that starts like a descriptor or a flag). Relative
    ``--batch=`` includes in text are relative to the current folder.

    Without ``strict``, each bad line is passed to ``on_error`` as one line
    ``FILE:LINE: <token>: <why>`` (default: printed to stderr) and the good lines are kept; with
    ``strict`` the first bad line raises :class:`ConvbenchError` with that text. Skipped flags go
    to ``on_warning`` (default: :func:`warnings.warn` with :class:`WorkloadWarning`), once per
    flag name. A missing or unreadable file raises :class:`ConvbenchError`.
    """
    loader = _Loader(bool(strict), on_error or _print_error, on_warning or _warn)
    if isinstance(path_or_text, os.PathLike):
        path = os.fspath(path_or_text)
        loader.read_file(path, os.path.realpath(path))
    elif isinstance(path_or_text, str):
        text = path_or_text
        if "\n" not in text and os.path.exists(text):
            loader.read_file(text, os.path.realpath(text))
        elif "\n" in text or _LOOKS_LIKE_TEXT.match(text):
            loader.read_text(text, "<text>", os.getcwd())
        else:
            raise ConvbenchError(f"workload file: no such file {text!r}")
    else:
        raise ConvbenchError(f"workload file: expected a path or text, got {path_or_text!r}")
    return loader.entries


# ---- writing --------------------------------------------------------------------------------
_HEADER = (
    "# convbench workload file: one descriptor per line, its count as *N at the end of its name;\n"
    "# --dir=, --dt= and --layout= hold for the lines below them, --reset clears them.\n"
)


def dumps(entries: Iterable[WorkloadEntry | ConvSpec]) -> str:
    """The text of a convbench workload file holding ``entries`` (ConvSpecs count once)."""
    lines = [_HEADER]
    state = (None, None, None)
    for entry in entries:
        if isinstance(entry, ConvSpec):
            entry = WorkloadEntry(entry)
        elif not isinstance(entry, WorkloadEntry):
            raise ConvbenchError(f"workload entry: expected a WorkloadEntry or ConvSpec, got {entry!r}")
        want = (entry.direction, entry.dtype, entry.layout)
        if want != state:
            if any(old is not None and new is None for old, new in zip(state, want)):
                lines.append("--reset\n")
                state = (None, None, None)
            for flag, old, new in zip(("--dir", "--dt", "--layout"), state, want):
                if new != old:
                    lines.append(f"{flag}={new}\n")
            state = want
        lines.append(format_entry(entry.spec, entry.count) + "\n")
    return "".join(lines)


def save(entries: Iterable[WorkloadEntry | ConvSpec], path: str | os.PathLike) -> None:
    """Write ``entries`` as a convbench workload file at ``path`` (atomically: a temporary file
    beside it, then a rename). :func:`load` reads it back equal, names included."""
    text = dumps(entries)
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise ConvbenchError(f"workload file: cannot write {str(target)!r} ({e.strerror})") from None
