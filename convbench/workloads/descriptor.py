r"""One-line problem descriptors: text <-> :class:`ConvSpec`.

The grammar is oneDNN benchdnn's convolution descriptor, so benchdnn's own lines parse as they
are, plus a few terse convbench extensions so that every :class:`ConvSpec` field round-trips:
``parse(format_spec(spec)) == spec``, the name included.

Grammar
-------
A descriptor is a run of tokens, optionally separated by ``_``::

    g<groups> mb<batch> ic<C> id<D> ih<H> iw<W> oc<K> od<oD> oh<oH> ow<oW>
    kd/kh/kw<kernel> sd/sh/sw<stride> pd/ph/pw<pad before> dd/dh/dw<dilation - 1>
    n"<name>"

Sizes are elements. As in benchdnn, the dilation token is the dilation minus one (``dh0`` is an
ordinary conv, ``dh1`` skips every other input row), and the name runs to the end (unquoted, as
benchdnn allows) or is quoted. In a quoted name ``\"`` is a quote, ``\\`` a backslash, ``\n`` a
line feed and ``\r`` a carriage return; no other escape exists, so any string survives.

benchdnn's rules, which this module follows (read from tests/benchdnn/conv/conv_aux.cpp and
common.cpp's ``sanitize_desc``):

* ``g`` defaults to 1, ``mb`` to 2 (benchdnn's default; :func:`format_spec` always writes it),
  strides to 1, dilation tokens to 0.
* A spatial dim is *given* when any of its ``i``/``o``/``k``/``d`` tokens is non-zero, its stride
  is not 1 or its padding is positive (or, convbench's, it has an ``r`` or non-zero ``op``
  token). A given dim needs its input size and kernel; tokens of a dim that is not given are
  ignored, as benchdnn does (``ph1pw0`` reads as ``ph1pw1``).
* Dims: ``d`` given -> 3D; else ``h`` given -> 2D; else ``w`` given -> 1D; none -> error.
  A 2D problem without ``w`` tokens copies every ``h`` value to ``w`` (square). A 3D problem
  without ``h`` and ``w`` copies ``d`` to both (cubic); it gives both or neither.
* An output size that is not stated is derived. With no padding given, the padding is 0 when the
  output is derived, and benchdnn's ``((o - 1) * s - i + (k - 1) * (dd + 1) + 1) / 2`` (rounded
  toward zero) when the output is stated.
* A stated output size fixes the end padding of a conv: if symmetric padding gives that output it is
  stored symmetric; else the stored end padding is benchdnn's derived
  ``pad_r = (o - 1) * s - i + (k - 1) * (dd + 1) + 1 - p``, clamped to 0 when negative (a
  negative ``pad_r`` is always above ``-stride`` in valid lines, so clamping keeps the output).
  Any stated output that the stored padding does not reproduce is an error. This makes the same
  layer from torch and from benchdnn compare equal.

convbench extensions (written by :func:`format_spec` only where they differ from the default):

* ``rd``/``rh``/``rw<n>``: padding at the end of the dim, where it differs from ``pd``/``ph``/``pw``.
* ``opd``/``oph``/``opw<n>``: output padding of a transposed conv.
* ``deconv``: a transposed conv, read as benchdnn's deconv driver reads the same grammar
  (``ic``/``ih`` are its input, ``oc``/``oh`` its output; ``o = (i-1)*s - p - r + ext + op``,
  ``ext = (k-1)*(dd+1) + 1``). A stated output is met, in this order of preference, by symmetric
  padding; by torch's form, symmetric padding plus an output padding below max(stride,
  dilation); by benchdnn's derived end padding ``(i-1)*s - o + ext - p``, where a negative one
  becomes output padding (oneDNN's negative end padding means just that).
* ``reflect``, ``replicate``, ``circular``: padding mode (default zeros).
* ``bias0``: no bias (default ``bias1``).
* ``linear``, ``deformable``: the layer kind (default conv).

Extensions travel with their dim: a ``w`` group copied from ``h`` copies ``rh`` and ``oph`` too.
:func:`format_spec` writes the canonical form: ``g`` only when not 1, ``mb`` always, only the
dims benchdnn would print (``h`` for a square 2D problem, ``d`` for a cubic 3D one), strides,
padding and dilation only when not default, output sizes never (they are derived), e.g.
``mb32ic64ih56oc64kh3ph1n"layer3.0.conv1"``.

:func:`read` gives the :class:`Descriptor` as read (stated outputs, benchdnn's own end padding),
:func:`format_benchdnn` writes a spec as benchdnn's conv or deconv driver reads it.

Counts: a benchdnn name may end in ``*N`` (``n"resnet_50:res2a_branch1*4"``): the layer occurs N
times. :func:`parse_entry` splits it off; :func:`format_entry` writes it.

Errors are :class:`ConvbenchError` with one line ``<token>: <why>``, e.g. ``xy5: unknown token``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from convbench.errors import ConvbenchError
from convbench.workloads.spec import ConvSpec, dim_names

__all__ = [
    "Descriptor",
    "read",
    "parse",
    "parse_entry",
    "split_count",
    "format_spec",
    "format_entry",
    "format_benchdnn",
    "quote_name",
]

_DIMS = ("d", "h", "w")
#: Per-dim token families: (prefix, role).
_PER_DIM = (("i", "in"), ("o", "out"), ("k", "kernel"), ("s", "stride"), ("p", "pad"),
            ("r", "pad_r"), ("d", "dil"), ("op", "op"))
_SCALAR = {"g": "groups", "mb": "batch", "ic": "in_channels", "oc": "out_channels", "bias": "bias"}
#: Numeric token -> scalar field name, or (role, dim) for per-dim tokens.
_NUMERIC: dict = {
    **_SCALAR,
    **{prefix + dim: (role, dim) for prefix, role in _PER_DIM for dim in _DIMS},
}
_PADDING_MODES = ("reflect", "replicate", "circular")
_KINDS = ("linear", "deformable")
_KEYWORDS = _PADDING_MODES + _KINDS + ("deconv",)
# Longest names first, so that an alternation always takes the whole token name.
_NAMES = sorted([*_NUMERIC, *_KEYWORDS], key=lambda n: (-len(n), n))
_PAIR = re.compile(r"(" + "|".join(_NAMES) + r")(\d*)")
#: The run of tokens and separators before the name (or the end).
_BODY = re.compile(r"(?:[_ \t]+|(?:" + "|".join(_NAMES) + r")\d*)*")
_LAST_NAME = re.compile(r"(" + "|".join(_NAMES) + r")\Z")
_UNKNOWN = re.compile(r"[A-Za-z]*[-+]?\d*")
_COUNT = re.compile(r"^(?P<name>.*)\*(?P<count>\d+)$", re.S)
#: Smallest allowed value of each numeric token.
_LOW = {word: 0 if word == "bias" or word[:-1] in ("p", "r", "d", "op") else 1 for word in _NUMERIC}


def _c_div(a: int, b: int) -> int:
    """Integer division rounding toward zero, as benchdnn's C++ does (b > 0)."""
    return a // b if a >= 0 else -(-a // b)


def _error(token: str, why: str) -> ConvbenchError:
    """``<token>: <why>`` on one line: a token with line breaks or other unprintable characters
    is shown escaped, a long one shortened."""
    if not token.isprintable():
        token = repr(token)[1:-1]
    if len(token) > 60:
        token = token[:57] + "..."
    return ConvbenchError(f"{token}: {why}")


# ---- names ----------------------------------------------------------------------------------
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "r": "\r"}
_SIMPLE_QUOTED = re.compile(r'"([^"\\]*)"[ \t]*\Z')
_QUOTE = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r"})


def quote_name(name: str) -> str:
    """The name as it is written after ``n``: quoted, with ``"``, ``\\``, LF and CR escaped."""
    return '"' + name.translate(_QUOTE) + '"'


def _read_name(text: str, pos: int) -> str:
    """Read the name starting at ``text[pos]`` (just after ``n``) to the end of the text."""
    m = _SIMPLE_QUOTED.match(text, pos)
    if m is not None:
        return m.group(1)
    if pos >= len(text) or text[pos] != '"':
        name = text[pos:].strip()
        if '"' in name:
            raise _error("n" + name, "a name with a quote must be quoted: n\"...\" with \\\" inside")
        return name
    out = []
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == '"':
            rest = text[i + 1 :].strip()
            if rest:
                raise _error(rest, "text after the closing quote of the name")
            return "".join(out)
        if c == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt not in _ESCAPES:
                raise _error("\\" + nxt, 'unknown escape in name (use \\", \\\\, \\n or \\r)')
            out.append(_ESCAPES[nxt])
            i += 2
            continue
        out.append(c)
        i += 1
    raise _error(text[pos:], "name has no closing quote")


# ---- reading --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Descriptor:
    """One descriptor as read, before it becomes a :class:`ConvSpec`.

    Spatial tuples have one entry per spatial dim, in (d, h, w) order, sizes in elements.
    ``output_size`` holds the stated output sizes (None where the text leaves it derived);
    ``pad_after`` holds explicit end paddings (``rd``/``rh``/``rw``; None where absent);
    ``pad_before`` is the stated or benchdnn-derived start padding; ``dilation`` follows
    benchdnn's convention (dilation minus one). ``batch`` is None when ``mb`` is absent.
    """

    groups: int
    batch: int | None
    in_channels: int
    out_channels: int
    input_size: tuple[int, ...]
    output_size: tuple[int | None, ...]
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    pad_before: tuple[int, ...]
    pad_after: tuple[int | None, ...]
    dilation: tuple[int, ...]
    output_padding: tuple[int, ...]
    bias: bool = True
    padding_mode: str = "zeros"
    transposed: bool = False
    kind: str = "conv"
    name: str = ""

    @property
    def dims(self) -> int:
        """Number of spatial dims (1, 2 or 3)."""
        return len(self.input_size)

    def _extent(self, n: int) -> int:
        """Dilated kernel extent of dim ``n`` in elements: (k - 1) * (dd + 1) + 1."""
        return (self.kernel_size[n] - 1) * (self.dilation[n] + 1) + 1

    def benchdnn_output_size(self) -> tuple[int, ...]:
        """Output size per dim as benchdnn has it (elements): the stated one, else benchdnn's
        ``(i - ext + 2p) / s + 1`` (C division) or, transposed, ``(i-1)*s + ext - 2p``."""
        out = []
        for n, o in enumerate(self.output_size):
            if o is None:
                i, s, p = self.input_size[n], self.stride[n], self.pad_before[n]
                if self.transposed:
                    o = (i - 1) * s + self._extent(n) - 2 * p
                else:
                    o = _c_div(i - self._extent(n) + 2 * p, s) + 1
            out.append(o)
        return tuple(out)

    def benchdnn_pad_after(self) -> tuple[int, ...]:
        """benchdnn's end padding per dim (elements; may be negative), from
        :meth:`benchdnn_output_size`. Conv: ``(o-1)*s - i + ext - p``; transposed:
        ``(i-1)*s - o + ext - p + op``."""
        out = []
        for n, o in enumerate(self.benchdnn_output_size()):
            i, s, p = self.input_size[n], self.stride[n], self.pad_before[n]
            if self.transposed:
                out.append((i - 1) * s - o + self._extent(n) - p + self.output_padding[n])
            else:
                out.append((o - 1) * s - i + self._extent(n) - p)
        return tuple(out)

    def _out(self, n: int, after: int, op: int) -> int:
        i, s, p = self.input_size[n], self.stride[n], self.pad_before[n]
        if self.transposed:
            return (i - 1) * s - p - after + self._extent(n) + op
        return (i + p + after - self._extent(n)) // s + 1

    def to_spec(self) -> ConvSpec:
        """The :class:`ConvSpec` this descriptor states, by the module's padding rule."""
        names = _DIMS[3 - self.dims :]
        padding, output_padding = [], []
        for n, o in enumerate(self.output_size):
            p, op, after = self.pad_before[n], self.output_padding[n], self.pad_after[n]
            limit = max(self.stride[n], self.dilation[n] + 1)  # output padding stays below
            if after is None and o is not None:
                derived = self.benchdnn_pad_after()[n]
                if derived == p:
                    after = p
                elif not self.transposed:
                    after = p if self._out(n, p, op) == o else max(derived, 0)
                elif op == 0 and 0 < p - derived < limit:
                    after, op = p, p - derived  # torch's form: symmetric plus output padding
                elif derived >= 0 or op:
                    after = max(derived, 0)
                else:
                    after, op = 0, -derived  # oneDNN's negative end padding
            elif after is None:
                after = p
            if o is not None and (self._out(n, after, op) != o or (op and op >= limit)):
                token = f"o{names[n]}{o}"
                raise _error(
                    token,
                    f"output size {o} does not follow from the other {names[n]} sizes "
                    f"(they give {self._out(n, after, op)} with padding ({p}, {after})"
                    + (f" and output padding {op})" if self.transposed else ")"),
                )
            padding.append((p, after))
            output_padding.append(op)
        return ConvSpec(
            in_channels=self.in_channels,
            out_channels=self.out_channels,
            input_size=self.input_size,
            kernel_size=self.kernel_size,
            stride=self.stride,
            padding=tuple(padding),
            dilation=tuple(d + 1 for d in self.dilation),
            groups=self.groups,
            bias=self.bias,
            batch=2 if self.batch is None else self.batch,
            padding_mode=self.padding_mode,
            transposed=self.transposed,
            output_padding=tuple(output_padding),
            kind=self.kind,
            name=self.name,
        )


def _tokens(text: str) -> tuple[dict, dict, dict, set, str]:
    """Split a descriptor into scalar values, per-dim values ({dim: {role: value}}), the token
    text of each value, keywords and the name."""
    body = _BODY.match(text).end()
    if body < len(text) and text[body] != "n":
        # Something that is no token: name it.
        if text[body] in "+-":
            prev = _LAST_NAME.search(text, 0, body)
            signed = _UNKNOWN.match(text, body).group()
            if prev is not None and len(signed) > 1:
                word = prev.group(1)
                why = "must be positive" if _LOW[word] == 1 else "must be >= 0"
                if signed[0] == "+":
                    why = "numbers are written without a sign"
                raise _error(word + signed, f"{word} {why}")
        bad = _UNKNOWN.match(text, body).group() or text[body]
        raise _error(bad, "unknown token")
    scalars: dict = {}
    per_dim: dict = {"d": {}, "h": {}, "w": {}}
    spelled: dict = {}
    keywords: set = set()
    for word, raw in _PAIR.findall(text, 0, body):
        if word in _KEYWORDS:
            if raw:
                raise _error(word + raw, f"unknown token ({word} takes no number)")
            if word in keywords:
                raise _error(word, "given twice")
            keywords.add(word)
            continue
        if not raw:
            raise _error(word, f"{word} needs a number")
        v = int(raw)
        if v < _LOW[word]:
            raise _error(word + raw, f"{word} must be positive")
        key = _NUMERIC[word]
        if key.__class__ is str:
            target, role = scalars, key
            if key == "bias" and v > 1:
                raise _error(word + raw, "bias must be 0 or 1")
        else:
            role, dim = key
            target = per_dim[dim]
        if role in target:
            raise _error(word + raw, f"{word} given twice")
        target[role] = v
        spelled[word] = word + raw
    name = _read_name(text, body + 1) if body < len(text) else ""
    return scalars, per_dim, spelled, keywords, name


def _given(values: dict) -> bool:
    """benchdnn's rule: a dim is given by any non-default value of its tokens."""
    if not values:
        return False
    get = values.get
    return bool(
        get("in") or get("out") or get("kernel") or get("dil") or get("op")
        or get("stride", 1) != 1 or get("pad", 0) > 0 or "pad_r" in values
    )


def read(text: str) -> Descriptor:
    """Read one descriptor (benchdnn's or convbench's) into a :class:`Descriptor`."""
    if not isinstance(text, str):
        raise ConvbenchError(f"descriptor: expected a string, got {text!r}")
    scalars, per_dim, spelled, keywords, name = _tokens(text.strip())
    if "in_channels" not in scalars:
        raise _error("ic", "missing")
    if "out_channels" not in scalars:
        raise _error("oc", "missing")
    has_d, has_h, has_w = _given(per_dim["d"]), _given(per_dim["h"]), _given(per_dim["w"])
    if has_d:
        if has_h != has_w:
            raise _error("iw" if has_h else "ih", "a 3D descriptor gives both h and w sizes or neither")
        rows = [per_dim["d"], per_dim["h"], per_dim["w"]] if has_h else [per_dim["d"]] * 3
        dims = "dhw" if has_h else "d"
    elif has_h:
        rows = [per_dim["h"], per_dim["w"] if has_w else per_dim["h"]]
        dims = "hw" if has_w else "h"
    elif has_w:
        rows = [per_dim["w"]]
        dims = "w"
    else:
        raise _error("id/ih/iw", "missing: the descriptor has no spatial size")
    for dim in dims:
        for role, prefix in (("in", "i"), ("kernel", "k")):
            if role not in per_dim[dim]:
                given = next((t for w, t in spelled.items() if w[-1] == dim and len(w) > 1), dim)
                raise _error(f"{prefix}{dim}", f"missing ({dim} is given by {given})")
    transposed = "deconv" in keywords
    names = _DIMS[3 - len(rows) :]
    inputs = tuple(r["in"] for r in rows)
    outputs = tuple(r.get("out") for r in rows)
    kernel = tuple(r["kernel"] for r in rows)
    stride = tuple(r.get("stride", 1) for r in rows)
    dil = tuple(r.get("dil", 0) for r in rows)
    pads = []
    for n, r in enumerate(rows):
        p = r.get("pad")
        if p is None:
            o = outputs[n]
            if o is None:
                p = 0
            else:
                ext = (kernel[n] - 1) * (dil[n] + 1) + 1
                if transposed:
                    num = (inputs[n] - 1) * stride[n] - o + ext
                else:
                    num = (o - 1) * stride[n] - inputs[n] + ext
                p = _c_div(num, 2)
                if p < 0:
                    raise _error(
                        f"o{names[n]}{o}",
                        f"output size {o} needs a negative padding ({p}) at the start",
                    )
        pads.append(p)
    mode, kind = "zeros", "conv"
    if keywords:
        modes = [k for k in _PADDING_MODES if k in keywords]
        kinds = [k for k in _KINDS if k in keywords]
        if len(modes) > 1:
            raise _error("_".join(modes), "choose one padding mode")
        if len(kinds) > 1:
            raise _error("_".join(kinds), "choose one kind")
        mode = modes[0] if modes else mode
        kind = kinds[0] if kinds else kind
    return Descriptor(
        groups=scalars.get("groups", 1),
        batch=scalars.get("batch"),
        in_channels=scalars["in_channels"],
        out_channels=scalars["out_channels"],
        input_size=inputs,
        output_size=outputs,
        kernel_size=kernel,
        stride=stride,
        pad_before=tuple(pads),
        pad_after=tuple(r.get("pad_r") for r in rows),
        dilation=dil,
        output_padding=tuple(r.get("op", 0) for r in rows),
        bias=bool(scalars.get("bias", 1)),
        padding_mode=mode,
        transposed=transposed,
        kind=kind,
        name=name,
    )


def parse(text: str) -> ConvSpec:
    """Parse one descriptor (convbench's or benchdnn's) into a :class:`ConvSpec`.

    The name is kept whole (a trailing ``*N`` count stays in it; see :func:`parse_entry`).
    Raises :class:`ConvbenchError` ``<token>: <why>`` on a malformed or impossible descriptor.
    """
    return read(text).to_spec()


def split_count(name: str) -> tuple[str, int]:
    """Split a trailing ``*N`` count off a layer name: ``"res2a*4"`` -> ``("res2a", 4)``."""
    m = _COUNT.match(name)
    if m is None:
        return name, 1
    count = int(m.group("count"))
    if count < 1:
        raise _error(f"*{m.group('count')}", "count must be positive")
    return m.group("name"), count


def parse_entry(text: str) -> tuple[ConvSpec, int]:
    """Parse a descriptor whose name may end in a count ``*N``; return (spec, count).

    ``n"resnet_50:res2a_branch1*4"`` gives the spec named ``resnet_50:res2a_branch1`` and 4.
    Without a count suffix the count is 1.
    """
    spec = parse(text)
    name, count = split_count(spec.name)
    if name != spec.name:
        spec = spec.with_(name=name)
    return spec, count


# ---- writing --------------------------------------------------------------------------------
def _groups_of(spec: ConvSpec) -> list[tuple]:
    return [
        (spec.input_size[n], spec.kernel_size[n], spec.stride[n], spec.padding[n][0],
         spec.padding[n][1], spec.dilation[n], spec.output_padding[n])
        for n in range(spec.dims)
    ]


def _printed_dims(spec: ConvSpec) -> tuple[str, ...]:
    """Which dims the canonical form writes (benchdnn's square/cubic shorthand)."""
    names = dim_names(spec.dims)
    groups = _groups_of(spec)
    if spec.dims == 2 and groups[0] == groups[1]:
        return ("h",)
    if spec.dims == 3 and groups[0] == groups[1] == groups[2]:
        return ("d",)
    return names


def format_spec(spec: ConvSpec) -> str:
    """The canonical convbench descriptor of ``spec`` (see the module docstring).

    ``parse(format_spec(spec)) == spec`` and the name round-trips too.
    """
    names = dim_names(spec.dims)
    printed = _printed_dims(spec)
    idx = {dim: names.index(dim) for dim in printed}
    parts = []
    if spec.groups != 1:
        parts.append(f"g{spec.groups}")
    parts.append(f"mb{spec.batch}ic{spec.in_channels}")
    parts += [f"i{d}{spec.input_size[idx[d]]}" for d in printed]
    parts.append(f"oc{spec.out_channels}")
    parts += [f"k{d}{spec.kernel_size[idx[d]]}" for d in printed]
    parts += [f"s{d}{spec.stride[idx[d]]}" for d in printed if spec.stride[idx[d]] != 1]
    parts += [f"p{d}{spec.padding[idx[d]][0]}" for d in printed if spec.padding[idx[d]][0]]
    parts += [
        f"r{d}{spec.padding[idx[d]][1]}"
        for d in printed
        if spec.padding[idx[d]][1] != spec.padding[idx[d]][0]
    ]
    parts += [f"d{d}{spec.dilation[idx[d]] - 1}" for d in printed if spec.dilation[idx[d]] != 1]
    parts += [f"op{d}{spec.output_padding[idx[d]]}" for d in printed if spec.output_padding[idx[d]]]
    extras = []
    if spec.transposed:
        extras.append("deconv")
    if spec.padding_mode != "zeros":
        extras.append(spec.padding_mode)
    if not spec.bias:
        extras.append("bias0")
    if spec.kind != "conv":
        extras.append(spec.kind)
    text = "".join(parts) + "".join("_" + e for e in extras)
    if spec.name:
        text += "n" + quote_name(spec.name)
    return text


def format_entry(spec: ConvSpec, count: int = 1) -> str:
    """The descriptor of ``spec`` with ``count`` in its name (``n"layer*6"``); the inverse of
    :func:`parse_entry`. A name that itself ends in ``*N`` gets an explicit ``*1``."""
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConvbenchError(f"count: must be a positive integer, got {count!r}")
    if count == 1 and _COUNT.match(spec.name) is None:
        return format_spec(spec)
    return format_spec(spec.with_(name=f"{spec.name}*{count}"))


def _effective_padding(spec: ConvSpec) -> tuple:
    """Padding as the computation sees it: a transposed conv's output padding only shortens
    the crop at the end, so (before, after - output_padding) says all."""
    return tuple((b, a - op) for (b, a), op in zip(spec.padding, spec.output_padding))


def format_benchdnn(spec: ConvSpec, count: int = 1) -> str:
    """The descriptor of ``spec`` as benchdnn's conv (or, when transposed, deconv) driver reads
    it: output sizes stated, padding implied by them, count in the name.

    Bias is not part of a benchdnn descriptor (it is the ``--dir``). Raises
    :class:`ConvbenchError` where benchdnn cannot state the spec: a padding mode other than
    zeros, a deformable conv, or an end padding that no stated output implies (e.g. padding
    (1, 0) at stride 2 where (1, 1) gives the same output). Characters benchdnn cannot keep in a
    name (whitespace, ``"``, ``#``, ``\\``) become ``_``.
    """
    if spec.padding_mode != "zeros":
        raise ConvbenchError(f"padding_mode: benchdnn has only zero padding, got {spec.padding_mode!r}")
    if spec.kind == "deformable":
        raise ConvbenchError("kind: benchdnn has no deformable convolution")
    names = dim_names(spec.dims)
    rows = [
        (spec.output_size[n], spec.input_size[n], spec.kernel_size[n], spec.stride[n],
         spec.padding[n][0], spec.dilation[n] - 1)
        for n in range(spec.dims)
    ]
    if spec.dims == 2 and rows[0] == rows[1]:
        printed = ("h",)
    elif spec.dims == 3 and rows[0] == rows[1] == rows[2]:
        printed = ("d",)
    else:
        printed = names
    idx = {dim: names.index(dim) for dim in printed}
    parts = []
    if spec.groups != 1:
        parts.append(f"g{spec.groups}")
    parts.append(f"mb{spec.batch}ic{spec.in_channels}")
    parts += [f"i{d}{rows[idx[d]][1]}" for d in printed]
    parts.append(f"oc{spec.out_channels}")
    parts += [f"o{d}{rows[idx[d]][0]}" for d in printed]
    parts += [f"k{d}{rows[idx[d]][2]}" for d in printed]
    if any(r[3] != 1 for r in rows):
        parts += [f"s{d}{rows[idx[d]][3]}" for d in printed]
    parts += [f"p{d}{rows[idx[d]][4]}" for d in printed]
    if any(r[5] for r in rows):
        parts += [f"d{d}{rows[idx[d]][5]}" for d in printed]
    core = "".join(parts)
    if not isinstance(count, int) or isinstance(count, bool) or count < 1:
        raise ConvbenchError(f"count: must be a positive integer, got {count!r}")
    label = spec.name if count == 1 and _COUNT.match(spec.name) is None else f"{spec.name}*{count}"
    name = 'n"' + re.sub(r'[\s"#\\]', "_", label) + '"' if label else ""
    back = read(core + ("_deconv" if spec.transposed else "")).to_spec()
    if _effective_padding(back) != _effective_padding(spec):
        raise ConvbenchError(
            f"padding: {spec.padding} cannot be stated to benchdnn (its output size "
            f"{spec.output_size} implies padding {back.padding}"
            + (f" and output padding {back.output_padding})" if spec.transposed else ")")
        )
    return core + name
