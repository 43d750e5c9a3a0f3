"""The ``torch`` backend: PyTorch's own convolution ops, cuDNN on CUDA and oneDNN on the CPU.

Module name: ``pytorch`` (not ``torch``), so that ``import torch`` inside never finds this file.
torch is imported inside functions: this module imports without it.

What one ``run()`` launches (the timed operation):

* ``fwd``: ``aten.convolution`` (what ``F.conv{1,2,3}d`` and ``F.conv_transpose{1,2,3}d``
  call), with the bias when the spec has one.
* ``dgrad``: ``aten.convolution_backward`` with ``output_mask=[True, False, False]``;
  ``wgrad``: the same op with ``[False, True, False]`` (no bias gradient). That is the single
  backward op autograd runs for a conv, called directly; torch allocates its output.
  Transposed convs pass ``transposed=True`` and their ``output_padding``.
* int8 on the CPU, algorithm ``default``: oneDNN's quantized conv, ``onednn::qconv2d_pointwise``
  (2D) or ``onednn::qconv_pointwise`` (1D, 3D), on plain uint8 activations (x + zero point
  ``Inputs.x_zero_point``, scale 1) and int8 weights (per-channel scales 1, zero points 0),
  int32 accumulation, fp32 output (exact for integer results below 2**24). Algorithm
  ``ao-quantized``: ``torch.ops.quantized.conv{1,2,3}d`` / ``conv_transpose{1,2,3}d`` (the
  ``torch.ao`` eager path, engine ``torch.backends.quantized.engine``) on quint8 / qint8
  tensors (weights per-channel for convs and per-tensor for transposed convs, as torch.ao's
  default x86 qconfig does), quint8 output with scale 1 and a zero point chosen in
  ``prepare`` from the exact result's range; ``prepare`` refuses (``InexactQuantizedOutput``)
  when that range spans more than 256 integers, since no quint8 output can then hold it.
  Measured on torch 2.13: the x86 and onednn engines' quantized transposed conv is wrong
  whenever in_channels != out_channels (fbgemm's is right); such rows verify as ``wrong``.

Padding torch cannot express (DESIGN, Settled details: One kernel per direction):

* Asymmetric zero padding of a conv: the symmetric part stays in the conv, the excess is an
  explicit ``F.pad`` before it. ``padding_mode`` reflect/replicate/circular: an explicit
  ``F.pad`` in that mode and a conv without padding (what ``nn.Conv2d`` does). ``fwd`` times
  pad + conv; ``dgrad`` times the conv's backward on the padded shape plus the pad's backward
  (a free view for zeros, ``reflection_pad*_backward`` / ``replication_pad*_backward`` /
  a fold of the wrapped borders for circular); ``wgrad`` reads the padded input, made in
  ``prepare`` (autograd saves it from the forward, so a training step pays no pad work for
  the weight gradient). The algorithm is ``pad+<what ran>``; ``extra["pad_in_timed_op"]``
  says whether the pad (or its backward) is inside ``run()``.
* Asymmetric padding of a transposed conv: the conv runs with the smaller padding on both
  sides and the output is cropped (a view); ``dgrad`` zero-pads ``dy`` back (``F.pad``,
  timed), ``wgrad`` reads that padded ``dy`` made in ``prepare``. Algorithm ``crop+<...>``.

What ran (``kernel.algorithm``): on the CPU, the oneDNN primitives of one steady-state call
(the second call in ``prepare``) are read from oneDNN's verbose output, captured at the file
descriptor level (``os.dup2`` of fd 1 into a temporary file; the process's stdout is
redirected for the length of that one call). The convolution primitives' implementation
names, joined with ``+``, are the algorithm (e.g. ``brg_conv_fwd:avx512_core``); every
primitive (reorders included) is listed in ``extra["onednn_primitives"]``. Without a oneDNN
line the algorithm is ``aten:<backend>``, torch's own conv backend as
``torch._C._select_conv_backend`` names it (``aten:slow2d``, ``aten:slow_dilated3d``, ...).
On CUDA torch does not expose cuDNN's engine choice: the algorithm is ``cudnn`` (or
``aten:<backend>`` where torch's own CUDA kernel runs, e.g. ``aten:cuda_depthwise2d``), with
``:fft`` or ``:winograd`` appended when the kernels that ran say so (verification allows for
their transformed-domain rounding by that name), and
``extra["cuda_kernels"]`` lists the kernels one ``run()`` launched (a profiler pass in
``prepare``): on an H200 with cuDNN 9.19, an fp32 (TF32 off) 3x3 layer autotuned to an FFT
(``fft2d_r2c_16x16`` + a cuBLAS complex GEMM) with NHWC<->NCHW transposes around it, and
NCHW fp16 to transposes around an NHWC implicit GEMM. ``kernel.error_spread`` follows from
those names (``output`` for FFT, ``tile`` for Winograd, else ``element``), so verification
bounds FFT and Winograd rounding as DESIGN's tolerances say.

CUDA: ``cudnn.benchmark=True`` (the autotune is part of the first call, so of ``setup_s``),
``cudnn.deterministic=False``; fp32 disables TF32 for cuDNN and matmul, tf32 enables it. These
flags are process-global: ``run()`` re-asserts the three cuDNN flags (three C calls, about
0.1 us each) so a kernel runs what its row says even if another case was prepared since.
``run()`` works on torch's current stream, never synchronises, and allocates only through
torch's caching allocator, so it can be captured in a CUDA graph.

Units: ``setup_s`` is seconds (``time.perf_counter``), from the start of ``prepare`` through the
first, synchronised call (transfers, layout and dtype conversion, weight packing, cuDNN
autotune); the verbose capture, the profiler pass and the quantized output calibration that
follow or precede it are diagnostics and are not in it.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from convbench.backends.base import Case, Inputs, UnsupportedCase

#: Layouts a case may ask for: ``native`` (torch's NCHW), ``nchw`` (contiguous), ``nhwc``
#: (``channels_last`` / ``channels_last_3d``).
LAYOUTS: tuple[str, ...] = ("native", "nchw", "nhwc")
_CHANNELS_FIRST = {1: "ncw", 2: "nchw", 3: "ncdhw"}
_CHANNELS_LAST = {2: "nhwc", 3: "ndhwc"}
#: convbench float dtype -> torch dtype attribute name.
_FLOAT_DTYPES = {"fp32": "float32", "tf32": "float32", "fp16": "float16", "bf16": "bfloat16"}
#: Algorithms by dtype on the CPU (int8) and everywhere else.
_INT8_CPU_ALGORITHMS = ("default", "ao-quantized")
#: F.pad mode for each ConvSpec padding_mode.
_PAD_MODES = {"zeros": "constant", "reflect": "reflect", "replicate": "replicate", "circular": "circular"}
#: oneDNN's quantized conv op per spatial rank (qconv2d_pointwise is what inductor emits for 2D).
_QCONV_OPS = {1: "qconv_pointwise", 2: "qconv2d_pointwise", 3: "qconv_pointwise"}
#: Integer results must stay below this to be exact in an fp32 output (2**24).
_FP32_EXACT = 2**24


class InexactQuantizedOutput(UnsupportedCase):
    """``ao-quantized`` cannot represent this case's exact result: its output is quint8 (256
    values at scale 1) and the exact integer result spans more. Raised by ``prepare``, since
    the range depends on the inputs, not on the case alone."""


# ---------------------------------------------------------------------------------------------
# Pure helpers (no torch needed)
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Geometry:
    """How a spec's padding maps onto torch's conv ops.

    ``conv_padding``: the symmetric padding (elements per spatial dim) handed to the torch op.
    ``pad``: explicit ``F.pad`` amounts in F.pad's order (last dim first, before/after
    pairs), empty when none. ``pad_mode``: F.pad's mode (``constant`` for zeros). ``crop``:
    for transposed convs, (before, after) elements cut from torch's output per dim, empty
    when none. At most one of ``pad`` and ``crop`` is non-empty.
    """

    conv_padding: tuple[int, ...]
    pad: tuple[int, ...] = ()
    pad_mode: str = "constant"
    crop: tuple[tuple[int, int], ...] = ()

    @property
    def prefix(self) -> str:
        """``pad+``, ``crop+`` or empty: what the algorithm name says about the route."""
        return "pad+" if self.pad else "crop+" if self.crop else ""

    def pad_pairs(self) -> tuple[tuple[int, int], ...]:
        """The explicit pad as (before, after) per spatial dim, first dim first."""
        pairs = [(self.pad[i], self.pad[i + 1]) for i in range(0, len(self.pad), 2)]
        return tuple(reversed(pairs))


def geometry(spec) -> Geometry:
    """Split ``spec.padding`` into what torch's op takes and what must be done around it."""
    pads = spec.padding
    if spec.transposed:
        if all(b == a for b, a in pads):
            return Geometry(conv_padding=tuple(b for b, _ in pads))
        low = tuple(min(b, a) for b, a in pads)
        crop = tuple((b - m, a - m) for (b, a), m in zip(pads, low))
        return Geometry(conv_padding=low, crop=crop)
    if spec.padding_mode == "zeros":
        if all(b == a for b, a in pads):
            return Geometry(conv_padding=tuple(b for b, _ in pads))
        low = tuple(min(b, a) for b, a in pads)
        excess = [(b - m, a - m) for (b, a), m in zip(pads, low)]
        return Geometry(conv_padding=low, pad=_fpad_order(excess), pad_mode="constant")
    if not any(b or a for b, a in pads):
        return Geometry(conv_padding=(0,) * spec.dims)
    return Geometry(conv_padding=(0,) * spec.dims, pad=_fpad_order(pads), pad_mode=_PAD_MODES[spec.padding_mode])


def _fpad_order(pairs) -> tuple[int, ...]:
    """(before, after) per dim, first dim first -> F.pad's flat tuple, last dim first."""
    out: list[int] = []
    for b, a in reversed(list(pairs)):
        out += [b, a]
    return tuple(out)


def layout_name(layout: str, dims: int) -> str:
    """The layout that runs for a requested one: ``native``/``nchw`` -> ncw/nchw/ncdhw,
    ``nhwc`` -> nhwc/ndhwc."""
    return _CHANNELS_LAST[dims] if layout == "nhwc" else _CHANNELS_FIRST[dims]


_VERSION_RE = re.compile(r"(?:MKL-DNN|oneDNN)[^\n]*?\bv(\d+\.\d+(?:\.\d+)?)")
_MKL_RE = re.compile(r"Math Kernel Library Version (\d+(?:\.\d+)*)")


def parse_onednn_version(config: str) -> str | None:
    """oneDNN's version from ``torch.__config__.show()`` (``Intel(R) MKL-DNN v3.12.0 ...``)."""
    m = _VERSION_RE.search(config)
    return m.group(1) if m else None


def parse_mkl_version(config: str) -> str | None:
    """MKL's version from ``torch.__config__.show()`` (``... Math Kernel Library Version 2024.2-...``)."""
    m = _MKL_RE.search(config)
    return m.group(1) if m else None


@dataclass(frozen=True)
class OneDNNTrace:
    """The oneDNN primitives one call executed, from verbose ``exec`` lines, in order:
    (primitive kind, implementation) pairs such as ("convolution", "brg_conv_fwd:avx512_core")."""

    primitives: tuple[tuple[str, str], ...] = ()

    @property
    def convolutions(self) -> tuple[str, ...]:
        """Implementation names of the convolution (and deconvolution) primitives."""
        return tuple(impl for kind, impl in self.primitives if kind in ("convolution", "deconvolution"))

    @property
    def reorders(self) -> int:
        """Number of reorder primitives executed (layout conversions inside the call)."""
        return sum(1 for kind, _ in self.primitives if kind == "reorder")

    def describe(self) -> str:
        """``kind:impl`` of every primitive, joined with ``;``."""
        return ";".join(f"{kind}:{impl}" for kind, impl in self.primitives)


def parse_onednn_verbose(text: str) -> OneDNNTrace:
    """Read oneDNN's verbose output (any version's line format: the fields after ``exec``
    are engine, primitive kind, implementation). Lines other than ``exec`` are ignored."""
    prims = []
    for line in text.splitlines():
        if not line.startswith("onednn_verbose") and not line.startswith("dnnl_verbose"):
            continue
        fields = line.split(",")
        if "exec" not in fields:
            continue
        i = fields.index("exec")
        if len(fields) > i + 3:
            prims.append((fields[i + 2], fields[i + 3]))
    return OneDNNTrace(tuple(prims))


def error_spread(names: str) -> str:
    """How far one result's rounding error spreads, judged from kernel or implementation
    names: ``output`` for FFT convolutions, ``tile`` for Winograd, else ``element``."""
    low = names.lower()
    if "fft" in low:
        return "output"
    if "wino" in low:
        return "tile"
    return "element"


def _snake(name: str) -> str:
    """``SlowDilated2d`` -> ``slow_dilated2d``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _exact_int_range(values_bound: float) -> bool:
    return values_bound < _FP32_EXACT


# ---------------------------------------------------------------------------------------------
# torch-side helpers
# ---------------------------------------------------------------------------------------------
def _has_op(torch, namespace: str, name: str) -> bool:
    """Whether ``torch.ops.<namespace>.<name>`` is registered in this torch."""
    try:
        getattr(getattr(torch.ops, namespace), name)
    except (AttributeError, RuntimeError):
        return False
    return True


def _identity(t):
    return t


def _torch():
    import torch

    return torch


def _memory_format(torch, layout: str, dims: int):
    if layout == "nhwc":
        return torch.channels_last if dims == 2 else torch.channels_last_3d
    return torch.contiguous_format


def _capture_fd1(fn: Callable[[], Any]) -> tuple[Any, str]:
    """Run ``fn`` with file descriptor 1 redirected into a temporary file; return its result
    and what was written there (C stdio is flushed on both sides)."""
    libc = ctypes.CDLL(None)
    sys.stdout.flush()
    libc.fflush(None)
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            result = fn()
        finally:
            libc.fflush(None)
            os.dup2(saved, 1)
            os.close(saved)
        tmp.seek(0)
        text = tmp.read().decode("utf-8", "replace")
    return result, text


def _onednn_trace(torch, fn: Callable[[], Any]) -> tuple[Any, OneDNNTrace]:
    """One call of ``fn`` under oneDNN verbose; its result and the primitives it executed."""
    mkldnn = torch.backends.mkldnn

    def call():
        with mkldnn.verbose(mkldnn.VERBOSE_ON):
            return fn()

    result, text = _capture_fd1(call)
    return result, parse_onednn_verbose(text)


def _conv_backend_name(torch, inp, weight, bias, stride, padding, dilation, transposed, output_padding,
                       groups, backward: bool) -> str:
    """torch's conv backend for these tensors (``Mkldnn``, ``Cudnn``, ``Slow2d``, ...)."""
    args = (inp, weight, bias, list(stride), list(padding), list(dilation), transposed, list(output_padding), groups)
    if backward:
        sel = torch._C._select_conv_backend(*args, None)
    else:
        sel = torch._C._select_conv_backend(*args)
    name = str(sel).rsplit(".", 1)[-1].strip(",")
    if name == "???":  # a value torch's Python binding leaves unnamed (2.13: MkldnnTranspose)
        members = torch._C._ConvBackend.__members__
        mkldnn = members.get("Mkldnn")
        if mkldnn is not None and int(sel) == int(mkldnn) + 1 and "MkldnnTranspose" not in members:
            return "MkldnnTranspose"
        return f"ConvBackend{int(sel)}"
    return name


def _cudnn_flag_setters(torch, allow_tf32: bool) -> tuple[tuple[Callable[[bool], None], bool], ...]:
    """The C setters of cuDNN's benchmark, deterministic and TF32 flags with their values
    (what ``torch.backends.cudnn``'s properties call)."""
    names = (("_set_cudnn_benchmark", True), ("_set_cudnn_deterministic", False),
             ("_set_cudnn_allow_tf32", allow_tf32))
    return tuple((getattr(torch._C, n), v) for n, v in names if hasattr(torch._C, n))


def _fold_circular(g, pads: tuple[tuple[int, int], ...], sizes: tuple[int, ...]):
    """The gradient of a circular pad: add the wrapped borders of ``g`` (the gradient of the
    padded tensor, owned by the caller and modified in place) onto the interior they were
    copied from, dim by dim, and return the interior view. ``pads`` are (before, after) per
    spatial dim, ``sizes`` the unpadded sizes (each pad at most its size, so a border and the
    interior strip it lands on never overlap)."""
    for i, ((b, a), n) in enumerate(zip(pads, sizes)):
        d = 2 + i
        if b:
            g.narrow(d, n, b).add_(g.narrow(d, 0, b))
        if a:
            g.narrow(d, b, a).add_(g.narrow(d, b + n, a))
    return _crop(g, pads)


def _crop(t, crop: tuple[tuple[int, int], ...]):
    """View of ``t`` with (before, after) elements removed per spatial dim."""
    for i, (b, a) in enumerate(crop):
        if b or a:
            d = 2 + i
            t = t.narrow(d, b, t.shape[d] - b - a)
    return t


# ---------------------------------------------------------------------------------------------
# The kernel
# ---------------------------------------------------------------------------------------------
class TorchKernel:
    """One prepared torch op. ``run()`` calls a pre-bound op on pre-made tensors and keeps its
    output; ``result()`` copies the latest output to the host in canonical layout."""

    def __init__(self, fn: Callable[[], Any], device, finish: Callable[[Any], Any], *,
                 cuda: bool, flag_setters=()) -> None:
        self._fn = fn
        self._device = device
        self._finish = finish  # output of fn -> canonical-order tensor (views, dequantize)
        self._cuda = cuda
        self._flags = flag_setters
        self._out = None
        self.algorithm = ""
        self.layout = ""
        self.setup_s = 0.0
        self.extra: dict[str, Any] = {}
        #: How far rounding spreads in what ran (verification's bound): "element" for direct
        #: and implicit-GEMM kernels, "tile" for Winograd, "output" for FFT.
        self.error_spread = "element"
        if flag_setters:
            self.run = self._run_with_flags  # type: ignore[method-assign]

    def run(self) -> None:
        """Launch the op once (asynchronous on CUDA)."""
        self._out = self._fn()

    def _run_with_flags(self) -> None:
        for setter, value in self._flags:
            setter(value)
        self._out = self._fn()

    def synchronize(self) -> None:
        """Block until the launched work is done (CPU ops complete on return)."""
        if self._cuda:
            _torch().cuda.synchronize(self._device)

    def result(self) -> np.ndarray:
        """Host copy of the last output, canonical channels-first layout, float32/float64."""
        torch = _torch()
        self.synchronize()
        if self._out is None:
            raise RuntimeError("result() before any run()")
        t = self._finish(self._out)
        t = t.detach().to("cpu")
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        return t.contiguous().numpy().copy()

    def timers(self) -> list[str]:
        """CUDA: graph replay first; CPU: wall clock."""
        if self._cuda:
            return ["cuda-graph", "cuda-event-batch", "cuda-event", "kernel", "wall-batch", "wall"]
        return ["wall", "wall-batch"]

    def close(self) -> None:
        """Drop every tensor this kernel holds (device memory goes back to torch's cache)."""
        self._fn = None
        self._out = None
        self._finish = None


# ---------------------------------------------------------------------------------------------
# The backend
# ---------------------------------------------------------------------------------------------
class TorchBackend:
    """PyTorch: cuDNN on CUDA, oneDNN (or torch's own kernels) on the CPU."""

    name = "torch"

    def __init__(self) -> None:
        self._default_threads: int | None = None

    # ---- availability --------------------------------------------------------------------
    def unavailable_reason(self) -> str | None:
        try:
            import torch  # noqa: F401
        except ImportError:
            return "torch is not installed (pip install 'convbench[torch]')"
        return None

    def versions(self) -> dict[str, str]:
        """torch, and where present cuda, cudnn, onednn and mkl."""
        if self.unavailable_reason():
            return {}
        torch = _torch()
        out = {"torch": str(torch.__version__)}
        if torch.version.cuda:
            out["cuda"] = str(torch.version.cuda)
        cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
        if cudnn:
            out["cudnn"] = str(cudnn)
        config = torch.__config__.show()
        onednn = parse_onednn_version(config)
        if onednn and torch.backends.mkldnn.is_available():
            out["onednn"] = onednn
        mkl = parse_mkl_version(config)
        if mkl and torch.backends.mkl.is_available():
            out["mkl"] = mkl
        return out

    def devices(self) -> list[str]:
        if self.unavailable_reason():
            return []
        torch = _torch()
        out = ["cpu"]
        if torch.cuda.is_available():
            out += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return out

    def algorithms(self, case: Case) -> list[str]:
        """``default`` (torch's own choice); int8 on the CPU also ``ao-quantized``."""
        if case.dtype == "int8" and case.device_kind == "cpu":
            return list(_INT8_CPU_ALGORITHMS)
        return ["default"]

    # ---- what can run --------------------------------------------------------------------
    def unsupported_reason(self, case: Case) -> str | None:
        reason = self.unavailable_reason()
        if reason:
            return reason
        torch = _torch()
        spec = case.spec
        kind = case.device_kind
        if kind not in ("cpu", "cuda"):
            return f"the torch backend runs on cpu and cuda, not {case.device!r}"
        if kind == "cuda":
            if not torch.cuda.is_available():
                return "torch sees no CUDA device (torch.cuda.is_available() is False)"
            _, _, idx = case.device.partition(":")
            index = int(idx) if idx.isdigit() else 0
            if index >= torch.cuda.device_count():
                return f"{case.device} is not present (torch sees {torch.cuda.device_count()} CUDA devices)"
        if spec.kind == "deformable":
            return "deformable convolution is not a torch core op (it lives in torchvision.ops)"
        if case.layout not in LAYOUTS:
            return f"layout {case.layout!r} is not a torch layout (torch has {', '.join(LAYOUTS)})"
        if case.layout == "nhwc" and spec.dims == 1:
            return "torch has no channels-last memory format for 1D (N, C, W) tensors"
        known = self.algorithms(case)
        if case.algorithm not in known:
            return f"algorithm {case.algorithm!r} is not a torch algorithm here (torch has: {', '.join(known)})"
        dtype = case.dtype
        if dtype == "int4":
            return "torch has no int4 convolution"
        if dtype == "tf32" and kind == "cpu":
            return "tf32 is a CUDA tensor-core mode (torch's CPU convs have no TF32)"
        if dtype == "int8":
            return self._int8_reason(case)
        if dtype not in _FLOAT_DTYPES:
            return f"dtype {dtype!r} is not supported by the torch backend"
        if kind == "cuda":
            major, minor = torch.cuda.get_device_capability(torch.device(case.device))
            if dtype == "tf32" and major < 8:
                return f"tf32 needs compute capability >= 8.0 ({case.device} is {major}.{minor})"
            if dtype == "bf16" and major < 8:
                return f"bf16 convolution needs compute capability >= 8.0 ({case.device} is {major}.{minor})"
        return None

    def _int8_reason(self, case: Case) -> str | None:
        spec = case.spec
        if case.device_kind == "cuda":
            return ("torch has no int8 convolution on CUDA (F.conv2d on int8 CUDA tensors: "
                    "'GET was unable to find an engine to execute this computation')")
        if case.direction != "fwd":
            return "torch has no int8 backward conv"
        if case.algorithm == "default":
            if spec.transposed:
                return ("torch.ops.onednn has no quantized transposed conv "
                        "(torch.ops.quantized's is algorithm ao-quantized)")
            op = _QCONV_OPS[spec.dims]
            torch = _torch()
            if not (torch.backends.mkldnn.is_available() and _has_op(torch, "onednn", "qconv_prepack")
                    and _has_op(torch, "onednn", op)):
                return f"this torch ({torch.__version__}) has no onednn::{op} (oneDNN's quantized conv)"
        if case.algorithm == "ao-quantized":
            if spec.padding_mode in ("replicate", "circular") and any(b or a for b, a in spec.padding):
                return f"torch has no {spec.padding_mode} pad for quantized tensors"
        return None

    # ---- prepare -------------------------------------------------------------------------
    def prepare(self, case: Case, inputs: Inputs) -> TorchKernel:
        """Tensors on the device in the case's dtype and layout, flags set, one first call
        (cuDNN autotune on CUDA) timed into ``setup_s``; then the diagnostics that name what ran."""
        from convbench.errors import ConvbenchError

        reason = self.unsupported_reason(case)
        if reason:
            raise ConvbenchError(f"case: {reason}")
        torch = _torch()
        if self._default_threads is None:
            self._default_threads = torch.get_num_threads()
        threads = case.threads if case.threads > 0 else self._default_threads
        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        if case.dtype == "int8":
            return _prepare_int8(torch, case, inputs)
        return _prepare_float(torch, case, inputs)


# ---------------------------------------------------------------------------------------------
# Floating point
# ---------------------------------------------------------------------------------------------
def _prepare_float(torch, case: Case, inputs: Inputs) -> TorchKernel:
    import torch.nn.functional as F

    spec = case.spec
    geo = geometry(spec)
    cuda = case.device_kind == "cuda"
    device = torch.device(case.device)
    dtype = getattr(torch, _FLOAT_DTYPES[case.dtype])
    fmt = _memory_format(torch, case.layout, spec.dims)
    extra: dict[str, Any] = {}
    setters: tuple = ()
    if cuda:
        tf32 = case.dtype == "tf32"
        torch.backends.cudnn.enabled = True
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.deterministic = False
        torch.backends.cudnn.allow_tf32 = tf32
        torch.backends.cuda.matmul.allow_tf32 = tf32
        setters = _cudnn_flag_setters(torch, tf32)
    else:
        _cpu_fp32_precision(torch, extra)

    t0 = time.perf_counter()

    def tensor(a: np.ndarray, memory_format=fmt):
        return torch.from_numpy(np.ascontiguousarray(a)).to(device=device, dtype=dtype).contiguous(
            memory_format=memory_format)

    x = tensor(inputs.x)
    w = tensor(inputs.w)
    stride, dilation = list(spec.stride), list(spec.dilation)
    padding = list(geo.conv_padding)
    out_pad = list(spec.output_padding) if spec.transposed else [0] * spec.dims
    groups, transposed = spec.groups, spec.transposed
    conv = torch.ops.aten.convolution.default
    conv_bwd = torch.ops.aten.convolution_backward.default
    finish: Callable[[Any], Any] = _identity
    pad_timed = False

    if case.direction == "fwd":
        b = tensor(inputs.b, torch.contiguous_format) if spec.bias and inputs.b is not None else None
        rest = (w, b, stride, padding, dilation, transposed, out_pad, groups)
        if geo.pad:
            pad_, mode, fpad = geo.pad, geo.pad_mode, F.pad

            def fn():
                return conv(fpad(x, pad_, mode), *rest)

            probe_in = fpad(x, pad_, mode)
            pad_timed = True
        else:
            args = (x, *rest)

            def fn():
                return conv(*args)

            probe_in = x
        if geo.crop:
            crop = geo.crop

            def finish(t):
                return _crop(t, crop)
        backend_name = _conv_backend_name(torch, probe_in, w, b, stride, padding, dilation, transposed, out_pad,
                                          groups, backward=False)
    else:
        dy = tensor(inputs.dy)
        if case.direction == "dgrad":
            mask = [True, False, False]
            fn, probe_in, probe_dy, pad_timed = _dgrad_fn(torch, F, geo, spec, fmt, x, w, dy, conv_bwd, stride,
                                                          padding, dilation, out_pad, groups, mask)
        else:
            mask = [False, True, False]
            probe_in, probe_dy = x, dy
            if geo.pad:
                probe_in = F.pad(x, geo.pad, geo.pad_mode).contiguous(memory_format=fmt)
            if geo.crop:
                probe_dy = F.pad(dy, _fpad_order(geo.crop)).contiguous(memory_format=fmt)
            args = (probe_dy, probe_in, w, None, stride, padding, dilation, transposed, out_pad, groups, mask)

            def fn():
                return conv_bwd(*args)[1]
        backend_name = _conv_backend_name(torch, probe_in, w, None, stride, padding, dilation, transposed, out_pad,
                                          groups, backward=True)

    kernel = TorchKernel(fn, device, finish, cuda=cuda, flag_setters=setters)
    kernel.run()
    kernel.synchronize()
    kernel.setup_s = time.perf_counter() - t0

    extra["torch_conv_backend"] = backend_name
    extra["memory_format"] = "channels_last" if fmt is not torch.contiguous_format else "contiguous"
    if geo.pad or geo.crop:
        extra["explicit_pad"] = (f"{geo.pad_mode} {geo.pad_pairs()}" if geo.pad else f"crop {geo.crop}")
        extra["pad_in_timed_op"] = pad_timed
    if cuda:
        extra.update(_cuda_flags(torch))
        extra.update(_cuda_kernel_names(torch, kernel, device))
        kernel.error_spread = error_spread(extra.get("cuda_kernels", ""))
        algorithm = "cudnn" if backend_name in ("Cudnn", "CudnnTranspose") else f"aten:{_snake(backend_name)}"
        family = {"output": ":fft", "tile": ":winograd"}.get(kernel.error_spread, "")
        algorithm += family
    else:
        extra["threads"] = torch.get_num_threads()
        out, trace = _onednn_trace(torch, fn)
        kernel._out = out
        algorithm = _cpu_algorithm(trace, backend_name, extra)
        kernel.error_spread = error_spread("+".join(trace.convolutions))
    kernel.algorithm = geo.prefix + algorithm
    kernel.layout = layout_name(case.layout, spec.dims)
    kernel.extra = extra
    return kernel


def _dgrad_fn(torch, F, geo: Geometry, spec, fmt, x, w, dy, conv_bwd, stride, padding, dilation, out_pad, groups,
              mask):
    """The dgrad callable, the input-shaped tensor torch's op sees, the output gradient it
    sees, and whether a pad (or a pad's backward) is inside the call."""
    transposed = spec.transposed
    if geo.crop:
        crop_pad, fpad = _fpad_order(geo.crop), F.pad
        rest = (x, w, None, stride, padding, dilation, transposed, out_pad, groups, mask)

        def fn():
            return conv_bwd(fpad(dy, crop_pad), *rest)[0]

        return fn, x, fpad(dy, crop_pad), True
    if not geo.pad:
        args = (dy, x, w, None, stride, padding, dilation, transposed, out_pad, groups, mask)

        def fn():
            return conv_bwd(*args)[0]

        return fn, x, dy, False
    # The padded input's shape (a data gradient reads its sizes, not its values).
    xp = F.pad(x, geo.pad, geo.pad_mode).contiguous(memory_format=fmt)
    args = (dy, xp, w, None, stride, padding, dilation, False, out_pad, groups, mask)
    pairs = geo.pad_pairs()
    mode = geo.pad_mode
    if mode == "constant":  # the backward of a zero pad is a view of the interior

        def fn():
            return _crop(conv_bwd(*args)[0], pairs)

    elif mode in ("reflect", "replicate"):
        name = f"{'reflection' if mode == 'reflect' else 'replication'}_pad{spec.dims}d_backward"
        pad_bwd = getattr(torch.ops.aten, name).default
        pad_ = list(geo.pad)

        def fn():
            return pad_bwd(conv_bwd(*args)[0], x, pad_)

    else:
        sizes = tuple(spec.input_size)

        def fn():
            return _fold_circular(conv_bwd(*args)[0], pairs, sizes)

    return fn, xp, dy, True


def _cpu_fp32_precision(torch, extra: dict) -> None:
    """Keep oneDNN's fp32 convs in fp32 (``mkldnn.conv.fp32_precision`` 'bf16' would run them
    in bf16) and record the setting."""
    conv = getattr(getattr(torch.backends, "mkldnn", None), "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        if conv.fp32_precision not in ("none", "ieee"):
            conv.fp32_precision = "none"
        extra["mkldnn_conv_fp32_precision"] = str(conv.fp32_precision)
    extra["mkldnn_enabled"] = bool(torch.backends.mkldnn.enabled)


def _cpu_algorithm(trace: OneDNNTrace, backend_name: str, extra: dict) -> str:
    if trace.primitives:
        extra["onednn_primitives"] = trace.describe()
        extra["onednn_reorders"] = trace.reorders
    if trace.convolutions:
        return "+".join(trace.convolutions)
    return f"aten:{_snake(backend_name)}"


def _cuda_flags(torch) -> dict[str, Any]:
    out: dict[str, Any] = {
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_allow_tf32": bool(torch.backends.cudnn.allow_tf32),
        "matmul_allow_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
    }
    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        out["cudnn_conv_fp32_precision"] = str(conv.fp32_precision)
    return out


def _cuda_kernel_names(torch, kernel: TorchKernel, device) -> dict[str, Any]:
    """Names of the GPU kernels one run() launches, from a one-shot profiler pass."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the profiler's notes on its own cycles
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                kernel.run()
                torch.cuda.synchronize(device)
    except RuntimeError as exc:  # CUPTI missing or busy: the row still runs, without names
        return {"cuda_kernels_error": str(exc).splitlines()[0][:200]}
    names = [ev.name for ev in prof.events() if ev.device_type == DeviceType.CUDA]
    return {"cuda_kernels": ";".join(names), "cuda_kernel_count": len(names)}


# ---------------------------------------------------------------------------------------------
# int8 (CPU)
# ---------------------------------------------------------------------------------------------
def _exact_result(torch, spec, inputs: Inputs):
    """The exact integer forward result (float64 tensor, canonical layout) of the inputs."""
    x = torch.from_numpy(np.ascontiguousarray(inputs.x))
    w = torch.from_numpy(np.ascontiguousarray(inputs.w))
    b = torch.from_numpy(np.ascontiguousarray(inputs.b)) if spec.bias and inputs.b is not None else None
    bound = float(np.abs(inputs.x).max(initial=0) * np.abs(inputs.w).max(initial=0)) * spec.reduction_length
    bound += float(np.abs(inputs.b).max(initial=0)) if b is not None else 0.0
    dtype = torch.float32 if _exact_int_range(bound) else torch.float64
    import torch.nn.functional as F

    geo = geometry(spec)
    x = x.to(dtype)
    if geo.pad:
        x = F.pad(x, geo.pad, geo.pad_mode)
    out_pad = list(spec.output_padding) if spec.transposed else [0] * spec.dims
    y = torch.ops.aten.convolution(x, w.to(dtype), None if b is None else b.to(dtype), list(spec.stride),
                                   list(geo.conv_padding), list(spec.dilation), spec.transposed, out_pad, spec.groups)
    return _crop(y, geo.crop).to(torch.float64)


def _prepare_int8(torch, case: Case, inputs: Inputs) -> TorchKernel:
    import torch.nn.functional as F

    spec = case.spec
    geo = geometry(spec)
    zp = int(inputs.x_zero_point)
    fmt = _memory_format(torch, case.layout, spec.dims)
    extra: dict[str, Any] = {
        "x_dtype": "uint8", "x_scale": 1.0, "x_zero_point": zp,
        "w_dtype": "int8", "w_scale": 1.0, "w_zero_point": 0,
    }
    _check_int8_inputs(inputs, zp)
    ao = case.algorithm == "ao-quantized"
    out_zp = 0
    if ao:
        exact = _exact_result(torch, spec, inputs)
        lo, hi = int(exact.min().item()), int(exact.max().item())
        out_zp = min(max(-lo, 0), 255)
        if lo + out_zp < 0 or hi + out_zp > 255:
            raise InexactQuantizedOutput(
                f"ao-quantized: the exact result spans [{lo}, {hi}] ({hi - lo + 1} integers) and the quint8 "
                f"output holds 256 values at scale 1, so no output scale or zero point keeps it exact")
    stride, dilation = list(spec.stride), list(spec.dilation)
    padding = list(geo.conv_padding)
    b = (torch.from_numpy(np.ascontiguousarray(inputs.b)).float()
         if spec.bias and inputs.b is not None else None)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # quantized-tensor deprecation notice
        t0 = time.perf_counter()
        xq = torch.from_numpy(np.ascontiguousarray(inputs.x + zp)).to(torch.uint8).contiguous(memory_format=fmt)
        wq = torch.from_numpy(np.ascontiguousarray(inputs.w)).to(torch.int8)
        if ao:
            fn, finish = _ao_fn(torch, F, spec, geo, xq, wq, b, zp, out_zp, fmt, extra)
        else:
            fn, finish = _onednn_qconv_fn(torch, F, spec, geo, xq, wq, b, zp, stride, padding, dilation, extra)
        kernel = TorchKernel(fn, torch.device("cpu"), finish, cuda=False)
        kernel.run()
        kernel.setup_s = time.perf_counter() - t0
        out, trace = _onednn_trace(torch, fn)
    kernel._out = out
    extra["threads"] = torch.get_num_threads()
    extra["memory_format"] = "channels_last" if fmt is not torch.contiguous_format else "contiguous"
    if geo.pad or geo.crop:
        extra["explicit_pad"] = f"{geo.pad_mode} {geo.pad_pairs()}" if geo.pad else f"crop {geo.crop}"
        extra["pad_in_timed_op"] = bool(geo.pad)
    if trace.primitives:
        extra["onednn_primitives"] = trace.describe()
        extra["onednn_reorders"] = trace.reorders
    if ao:
        engine = str(torch.backends.quantized.engine)
        extra["quantized_engine"] = engine
        impl = "+".join(trace.convolutions) if trace.convolutions else (
            "fbgemm" if engine in ("x86", "fbgemm") else engine)
        kernel.algorithm = geo.prefix + "ao-quantized:" + impl
    else:
        impl = "+".join(trace.convolutions) if trace.convolutions else "unknown"
        kernel.algorithm = geo.prefix + "onednn.qconv:" + impl
    kernel.layout = layout_name(case.layout, spec.dims)
    kernel.extra = extra
    return kernel


def _check_int8_inputs(inputs: Inputs, zp: int) -> None:
    """int8 runs the inputs' own integers: x + zero point must fit uint8 and w int8."""
    from convbench.errors import ConvbenchError

    for name, arr, lo, hi in (("x", inputs.x + zp, 0, 255), ("w", inputs.w, -128, 127)):
        if arr.size and (not np.array_equal(arr, np.round(arr)) or arr.min() < lo or arr.max() > hi):
            raise ConvbenchError(
                f"inputs: int8 needs integer inputs ({name}{' + x_zero_point' if name == 'x' else ''} in "
                f"[{lo}, {hi}]); got {inputs.distribution!r} values in [{arr.min():g}, {arr.max():g}]")


def _onednn_qconv_fn(torch, F, spec, geo: Geometry, xq, wq, b, zp, stride, padding, dilation, extra):
    """onednn::qconv2d_pointwise (2D) / qconv_pointwise (1D, 3D): uint8 x int8 -> fp32."""
    k = spec.out_channels
    w_scales = torch.ones(k, dtype=torch.float64)
    w_zps = torch.zeros(k, dtype=torch.int64)
    in_shape = list(xq.shape)
    if geo.pad:
        in_shape = list(F.pad(xq, geo.pad, geo.pad_mode, **({"value": zp} if geo.pad_mode == "constant" else {})).shape)
    packed = torch.ops.onednn.qconv_prepack(wq, w_scales, 1.0, zp, stride, padding, dilation, spec.groups, in_shape)
    op_name = _QCONV_OPS[spec.dims]
    op = getattr(torch.ops.onednn, op_name).default
    extra.update(op=f"onednn::{op_name}", w_qscheme="per_channel", output_dtype="fp32",
                 output_scale=1.0, output_zero_point=0)
    groups, fp32 = spec.groups, torch.float32
    if geo.pad:
        pad_, mode = geo.pad, geo.pad_mode
        kw = {"value": zp} if mode == "constant" else {}
        fpad = F.pad

        def fn():
            return op(fpad(xq, pad_, mode, **kw), 1.0, zp, packed, w_scales, w_zps, b, stride, padding, dilation,
                      groups, 1.0, 0, fp32, "none", [], "")
    else:
        def fn():
            return op(xq, 1.0, zp, packed, w_scales, w_zps, b, stride, padding, dilation, groups, 1.0, 0, fp32,
                      "none", [], "")
    return fn, _identity


def _ao_fn(torch, F, spec, geo: Geometry, xq_u8, wq, b, zp, out_zp, fmt, extra):
    """torch.ops.quantized conv / conv_transpose on quint8 x qint8 -> quint8 (scale 1)."""
    d = spec.dims
    qx = torch._make_per_tensor_quantized_tensor(xq_u8, 1.0, zp).contiguous(memory_format=fmt)
    if spec.transposed:
        qw = torch._make_per_tensor_quantized_tensor(wq, 1.0, 0)
        extra["w_qscheme"] = "per_tensor"
        prepack = getattr(torch.ops.quantized, f"conv_transpose{d}d_prepack")
        packed = prepack(qw, b, list(spec.stride), list(geo.conv_padding), list(spec.output_padding),
                         list(spec.dilation), spec.groups)
        op = getattr(torch.ops.quantized, f"conv_transpose{d}d").default
        name = f"quantized::conv_transpose{d}d"
    else:
        k = spec.out_channels
        qw = torch._make_per_channel_quantized_tensor(wq, torch.ones(k, dtype=torch.float64),
                                                      torch.zeros(k, dtype=torch.int64), 0)
        extra["w_qscheme"] = "per_channel"
        prepack = getattr(torch.ops.quantized, f"conv{d}d_prepack")
        packed = prepack(qw, b, list(spec.stride), list(geo.conv_padding), list(spec.dilation), spec.groups)
        opp = getattr(torch.ops.quantized, f"conv{d}d")
        op = opp.default if d == 1 else opp.new
        name = f"quantized::conv{d}d"
    extra.update(op=name, output_dtype="quint8", output_scale=1.0, output_zero_point=out_zp)
    crop = geo.crop

    def finish(t):
        return _crop(t, crop).dequantize()

    if geo.pad:
        pad_, mode = geo.pad, geo.pad_mode
        fpad = F.pad

        def fn():
            return op(fpad(qx, pad_, mode), packed, 1.0, out_zp)
    else:
        def fn():
            return op(qx, packed, 1.0, out_zp)
    return fn, finish
