"""The ``tf-xla`` backend: TensorFlow's convolution ops compiled by XLA (``jit_compile=True``).

Every case is one ``tf.function(jit_compile=True)`` around one TensorFlow convolution op,
traced, compiled and called once in ``prepare`` (that cost is ``setup_s``). A convbench conv is
written as a *direct* conv D (input u, filter F, output v) and each direction is one TF op on D:

=========================  ====================================  ====================================
case                       regular conv (u = x, v = y)           transposed conv (u = y, v = x)
=========================  ====================================  ====================================
``fwd``                    ``Conv2D`` / ``Conv3D`` (+ bias)      ``Conv2DBackpropInput`` /
                                                                 ``Conv3DBackpropInputV2`` (+ bias),
                                                                 what ``tf.nn.conv_transpose`` runs
``dgrad``                  ``Conv2DBackpropInput`` /             ``Conv2D`` / ``Conv3D``
                           ``Conv3DBackpropInputV2``
``wgrad``                  ``Conv2DBackpropFilter`` /            ``Conv2DBackpropFilter`` /
                           ``Conv3DBackpropFilterV2``            ``Conv3DBackpropFilterV2``
=========================  ====================================  ====================================

(``tf.nn.convolution`` / ``tf.nn.conv2d`` / ``tf.nn.conv3d`` are thin wrappers over the same
raw ops.) TF's 2D ops take explicit (low, high) padding; 1D convs run as 2D convs with a unit
height (``extra["tf_op"]`` says so). TF's 3D ops take only ``SAME`` or ``VALID``: a 3D padding
that is neither, a ``padding_mode`` other than zeros (a gather that builds the reflect /
replicate / circular border), and a transposed conv whose padding is smaller than its output
padding (the direct conv's high padding is negative: a crop) add an explicit pad or crop op
inside the same compiled function, before the TF op (or its adjoint after
``...BackpropInput``). Such rows are named ``pad+xla:...``, and the pad is part of the timed op.

Groups and depthwise convs are TF's grouped convolution (filter in-depth = in_channels /
groups), which XLA compiles to ``feature_group_count``. Layouts: ``native`` and ``nhwc`` run
channels-last (``NHWC`` / ``NDHWC``), ``nchw`` runs channels-first (``NCHW`` / ``NCDHW``;
XLA:CPU wraps such convs in transposes, which the HLO counts show). Filters are always TF's
(*k, in/groups, out).

Dtypes: fp32, fp16, bf16 (XLA:CPU computes fp16/bf16 convs in f32 between converts:
``hlo_conv_type``); tf32 only on CUDA (``enable_tensor_float_32_execution``, recorded as
``extra["tf32"]``; fp32 on CUDA turns it off). TF's conv ops reject int8, so int8 forward runs
tf2xla's ``xla.conv`` (XlaConvV2) on int8 operands with ``preferred_element_type`` int32 on
the CPU, exact; on CUDA, XLA cannot lower an s32-accumulating int8 conv to cuDNN, so there it
accumulates in f32 (exact while partial sums stay within 2**24; ``extra`` says which), and a
grouped int8 conv with channels per group not a multiple of 4 is refused there, as in the jax
backend. int8 has no dgrad/wgrad (TF has no integer conv gradients) and TF has no int4 conv:
both ``unsupported``. The CUDA paths follow the jax backend's measured behaviour but have not
been run with TensorFlow on a GPU.

``algorithm`` names the op that computes the conv in the optimized HLO
(``xla:convolution`` on XLA:CPU in TF, ``xla:cudnn$convForward`` and so on with cuDNN) and
``extra`` carries the HLO counts (see :func:`convbench.backends.jax_xla.hlo_summary`).

Timing: ``run`` calls the compiled function on device-resident tensors. On the CPU TF's
executor is synchronous, so the output is complete when ``run`` returns and ``synchronize``
has nothing to wait for; on a GPU ``synchronize`` is ``tf.test.experimental.sync_devices()``.
Timers: CPU ``wall``, ``wall-batch``; CUDA ``wall-batch`` first. TF's per-call dispatch of a
compiled function is itself a few hundred microseconds on a small CPU and is in every figure.

GPU memory: ``TF_FORCE_GPU_ALLOW_GROWTH=true`` (set by the harness worker before any import,
and here with ``setdefault`` before ``import tensorflow``) plus ``set_memory_growth`` on each
GPU while TF is still uninitialised. ``import tensorflow`` also imports jax when it is
installed; both backends import independently and together.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

import numpy as np

from convbench.backends.base import LAYOUTS, Case, Inputs
from convbench.backends.jax_xla import (
    PAD_MODES,
    channels_last,
    cpu_affinity,
    cuda_int8_reason,
    direct_weight,
    hlo_summary,
    host_result,
    inverse_perm,
    layout_name,
    numpy_dtype,
    partial_sum_bound,
    xla_conv,
)
from convbench.errors import ConvbenchError

_INSTALL_HINT = "tensorflow is not installed (pip install 'convbench[tf]')"
_FLOAT_DTYPES = ("fp32", "tf32", "fp16", "bf16")


# ---- pure geometry ---------------------------------------------------------------------

@dataclass(frozen=True)
class TfPlan:
    """How one case runs as TF ops (pure data; see :func:`tf_plan`). Spatial tuples are per
    TF spatial dim (a 1D conv has two: a unit height, then its width).

    ``op``: the timed op on the direct conv D, ``conv`` (u -> v), ``input_grad`` (dv -> du)
    or ``filter_grad`` ((u, dv) -> dF); ``tf_op`` its TF name. ``u_size`` is D's input size,
    ``crop`` the elements cut from u's end before the op (negative high padding), ``pre_pad``
    the (low, high) explicit pad of u after the crop in ``pre_mode`` (``constant`` or a
    convbench padding mode), or None; ``padding`` is the TF op's padding argument
    (``VALID``, ``SAME`` or ``EXPLICIT`` with ``explicit`` pairs).
    """

    op: str
    tf_op: str
    rank: int
    u_size: tuple[int, ...]
    kernel: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    crop: tuple[int, ...]
    pre_pad: tuple[tuple[int, int], ...] | None
    pre_mode: str | None
    padding: str
    explicit: tuple[tuple[int, int], ...]

    @property
    def needs_pad_op(self) -> bool:
        """True when an explicit pad or crop runs beside the TF conv op."""
        return self.pre_pad is not None or any(self.crop)

    @property
    def u_op_size(self) -> tuple[int, ...]:
        """D's input size as the TF op sees it (after crop and pad)."""
        pads = self.pre_pad or ((0, 0),) * len(self.u_size)
        return tuple(n - c + lo + hi for n, c, (lo, hi) in zip(self.u_size, self.crop, pads))


def _same_pads(size: int, stride: int, k_eff: int) -> tuple[int, int]:
    """TF's SAME padding for one dim: out = ceil(size / stride), the odd element at the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


_OPS = {
    (False, "fwd"): "conv", (False, "dgrad"): "input_grad", (False, "wgrad"): "filter_grad",
    (True, "fwd"): "input_grad", (True, "dgrad"): "conv", (True, "wgrad"): "filter_grad",
}
_TF_OPS = {
    (2, "conv"): "Conv2D", (2, "input_grad"): "Conv2DBackpropInput", (2, "filter_grad"): "Conv2DBackpropFilter",
    (3, "conv"): "Conv3D", (3, "input_grad"): "Conv3DBackpropInputV2", (3, "filter_grad"): "Conv3DBackpropFilterV2",
}


def tf_plan(spec, direction: str) -> TfPlan:
    """The TF op and padding steps computing ``spec`` in ``direction`` (see module docstring)."""
    if spec.transposed:
        u_size = spec.output_size
        pads = [(lo, hi - op) for (lo, hi), op in zip(spec.padding, spec.output_padding)]
    else:
        u_size = spec.input_size
        pads = [tuple(p) for p in spec.padding]
    kernel, strides, dilations = list(spec.kernel_size), list(spec.stride), list(spec.dilation)
    u = list(u_size)
    if spec.dims == 1:  # a 2D conv with a unit height
        u, kernel, strides, dilations, pads = [1] + u, [1] + kernel, [1] + strides, [1] + dilations, [(0, 0)] + pads
    rank = len(u)
    op = _OPS[(spec.transposed, direction)]
    crop = tuple(max(-hi, 0) for _, hi in pads)
    pads = [(lo, max(hi, 0)) for lo, hi in pads]
    cropped = [n - c for n, c in zip(u, crop)]
    pre_pad, pre_mode, padding, explicit = None, None, "EXPLICIT", tuple(pads)
    if spec.padding_mode != "zeros":
        pre_pad, pre_mode, padding, explicit = tuple(pads), spec.padding_mode, "VALID", ((0, 0),) * rank
    elif rank == 3:
        k_eff = [d * (k - 1) + 1 for k, d in zip(kernel, dilations)]
        if all(p == (0, 0) for p in pads):
            padding = "VALID"
        elif all(_same_pads(n, s, k) == p for n, s, k, p in zip(cropped, strides, k_eff, pads)):
            padding = "SAME"
        else:
            pre_pad, pre_mode, padding = tuple(pads), "constant", "VALID"
        explicit = ((0, 0),) * rank
    return TfPlan(op, _TF_OPS[(rank, op)], rank, tuple(u), tuple(kernel), tuple(strides), tuple(dilations),
                  crop, pre_pad, pre_mode, padding, explicit)


def tf_filter(spec, w: np.ndarray) -> np.ndarray:
    """Canonical weight -> TF filter of D, (*k, in/groups, out) with D's in and out; a 1D
    kernel gets a unit height. Regular: (O, I/g, *k); transposed: (Cin, Cout/g, *k) is D's
    (out, in/g, *k) already (D maps y's Cout channels to x's Cin)."""
    f = np.transpose(w, (*range(2, w.ndim), 1, 0))
    return f[None] if spec.dims == 1 else f


def untf_filter(spec, f: np.ndarray) -> np.ndarray:
    """Inverse of :func:`tf_filter` (a filter gradient back to ``spec.weight_shape``)."""
    if spec.dims == 1:
        f = f[0]
    return np.ascontiguousarray(np.transpose(f, (f.ndim - 1, f.ndim - 2, *range(f.ndim - 2))))


def tf_data_perm(dims: int, last: bool) -> tuple[int, ...]:
    """Canonical (N, C, *spatial) -> TF layout axis order (before a 1D unit dim is added)."""
    return (0, *range(2, dims + 2), 1) if last else tuple(range(dims + 2))


def to_tf_data(a: np.ndarray, dims: int, last: bool, dtype) -> np.ndarray:
    """Canonical activations -> TF layout and dtype; 1D gets its unit height."""
    t = np.transpose(a, tf_data_perm(dims, last)).astype(dtype)
    if dims == 1:
        t = t[:, None] if last else t[:, :, None]
    return np.ascontiguousarray(t)


def from_tf_data(a, dims: int, last: bool) -> np.ndarray:
    """TF-layout result -> canonical host array (drops a 1D conv's unit height)."""
    h = np.asarray(a)
    if dims == 1:
        h = h[:, 0] if last else h[:, :, 0]
    return host_result(h, tf_data_perm(dims, last))


# ---- the backend ------------------------------------------------------------------------

def _import_tf():
    """Import tensorflow with GPU memory growth on (environment first, then the API while TF
    is still uninitialised)."""
    os.environ.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")  # TF imports jax too
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with _quiet_stderr(("oneDNN custom operations are on", "absl::InitializeLog")):
        import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        if tf.config.experimental.get_memory_growth(gpu):
            continue
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:  # already initialised; TF_FORCE_GPU_ALLOW_GROWTH covered it
            pass
    return tf


class _quiet_stderr:
    """Drop TF's import-time banner lines (written by C++ straight to fd 2, before its log
    level applies) and pass every other line through."""

    def __init__(self, patterns) -> None:
        self.patterns = patterns

    def __enter__(self):
        import tempfile

        sys.stderr.flush()
        self._saved = os.dup(2)
        self._tmp = tempfile.TemporaryFile(mode="w+b")
        os.dup2(self._tmp.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._tmp.seek(0)
        for line in self._tmp.read().decode(errors="replace").splitlines(keepends=True):
            if not any(p in line for p in self.patterns):
                sys.stderr.write(line)
        self._tmp.close()
        return False


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _tf_devices(tf) -> dict[str, str]:
    """convbench device name -> TF device string."""
    found = {"cpu": "/CPU:0"}
    for i, _ in enumerate(tf.config.list_physical_devices("GPU")):
        found[f"cuda:{i}"] = f"/GPU:{i}"
    return found


class TfXlaKernel:
    """A ``tf.function(jit_compile=True)`` holding one TF conv op, with its device tensors."""

    def __init__(self, *, fn, args, first_out, to_host, sync, algorithm: str,
                 layout: str, setup_s: float, extra: dict, timers: tuple[str, ...]) -> None:
        self._fn = fn
        self._args = args
        self._out = first_out
        self._to_host = to_host
        self._sync = sync
        self._timers = timers
        self.algorithm = algorithm  # e.g. "xla:convolution", "pad+xla:convolution"
        self.layout = layout
        self.setup_s = setup_s  # seconds: transfers, conversions, trace, XLA compile, first call
        self.extra = extra

    def run(self) -> None:
        """Call the compiled function once on its device."""
        self._out = self._fn(*self._args)

    def synchronize(self) -> None:
        """Wait for the device (a no-op on the CPU, whose TF executor is synchronous)."""
        if self._sync is not None:
            self._sync()

    def result(self) -> np.ndarray:
        """The last output on the host, canonical channels-first layout."""
        return self._to_host(self._out)

    def timers(self) -> list[str]:
        return list(self._timers)

    def close(self) -> None:
        """Drop the device tensors and the function."""
        self._fn = self._args = self._out = None


class TfXlaBackend:
    """convbench's ``tf-xla`` backend (see the module docstring)."""

    name = "tf-xla"

    def unavailable_reason(self) -> str | None:
        """Cheap (no import: the main process asks it of every backend). A broken install
        shows up in the worker, as each case's error row."""
        import importlib.util

        if importlib.util.find_spec("tensorflow") is None:
            return _INSTALL_HINT
        return None

    def versions(self) -> dict[str, str]:
        """tensorflow (and its git describe), the installed distribution, keras, whether
        TF's bundled oneDNN is enabled (eager ops; XLA does not use it), CUDA build."""
        from importlib import metadata

        tf = _import_tf()
        out = {"tensorflow": tf.__version__, "tensorflow_git": tf.__git_version__}
        for dist in ("tensorflow-cpu", "tensorflow", "tensorflow-intel", "keras", "tf-keras"):
            try:
                out[f"dist:{dist}"] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                pass
        try:
            from tensorflow.python.util import _pywrap_util_port

            out["onednn_enabled"] = str(bool(_pywrap_util_port.IsMklEnabled()))
        except ImportError:
            pass
        info = tf.sysconfig.get_build_info()
        out["cuda_build"] = str(bool(info.get("is_cuda_build")))
        for key in ("cuda_version", "cudnn_version"):
            if key in info:
                out[key] = str(info[key])
        return out

    def devices(self) -> list[str]:
        return list(_tf_devices(_import_tf()))

    def algorithms(self, case: Case) -> list[str]:
        """XLA picks the kernel itself: one algorithm, ``default``."""
        return ["default"]

    def unsupported_reason(self, case: Case) -> str | None:
        reason = self.unavailable_reason()
        if reason:
            return reason
        if case.algorithm != "default":
            return f"algorithm {case.algorithm!r}: tf-xla runs XLA's own choice only ('default')"
        if case.layout not in LAYOUTS:
            return f"layout {case.layout!r}: tf-xla runs {', '.join(LAYOUTS)}"
        if case.spec.kind == "deformable":
            return "TensorFlow has no deformable convolution op"
        if case.direction not in ("fwd", "dgrad", "wgrad"):
            return f"direction {case.direction!r} is not fwd, dgrad or wgrad"
        gpu = case.device_kind != "cpu"
        if case.dtype == "tf32" and not gpu:
            return "tf32 is a CUDA tensor-core mode"
        if case.dtype == "int4":
            return "int4: TensorFlow has no int4 convolution (its conv ops and XLA reject int4 operands)"
        if case.dtype not in _FLOAT_DTYPES and case.dtype != "int8":
            return f"dtype {case.dtype!r} is not run by the tf-xla backend"
        if case.dtype == "int8" and case.direction != "fwd":
            return (f"int8 {case.direction}: TensorFlow has no integer convolution gradient "
                    "(its conv ops reject int8; int8 runs forward only, through tf2xla's xla.conv)")
        if case.dtype == "int8" and case.device_kind == "cuda":
            reason = cuda_int8_reason(case.spec)
            if reason:
                return reason
        devices = self.devices()
        if case.device not in devices:
            return f"device {case.device!r} is not visible to tensorflow here (it sees: {', '.join(devices)})"
        return None

    def prepare(self, case: Case, inputs: Inputs) -> TfXlaKernel:
        reason = self.unsupported_reason(case)
        if reason:
            raise ConvbenchError(f"case: tf-xla cannot run it: {reason}")
        t0 = time.perf_counter()
        tf = _import_tf()
        spec, gpu = case.spec, case.device_kind != "cpu"
        dims, last = spec.dims, channels_last(case)
        device = _tf_devices(tf)[case.device]
        extra: dict[str, object] = {}
        if gpu:
            tf32 = case.dtype == "tf32"
            tf.config.experimental.enable_tensor_float_32_execution(tf32)
            extra["tf32"] = tf32
        else:
            extra["threads"] = "TF's intra-op pool (intra_op_threads; 0: TF's default), bounded by CPU affinity"
            extra["intra_op_threads"] = int(tf.config.threading.get_intra_op_parallelism_threads())
            extra["tf_num_intraop_threads_env"] = os.environ.get("TF_NUM_INTRAOP_THREADS", "")
            extra["cpu_affinity"] = cpu_affinity()
        with tf.device(device):
            if case.dtype == "int8":
                fn, host_args, to_host, pad_op = self._int8_forward(tf, case, inputs, extra)
            else:
                fn, host_args, to_host, pad_op = self._float_op(tf, case, inputs, extra)
            args = tuple(tf.identity(tf.constant(a)) for a in host_args)
            compiled = tf.function(fn, jit_compile=True)
            # The concrete function skips argument matching on every call, and tracing through
            # it does not trip TF's warning about functions built in a loop.
            concrete = compiled.get_concrete_function(*args)
            out = concrete(*args)
        synchronous = tf.config.experimental.get_synchronous_execution()
        sync = None if (not gpu and synchronous) else tf.test.experimental.sync_devices
        if sync is not None:
            sync()
        else:
            out.numpy()  # a CPU result is complete on return; this only touches it
        setup_s = time.perf_counter() - t0

        summary = hlo_summary(compiled.experimental_get_compiler_ir(*args)(stage="optimized_hlo"))
        extra.update(summary.as_extra())
        extra["synchronize"] = "sync_devices" if sync is not None else "none (synchronous CPU executor)"
        algorithm = ("pad+" if pad_op else "") + "xla:" + summary.compute_kind

        def run_on_device(*a, _f=concrete, _d=device):
            with tf.device(_d):
                return _f(*a)

        return TfXlaKernel(
            fn=run_on_device if gpu else concrete, args=args, first_out=out,
            to_host=to_host, sync=sync, algorithm=algorithm, layout=layout_name(dims, last),
            setup_s=setup_s, extra=extra, timers=("wall-batch", "wall") if gpu else ("wall", "wall-batch"),
        )

    # -- the two ways a case becomes a TF function --------------------------------------

    def _float_op(self, tf, case: Case, inputs: Inputs, extra: dict):
        """fp32/tf32/fp16/bf16: one TF conv op on D, with the plan's pad/crop steps."""
        spec = case.spec
        dims, last = spec.dims, channels_last(case)
        plan = tf_plan(spec, case.direction)
        dt = numpy_dtype(case.dtype)
        r = plan.rank
        fmt = ("NHWC" if r == 2 else "NDHWC") if last else ("NCHW" if r == 2 else "NCDHW")
        sp_axes = list(range(1, r + 1)) if last else list(range(2, r + 2))
        ch_axis = r + 1 if last else 1

        def full(values, fill):
            """A per-spatial-dim list spread over the TF tensor's axes."""
            out = [fill] * (r + 2)
            for axis, v in zip(sp_axes, values):
                out[axis] = v
            return out

        strides, dilations = full(plan.strides, 1), full(plan.dilations, 1)
        explicit = [p for pair in full(plan.explicit, (0, 0)) for p in pair] if plan.padding == "EXPLICIT" else []

        def u_shape(n_channels: int, sizes) -> list[int]:
            shape = [spec.batch] * (r + 2)
            shape[ch_axis] = n_channels
            for axis, v in zip(sp_axes, sizes):
                shape[axis] = v
            return shape

        u_channels = spec.out_channels if spec.transposed else spec.in_channels
        u_full = u_shape(u_channels, plan.u_size)
        u_op = u_shape(u_channels, plan.u_op_size)

        def transform(u):
            """u -> what the TF op reads: crop its end, then pad (constant or a mode)."""
            if any(plan.crop):
                u = tf.slice(u, [0] * (r + 2), [n - c for n, c in zip(u_full, full(plan.crop, 0))])
            if plan.pre_pad is None:
                return u
            if plan.pre_mode == "constant":
                return tf.pad(u, full(plan.pre_pad, (0, 0)))
            sizes = [n - c for n, c in zip(plan.u_size, plan.crop)]
            for axis, n, pair in zip(sp_axes, sizes, plan.pre_pad):
                if pair != (0, 0):
                    u = tf.gather(u, np.pad(np.arange(n), pair, mode=PAD_MODES[plan.pre_mode]), axis=axis)
            return u

        def adjoint(g):
            """The adjoint of ``transform``: gradient w.r.t. u from gradient w.r.t. its output."""
            if plan.pre_pad is not None:
                sizes = [n - c for n, c in zip(plan.u_size, plan.crop)]
                if plan.pre_mode == "constant":
                    g = tf.slice(g, full([lo for lo, _ in plan.pre_pad], 0), u_shape(u_channels, sizes))
                else:
                    for axis, n, pair in reversed(list(zip(sp_axes, sizes, plan.pre_pad))):
                        if pair == (0, 0):
                            continue
                        idx = np.pad(np.arange(n), pair, mode=PAD_MODES[plan.pre_mode])
                        perm = [axis] + [a for a in range(r + 2) if a != axis]
                        s = tf.math.unsorted_segment_sum(tf.transpose(g, perm), idx, n)
                        g = tf.transpose(s, list(inverse_perm(tuple(perm))))
            if any(plan.crop):
                g = tf.pad(g, full([(0, c) for c in plan.crop], (0, 0)))
            return g

        raw = tf.raw_ops
        common = dict(strides=strides, padding=plan.padding, dilations=dilations, data_format=fmt)
        if r == 2:
            common["explicit_paddings"] = explicit

        def conv(u, f):
            return (raw.Conv2D if r == 2 else raw.Conv3D)(input=transform(u), filter=f, **common)

        def input_grad(f, dv):
            g = (raw.Conv2DBackpropInput if r == 2 else raw.Conv3DBackpropInputV2)(
                input_sizes=u_op, filter=f, out_backprop=dv, **common)
            return adjoint(g)

        filter_shape = list(tf_filter(spec, inputs.w).shape)

        def filter_grad(u, dv):
            return (raw.Conv2DBackpropFilter if r == 2 else raw.Conv3DBackpropFilterV2)(
                input=transform(u), filter_sizes=filter_shape, out_backprop=dv, **common)

        f_h = tf_filter(spec, inputs.w).astype(dt)
        x_h, dy_h = to_tf_data(inputs.x, dims, last, dt), to_tf_data(inputs.dy, dims, last, dt)
        bias = spec.bias and case.direction == "fwd"
        bshape = (spec.out_channels,) if last else (spec.out_channels,) + (1,) * r
        b_h = inputs.b.astype(dt).reshape(bshape) if bias else None
        if plan.op == "conv":  # regular fwd, transposed dgrad
            if spec.transposed:
                host_args, fn = (dy_h, f_h), conv
            elif bias:
                host_args = (x_h, f_h, b_h)

                def fn(u, f, b):
                    return conv(u, f) + b
            else:
                host_args, fn = (x_h, f_h), conv
        elif plan.op == "input_grad":  # regular dgrad, transposed fwd
            if spec.transposed and bias:
                host_args = (f_h, x_h, b_h)

                def fn(f, dv, b):
                    return input_grad(f, dv) + b
            else:
                host_args, fn = (f_h, x_h if spec.transposed else dy_h), input_grad
        else:  # wgrad: u = x, dv = dy (regular); u = dy, dv = x (transposed)
            host_args = (dy_h, x_h) if spec.transposed else (x_h, dy_h)
            fn = filter_grad

        if case.direction == "wgrad":
            def to_host(a):
                return untf_filter(spec, host_result(np.asarray(a), tuple(range(np.ndim(a)))))
        else:
            def to_host(a):
                return from_tf_data(a, dims, last)

        extra["tf_op"] = plan.tf_op + (" (1D as 2D with a unit height)" if dims == 1 else "")
        extra["tf_padding"] = plan.padding
        if plan.needs_pad_op:
            steps = []
            if any(plan.crop):
                steps.append(f"crop {plan.crop}")
            if plan.pre_pad is not None:
                how = " (gather)" if plan.pre_mode != "constant" else ""
                steps.append(f"{plan.pre_mode} pad {plan.pre_pad}{how}")
            extra["tf_pad_op"] = ", ".join(steps) + (" (adjoint after the op)" if plan.op == "input_grad" else "")
        return fn, host_args, to_host, plan.needs_pad_op

    def _int8_forward(self, tf, case: Case, inputs: Inputs, extra: dict):
        """int8 forward: tf2xla's ``xla.conv`` on int8 operands, int32 (CPU) or f32 (CUDA)
        accumulation, in the lhs-dilated form for a transposed conv (weights flipped on the
        host, as in the jax backend)."""
        from tensorflow.compiler.tf2xla.python import xla
        from tensorflow.compiler.xla import xla_data_pb2

        spec = case.spec
        dims, last = spec.dims, channels_last(case)
        gpu = case.device_kind != "cpu"
        geo = xla_conv(spec)
        acc = tf.float32 if gpu else tf.int32
        acc_np = np.float32 if gpu else np.int32
        extra["accumulator"] = "f32" if gpu else "s32"
        if gpu:
            bound = partial_sum_bound(spec, inputs)
            extra["accumulator_note"] = ("XLA:GPU cannot lower an s32-accumulating int8 conv to cuDNN; "
                                         "f32 accumulation is exact while partial sums stay within 2**24")
            extra["partial_sum_bound"] = bound
            extra["f32_accumulator_exact"] = bool(bound <= 2**24)
        extra["tf_op"] = "XlaConvV2 (tf2xla xla.conv; TF's conv ops reject int8)"

        sp = list(range(1, dims + 1)) if last else list(range(2, dims + 2))
        ch = dims + 1 if last else 1
        dn = xla_data_pb2.ConvolutionDimensionNumbers()
        dn.input_batch_dimension, dn.input_feature_dimension = 0, ch
        dn.input_spatial_dimensions.extend(sp)
        dn.output_batch_dimension, dn.output_feature_dimension = 0, ch
        dn.output_spatial_dimensions.extend(sp)
        if last:  # weights (*k, I, O)
            dn.kernel_spatial_dimensions.extend(range(dims))
            dn.kernel_input_feature_dimension, dn.kernel_output_feature_dimension = dims, dims + 1
            wperm = (*range(2, dims + 2), 1, 0)
        else:  # weights (O, I, *k)
            dn.kernel_spatial_dimensions.extend(range(2, dims + 2))
            dn.kernel_input_feature_dimension, dn.kernel_output_feature_dimension = 1, 0
            wperm = tuple(range(dims + 2))
        dperm = tf_data_perm(dims, last)
        x_h = np.ascontiguousarray(np.transpose(inputs.x, dperm).astype(np.int8))
        w_h = np.ascontiguousarray(np.transpose(direct_weight(spec, inputs.w), wperm).astype(np.int8))

        def conv(x, w):
            if geo.pre_pad is not None:
                for axis, n, pair in zip(sp, spec.input_size, geo.pre_pad):
                    if pair != (0, 0):
                        x = tf.gather(x, np.pad(np.arange(n), pair, mode=geo.pre_pad_mode), axis=axis)
            return xla.conv(
                x, w, window_strides=list(geo.window_strides), padding=[list(p) for p in geo.padding],
                lhs_dilation=list(geo.lhs_dilation), rhs_dilation=list(geo.rhs_dilation),
                dimension_numbers=dn, feature_group_count=geo.feature_group_count,
                precision_config=None, preferred_element_type=acc,
            )

        if spec.bias:
            bshape = (spec.out_channels,) if last else (spec.out_channels,) + (1,) * dims
            host_args = (x_h, w_h, inputs.b.astype(acc_np).reshape(bshape))

            def fn(x, w, b):
                return conv(x, w) + b
        else:
            host_args, fn = (x_h, w_h), conv

        def to_host(a):
            return host_result(np.asarray(a), dperm)

        if spec.transposed:
            extra["transposed_as"] = "lhs-dilated conv with a flipped kernel"
        return fn, host_args, to_host, geo.pre_pad is not None
