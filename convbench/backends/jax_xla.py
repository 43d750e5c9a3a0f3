"""The ``jax`` backend: ``jax.lax.conv_general_dilated`` compiled by XLA under ``jax.jit``.

What runs for each case (one compiled XLA program per kernel, built and called once in
``prepare``; compile time and the first call go to ``setup_s``):

* ``fwd``: ``lax.conv_general_dilated`` (+ bias). A transposed conv is the same call with
  ``lhs_dilation = stride``, the kernel flipped and its channel axes swapped per group (done on
  the host in ``prepare``, as a weight reorder), and padding ``d*(k-1) - p_lo`` before and
  ``d*(k-1) - p_hi + output_padding`` after (XLA takes negative padding), which is what
  ``lax.conv_transpose`` builds.
* ``dgrad`` / ``wgrad``: ``jax.vjp`` of that convolution alone, with respect to the input only /
  the weights only. The jitted function takes ``(w, dy)`` / ``(x, dy)``; the conv is linear, so
  its primal point is an in-graph zero that XLA removes and exactly one convolution is left
  (plus the weight flip that is part of JAX's dgrad). ``extra`` records the compiled HLO's
  counts (``hlo_convolutions``, ``hlo_dots``, ``hlo_fusions``) and its entry ops, so a row shows
  what the timed program contained; ``algorithm`` names the op that computes the conv in the
  optimized HLO, e.g. ``xla:ynn_fusion(convolution)`` (XLA:CPU's YNNPACK fusion),
  ``xla:convolution`` (XLA's own emitter), ``xla:cudnn$convForward`` (a cuDNN custom call) or
  ``xla:dot`` (a 1x1 conv turned into a matrix product).
* ``padding_mode`` other than ``zeros``: ``jnp.pad`` (reflect / edge / wrap) inside the jitted
  function, then the conv without padding; timed as a whole and named ``pad+xla:...``.
* Layouts: ``native`` and ``nhwc`` run channels-last (NWC / NHWC / NDHWC with WIO / HWIO /
  DHWIO weights, XLA's native layout); ``nchw`` runs channels-first (NC* with OI* weights,
  which XLA:CPU wraps in transposes around a channels-last conv: the HLO counts show them).
  Layout and dtype conversions happen in ``prepare``; ``result`` converts back on the host.
* Dtypes: fp32, fp16 and bf16 (the result in that dtype; XLA:CPU computes fp16/bf16 convs in
  f32 between converts, recorded as ``hlo_conv_type``); tf32 on CUDA only (precision
  ``DEFAULT``; fp32 on CUDA asks ``HIGHEST`` so TF32 is off, and ``extra`` says so); int8
  forward with int32 accumulation through ``preferred_element_type`` on the CPU. XLA:GPU
  cannot lower an s32-accumulating int8 conv to cuDNN, so on CUDA int8 accumulates in f32
  (exact while every partial sum stays below 2**24 in magnitude; ``extra`` records the
  accumulator and whether the inputs' bound guarantees exactness). A grouped int8 conv whose
  channels per group are not multiples of 4 is refused on CUDA: XLA:GPU pads them for cuDNN and
  got the results wrong (:func:`cuda_int8_reason`). int8 has no dgrad/wgrad
  (integer convs are not differentiable in JAX) and int4 is refused by XLA: both are
  ``unsupported`` with the reason.
* Timing: ``run`` dispatches the compiled program on device-resident inputs and keeps the
  output; ``synchronize`` is ``block_until_ready`` on it. Timers: CPU ``wall``, ``wall-batch``;
  CUDA ``wall-batch`` first (per-call dispatch, about 50 us, would otherwise dominate small
  convs; CUDA events do not see JAX's streams).
* Threads: XLA:CPU has no thread-count setting; the worker's CPU affinity bounds it.
  ``extra["threads"]`` says so and ``extra["cpu_affinity"]`` counts the CPUs allowed.
* GPU memory: ``XLA_PYTHON_CLIENT_PREALLOCATE=false`` must be in the environment before JAX
  creates its GPU client, or it takes most of the device memory at start. The harness worker
  sets it before importing any framework; this module also sets it (``setdefault``) before its
  own ``import jax``.

The HLO reader (:func:`hlo_summary`) is plain text parsing with no JAX import, shared with the
``tf-xla`` backend.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

import numpy as np

from convbench.backends.base import LAYOUTS, Case, Inputs
from convbench.errors import ConvbenchError

#: Dtypes with a kernel here (tf32 only on CUDA; int8 forward only).
_FLOAT_DTYPES = ("fp32", "tf32", "fp16", "bf16")
#: numpy.pad modes for convbench's padding modes (also jnp.pad's names).
PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}
_SPATIAL = {1: "W", 2: "HW", 3: "DHW"}
_LAYOUT_NAMES = {
    ("last", 1): "nwc", ("last", 2): "nhwc", ("last", 3): "ndhwc",
    ("first", 1): "ncw", ("first", 2): "nchw", ("first", 3): "ncdhw",
}
_INSTALL_HINT = "jax is not installed (pip install 'convbench[jax]')"


# ---- pure geometry, shared with the tf-xla backend --------------------------------------

def numpy_dtype(dtype: str):
    """The host numpy dtype holding convbench ``dtype`` (bf16 via ml_dtypes)."""
    if dtype in ("fp32", "tf32"):
        return np.float32
    if dtype == "fp16":
        return np.float16
    if dtype == "bf16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    if dtype == "int8":
        return np.int8
    raise ConvbenchError(f"dtype: {dtype!r} has no host representation here")


def channels_last(case: Case) -> bool:
    """True when the case runs channels-last (``native`` and ``nhwc`` for XLA)."""
    return case.layout in ("native", "nhwc")


def layout_name(spec_dims: int, last: bool) -> str:
    """What ran, by name: ``nhwc``/``nchw`` for 2D, ``nwc``/``ncw``, ``ndhwc``/``ncdhw``."""
    return _LAYOUT_NAMES[("last" if last else "first", spec_dims)]


def data_perm(dims: int, last: bool) -> tuple[int, ...]:
    """Axis order taking a canonical (N, C, *spatial) array to the run layout."""
    return (0, *range(2, dims + 2), 1) if last else tuple(range(dims + 2))


def weight_perm(dims: int, last: bool) -> tuple[int, ...]:
    """Axis order taking an (O, I, *k) weight to the run layout (*k, I, O) or (O, I, *k)."""
    return (*range(2, dims + 2), 1, 0) if last else tuple(range(dims + 2))


def inverse_perm(perm: tuple[int, ...]) -> tuple[int, ...]:
    """The permutation undoing ``perm``."""
    return tuple(int(i) for i in np.argsort(perm))


def direct_weight(spec, w: np.ndarray) -> np.ndarray:
    """Weights of the direct conv that computes ``spec``, as (out, in/groups, *k).

    A regular conv's weight is returned as it is. A transposed conv's (in, out/groups, *k)
    weight becomes the lhs-dilated direct conv's: per group the channel axes swap and the
    kernel is flipped in every spatial dim.
    """
    if not spec.transposed:
        return w
    g, cin, cout = spec.groups, spec.in_channels, spec.out_channels
    k = tuple(w.shape[2:])
    v = w.reshape(g, cin // g, cout // g, *k).swapaxes(1, 2).reshape(cout, cin // g, *k)
    return np.flip(v, axis=tuple(range(2, 2 + spec.dims)))


def undirect_weight(spec, v: np.ndarray) -> np.ndarray:
    """Inverse of :func:`direct_weight`: a direct-conv (out, in/groups, *k) array (a weight or
    its gradient) back to ``spec.weight_shape`` (a permutation, so gradients map the same way)."""
    if not spec.transposed:
        return v
    g, cin, cout = spec.groups, spec.in_channels, spec.out_channels
    k = tuple(v.shape[2:])
    v = np.flip(v, axis=tuple(range(2, 2 + spec.dims)))
    return v.reshape(g, cout // g, cin // g, *k).swapaxes(1, 2).reshape(cin, cout // g, *k)


@dataclass(frozen=True)
class XlaConv:
    """A convbench spec as one XLA convolution (per spatial dim tuples).

    ``padding`` holds (low, high) pairs given to the conv itself (negative for a transposed
    conv whose padding exceeds ``dilation*(kernel-1)``); ``pre_pad`` the pairs of an explicit
    pad op in ``pre_pad_mode`` (numpy's name) before it, or None.
    """

    window_strides: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    lhs_dilation: tuple[int, ...]
    rhs_dilation: tuple[int, ...]
    feature_group_count: int
    pre_pad: tuple[tuple[int, int], ...] | None
    pre_pad_mode: str | None


def xla_conv(spec) -> XlaConv:
    """The XLA convolution that computes ``spec``'s forward pass (see the module docstring)."""
    dims = spec.dims
    if spec.transposed:
        pads = tuple(
            (d * (k - 1) - lo, d * (k - 1) - hi + op)
            for (lo, hi), k, d, op in zip(spec.padding, spec.kernel_size, spec.dilation, spec.output_padding)
        )
        return XlaConv((1,) * dims, pads, tuple(spec.stride), tuple(spec.dilation), spec.groups, None, None)
    if spec.padding_mode != "zeros":
        return XlaConv(tuple(spec.stride), ((0, 0),) * dims, (1,) * dims, tuple(spec.dilation), spec.groups,
                       tuple(spec.padding), PAD_MODES[spec.padding_mode])
    return XlaConv(tuple(spec.stride), tuple(spec.padding), (1,) * dims, tuple(spec.dilation), spec.groups,
                   None, None)


def to_layout(a: np.ndarray, perm: tuple[int, ...], dtype) -> np.ndarray:
    """Canonical float64 array -> contiguous array in the run layout and dtype."""
    return np.ascontiguousarray(np.transpose(a, perm).astype(dtype))


def host_result(a, perm: tuple[int, ...]) -> np.ndarray:
    """A device result (any layout given by ``perm``) as a canonical host array: float32 for
    floating types (bf16/fp16 widen exactly), int32/int64 kept for integers."""
    h = np.asarray(a)
    if not np.issubdtype(h.dtype, np.integer):
        h = h.astype(np.float32)
    return np.ascontiguousarray(np.transpose(h, inverse_perm(perm)))


def partial_sum_bound(spec, inputs: Inputs) -> float:
    """An upper bound on |any partial sum| of the forward conv: max|x| times the largest sum of
    |w| over one output channel's taps (in the direct form), plus max|b|. An f32 accumulator is
    exact for integer inputs while this stays at or below 2**24."""
    v = np.abs(direct_weight(spec, inputs.w)).reshape(spec.out_channels, -1).sum(axis=1)
    bias = float(np.abs(inputs.b).max(initial=0.0)) if inputs.b is not None and spec.bias else 0.0
    return float(np.abs(inputs.x).max(initial=0.0) * v.max(initial=0.0)) + bias


def cuda_int8_reason(spec) -> str | None:
    """Why XLA:GPU cannot run this int8 conv correctly, or None.

    cuDNN's int8 convs need channel counts that are multiples of 4; XLA:GPU pads the channels
    to get them, and for a grouped conv whose channels per group are not multiples of 4 that
    padding gave wrong results (measured: jax 0.11.2, CUDA 13, H200; ungrouped convs with
    padded channels were exact). Shared with the tf-xla backend, whose int8 path is the same
    XLA convolution.
    """
    g = spec.groups
    per_group = (spec.in_channels // g, spec.out_channels // g)
    if g > 1 and any(c % 4 for c in per_group):
        return (f"int8 on CUDA: XLA:GPU pads a grouped int8 conv's channels per group ({per_group[0]} in, "
                f"{per_group[1]} out) to multiples of 4 for cuDNN and gives wrong results (measured, jax 0.11.2)")
    return None


def cpu_affinity() -> int:
    """CPUs this process may run on (the bound on XLA:CPU's threads)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# ---- compiled HLO ------------------------------------------------------------------------

_COMP_RE = re.compile(r"^\s*(ENTRY\s+)?%?([\w.\-]+)\s+\(.*\)\s*->\s*.*\{\s*$")
_INSTR_RE = re.compile(r"^\s*(ROOT\s+)?%?([\w.\-]+)\s*=\s*(\([^=]*?\)|\S+)\s+([a-z][\w\-]*)\((.*)$")
_CALLS_RE = re.compile(r"\b(?:calls|to_apply)=%?([\w.\-]+)")
_FUSION_KIND_RE = re.compile(r'"fusion_config":\{[^}]*"kind":"([^"]+)"')
_TARGET_RE = re.compile(r'custom_call_target="([^"]+)"')
_LABELS_RE = re.compile(r"dim_labels=([\w>\-]+)")
_PLUMBING = {"parameter", "constant", "bitcast", "tuple", "get-tuple-element", "copy-start", "copy-done"}


@dataclass(frozen=True)
class HloSummary:
    """What an optimized HLO module computes, read from its text.

    ``convolutions``: convolution ops plus convolution custom calls (cuDNN); ``dots``: dot ops
    and GEMM custom calls; ``fusions``: fusion instructions in the entry computation;
    ``entry_ops``: the entry computation's ops that do work (fusions by name, others by
    opcode), in order; ``compute_kind``: the op computing the first conv or dot, wrapped in its
    custom fusion's kind, e.g. ``ynn_fusion(convolution)``; ``conv_type``: that op's element
    type (``f32``, ``s32``, ...); ``dim_labels``: its dimension labels.
    """

    convolutions: int
    dots: int
    fusions: int
    entry_ops: tuple[str, ...]
    compute_kind: str
    conv_type: str
    dim_labels: str

    def as_extra(self) -> dict[str, object]:
        """The row's ``extra`` entries (``hlo_*`` keys; scalars only)."""
        return {
            "hlo_convolutions": self.convolutions,
            "hlo_dots": self.dots,
            "hlo_fusions": self.fusions,
            "hlo_entry_ops": ",".join(self.entry_ops),
            "hlo_compute": self.compute_kind,
            "hlo_conv_type": self.conv_type,
            "hlo_dim_labels": self.dim_labels,
        }


def _compute_op(opcode: str, rest: str) -> tuple[str, str] | None:
    """('conv' | 'dot', name) when an instruction computes a conv or a matrix product."""
    if opcode == "convolution":
        return "conv", "convolution"
    if opcode == "dot":
        return "dot", "dot"
    if opcode == "custom-call":
        m = _TARGET_RE.search(rest)
        target = m.group(1).lstrip("_") if m else "custom-call"
        low = target.lower()
        if "conv" in low:
            return "conv", target
        if "gemm" in low or "matmul" in low or "dot" in low:
            return "dot", target
    return None


def hlo_summary(text: str) -> HloSummary:
    """Read an optimized HLO module's text (``Compiled.as_text()`` in JAX,
    ``experimental_get_compiler_ir(...)(stage="optimized_hlo")`` in TF) into a summary."""
    caller: dict[str, tuple[str, str, str]] = {}  # computation -> (caller's opcode, custom kind, computation)
    computes: list[tuple[str, str, str, str, str]] = []  # (class, name, computation, type, labels)
    entry_ops: list[str] = []
    fusions = 0
    comp = ""
    entry = False
    for line in text.splitlines():
        m = _COMP_RE.match(line)
        if m:
            entry, comp = bool(m.group(1)), m.group(2)
            continue
        m = _INSTR_RE.match(line)
        if not m:
            continue
        name, type_, opcode, rest = m.group(2), m.group(3), m.group(4), m.group(5)
        for called in _CALLS_RE.findall(rest):
            kind = _FUSION_KIND_RE.search(rest)
            caller[called] = (opcode, kind.group(1).strip("_") if kind else "", comp)
        op = _compute_op(opcode, rest)
        if op:
            labels = _LABELS_RE.search(rest)
            elem = type_.lstrip("(").split("[", 1)[0]
            computes.append((op[0], op[1], comp, elem, labels.group(1) if labels else ""))
        if entry and opcode not in _PLUMBING:
            if opcode == "fusion":
                fusions += 1
                kind = _FUSION_KIND_RE.search(rest)
                entry_ops.append(kind.group(1).strip("_") if kind else re.sub(r"\.\d+$", "", name))
            else:
                entry_ops.append(opcode)
    compute_kind, conv_type, dim_labels = "none", "", ""
    if computes:
        cls, op_name, where, conv_type, dim_labels = next(
            (c for c in computes if c[0] == "conv"), computes[0]
        )
        compute_kind = op_name
        seen = set()
        while where in caller and where not in seen:  # wrap in custom fusions, innermost first
            seen.add(where)
            opcode, kind, where = caller[where]
            if opcode == "fusion" and kind:
                compute_kind = f"{kind}({compute_kind})"
    return HloSummary(
        convolutions=sum(1 for c in computes if c[0] == "conv"),
        dots=sum(1 for c in computes if c[0] == "dot"),
        fusions=fusions,
        entry_ops=tuple(entry_ops),
        compute_kind=compute_kind,
        conv_type=conv_type,
        dim_labels=dim_labels,
    )


# ---- the backend -------------------------------------------------------------------------

def _import_jax():
    """Import jax after making sure its GPU client will not preallocate device memory."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    return jax


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _jax_devices(jax) -> dict[str, object]:
    """convbench device name -> jax device: ``cpu`` and ``cuda:i`` (``rocm:i`` on ROCm)."""
    found: dict[str, object] = {"cpu": jax.devices("cpu")[0]}
    try:
        gpus = jax.devices("gpu")
    except RuntimeError:  # no GPU platform in this jaxlib
        gpus = []
    for i, d in enumerate(gpus):
        version = str(getattr(d.client, "platform_version", "")).lower()
        found[f"{'rocm' if 'rocm' in version else 'cuda'}:{i}"] = d
    return found


class JaxKernel:
    """A compiled JAX program holding exactly one convolution, with its device-resident
    arguments. ``run`` dispatches it and keeps the output; ``synchronize`` blocks on it."""

    def __init__(self, *, program, args, first_out, to_host, algorithm: str, layout: str,
                 setup_s: float, extra: dict, timers: tuple[str, ...]) -> None:
        self._program = program
        self._args = args
        self._out = first_out
        self._to_host = to_host
        self._timers = timers
        self.algorithm = algorithm  # e.g. "xla:ynn_fusion(convolution)"
        self.layout = layout  # "nhwc", "nchw", "ndhwc", ...
        self.setup_s = setup_s  # seconds: transfers, layout/dtype conversion, compile, first call
        self.extra = extra

    def run(self) -> None:
        """Dispatch the compiled program once (asynchronous)."""
        self._out = self._program(*self._args)

    def synchronize(self) -> None:
        """Block until the last dispatched program has finished."""
        self._out.block_until_ready()

    def result(self) -> np.ndarray:
        """The last output on the host, canonical channels-first layout."""
        return self._to_host(self._out)

    def timers(self) -> list[str]:
        """CPU: ``wall`` then ``wall-batch``; GPU: ``wall-batch`` first (dispatch-bound)."""
        return list(self._timers)

    def close(self) -> None:
        """Drop the device buffers and the program."""
        self._program = self._args = self._out = None


class JaxBackend:
    """convbench's ``jax`` backend (see the module docstring)."""

    name = "jax"

    def unavailable_reason(self) -> str | None:
        """Cheap (no import: the main process asks it of every backend, and importing jax
        there could claim the GPU). A broken install shows up as the worker's error rows."""
        import importlib.util

        if importlib.util.find_spec("jax") is None or importlib.util.find_spec("jaxlib") is None:
            return _INSTALL_HINT
        return None

    def versions(self) -> dict[str, str]:
        """jax, jaxlib, XLA's platform and its version string, and any jax GPU plugin."""
        from importlib import metadata

        jax = _import_jax()
        import jaxlib
        from jax.extend import backend as jax_backend

        out = {"jax": jax.__version__, "jaxlib": jaxlib.__version__}
        be = jax_backend.get_backend()
        out["xla_platform"] = be.platform
        out["xla_platform_version"] = " ".join(str(be.platform_version).split())
        for dist in metadata.distributions():
            name = (dist.metadata["Name"] or "").lower().replace("_", "-")
            if name.startswith(("jax-cuda", "jax-rocm", "jaxlib-cuda")):
                out[name] = dist.version
        return out

    def devices(self) -> list[str]:
        return list(_jax_devices(_import_jax()))

    def algorithms(self, case: Case) -> list[str]:
        """XLA picks the kernel itself: one algorithm, ``default``."""
        return ["default"]

    def unsupported_reason(self, case: Case) -> str | None:
        reason = self.unavailable_reason()
        if reason:
            return reason
        spec = case.spec
        if case.algorithm != "default":
            return f"algorithm {case.algorithm!r}: jax runs XLA's own choice only ('default')"
        if case.layout not in LAYOUTS:
            return f"layout {case.layout!r}: jax runs {', '.join(LAYOUTS)}"
        if spec.kind == "deformable":
            return "XLA has no deformable convolution"
        if case.direction not in ("fwd", "dgrad", "wgrad"):
            return f"direction {case.direction!r} is not fwd, dgrad or wgrad"
        gpu = case.device_kind != "cpu"
        if case.dtype == "tf32" and not gpu:
            return "tf32 is a CUDA tensor-core mode"
        if case.dtype == "int4":
            return "int4: XLA's CPU and GPU compilers reject int4 convolution operands"
        if case.dtype not in _FLOAT_DTYPES and case.dtype != "int8":
            return f"dtype {case.dtype!r} is not run by the jax backend"
        if case.dtype == "int8" and case.direction != "fwd":
            return f"int8 {case.direction}: integer convolutions are not differentiable in JAX (inference only)"
        if case.dtype == "int8" and case.device_kind == "cuda":
            reason = cuda_int8_reason(spec)
            if reason:
                return reason
        devices = self.devices()
        if case.device not in devices:
            return f"device {case.device!r} is not visible to jax here (it sees: {', '.join(devices)})"
        return None

    def prepare(self, case: Case, inputs: Inputs) -> JaxKernel:
        reason = self.unsupported_reason(case)
        if reason:
            raise ConvbenchError(f"case: jax cannot run it: {reason}")
        t0 = time.perf_counter()
        jax = _import_jax()
        import jax.numpy as jnp
        from jax import lax

        spec = case.spec
        dims, last = spec.dims, channels_last(case)
        device = _jax_devices(jax)[case.device]
        gpu = case.device_kind != "cpu"
        geo = xla_conv(spec)
        dt = numpy_dtype(case.dtype)
        dperm, wperm = data_perm(dims, last), weight_perm(dims, last)
        s = _SPATIAL[dims]
        dn = (f"N{s}C", f"{s}IO", f"N{s}C") if last else (f"NC{s}", f"OI{s}", f"NC{s}")
        extra: dict[str, object] = {"platform": device.platform}
        preferred = None
        bias_dt = dt
        if case.dtype == "int8":
            preferred = jnp.float32 if gpu else jnp.int32
            bias_dt = np.float32 if gpu else np.int32
            extra["accumulator"] = "f32" if gpu else "s32"
            if gpu:
                bound = partial_sum_bound(spec, inputs)
                extra["accumulator_note"] = ("XLA:GPU cannot lower an s32-accumulating int8 conv to cuDNN; "
                                             "f32 accumulation is exact while partial sums stay within 2**24")
                extra["partial_sum_bound"] = bound
                extra["f32_accumulator_exact"] = bool(bound <= 2**24)
        precision = None
        if gpu and case.dtype in ("fp32", "tf32"):
            precision = lax.Precision.HIGHEST if case.dtype == "fp32" else lax.Precision.DEFAULT
            extra["precision"] = "HIGHEST" if case.dtype == "fp32" else "DEFAULT"
            extra["tf32"] = case.dtype == "tf32"
        if gpu:
            extra["preallocate"] = os.environ.get("XLA_PYTHON_CLIENT_PREALLOCATE", "")
        else:
            extra["threads"] = "unknown: XLA:CPU has no thread setting; CPU affinity bounds it"
            extra["cpu_affinity"] = cpu_affinity()
        spatial_axes = range(1, dims + 1) if last else range(2, dims + 2)

        def conv(x, w):
            if geo.pre_pad is not None:
                widths = [(0, 0)] * (dims + 2)
                for axis, pair in zip(spatial_axes, geo.pre_pad):
                    widths[axis] = pair
                x = jnp.pad(x, widths, mode=geo.pre_pad_mode)
            return lax.conv_general_dilated(
                x, w, geo.window_strides, geo.padding, lhs_dilation=geo.lhs_dilation,
                rhs_dilation=geo.rhs_dilation, dimension_numbers=dn,
                feature_group_count=geo.feature_group_count, precision=precision,
                preferred_element_type=preferred,
            )

        x_h = to_layout(inputs.x, dperm, dt)
        w_h = to_layout(direct_weight(spec, inputs.w), wperm, dt)
        if case.direction == "fwd":
            if spec.bias:
                bshape = (spec.out_channels,) if last else (spec.out_channels,) + (1,) * dims
                host_args = (x_h, w_h, inputs.b.astype(bias_dt).reshape(bshape))

                def fn(x, w, b):
                    return conv(x, w) + b
            else:
                host_args = (x_h, w_h)
                fn = conv

            def to_host(a):
                return host_result(a, dperm)
        elif case.direction == "dgrad":
            host_args = (w_h, to_layout(inputs.dy, dperm, dt))
            x_shape = x_h.shape

            def fn(w, dy):
                _, pull = jax.vjp(lambda x: conv(x, w), jnp.zeros(x_shape, dt))
                return pull(dy)[0]

            def to_host(a):
                return host_result(a, dperm)
        else:
            host_args = (x_h, to_layout(inputs.dy, dperm, dt))
            w_shape = w_h.shape

            def fn(x, dy):
                _, pull = jax.vjp(lambda w: conv(x, w), jnp.zeros(w_shape, dt))
                return pull(dy)[0]

            def to_host(a):
                return np.ascontiguousarray(undirect_weight(spec, host_result(a, wperm)))

        args = tuple(jax.device_put(a, device) for a in host_args)
        program = jax.jit(fn).lower(*args).compile()
        out = program(*args)
        out.block_until_ready()
        setup_s = time.perf_counter() - t0

        summary = hlo_summary(program.as_text())
        extra.update(summary.as_extra())
        cost = program.cost_analysis()
        if isinstance(cost, (list, tuple)):
            cost = cost[0] if cost else {}
        if cost and "flops" in cost:
            extra["hlo_flops"] = float(cost["flops"])
        if spec.transposed:
            extra["transposed_as"] = "lhs-dilated conv with a flipped kernel (lax.conv_transpose's form)"
        algorithm = ("pad+" if geo.pre_pad is not None else "") + "xla:" + summary.compute_kind
        return JaxKernel(
            program=program, args=args, first_out=out, to_host=to_host, algorithm=algorithm,
            layout=layout_name(dims, last), setup_s=setup_s, extra=extra,
            timers=("wall-batch", "wall") if gpu else ("wall", "wall-batch"),
        )
