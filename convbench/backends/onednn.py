"""The ``onednn`` backend: oneDNN's convolution primitives called directly, as benchdnn does.

oneDNN's C API (libdnnl.so.3 from the ``onednn-cpu-gomp`` wheel, found at
``sys.prefix + "/lib/libdnnl.so.3"`` or at ``$CONVBENCH_DNNL_LIB``) is reached through ctypes
(:mod:`convbench.backends._dnnl_capi`); no framework sits in between.

What runs for each case:

* ``fwd``: the convolution (transposed: deconvolution) forward primitive, prop kind
  ``forward_training`` for floating types and ``forward_inference`` for int8, with bias when
  the spec has one.
* ``dgrad``: the backward-data primitive; ``wgrad``: the backward-weights primitive (no bias
  gradient). Both get a ``forward_training`` primitive descriptor as their hint. A transposed
  conv uses the deconvolution primitives in all three directions; its output padding is taken
  off the right padding, which oneDNN allows down to 1 - stride (a larger output padding, as
  dilation permits at stride 1, is unsupported with a reason).
* Algorithms: ``default`` is oneDNN's direct algorithm (``convolution_direct`` /
  ``deconvolution_direct``, as benchdnn's default ``--alg=direct`` and the frameworks use);
  ``winograd`` asks for ``convolution_winograd`` / ``deconvolution_winograd`` (2D floating-point
  cases; listed by ``algorithms`` only where oneDNN implements it on this CPU, which oneDNN 3.2
  on x86-64 never does; asked for anyway, it is unsupported with oneDNN's answer). For int8,
  ``default`` runs u8 activations (x + ``Inputs.x_zero_point``) with a source zero point and
  ``s8s8`` runs s8 activations (refused on CPUs without VNNI, where oneDNN halves the weights);
  both take s8 weights, accumulate in s32 and write s32, so results are exact. Scales are left
  at oneDNN's default of 1 (no scale attribute is set).
* Dtypes: fp32 (f32 everywhere), bf16 and fp16 (every tensor in that type, bias included),
  int8 as above (f32 bias). tf32 and int4 are unsupported with a reason.
* Layouts: ``native`` gives every tensor ``format_tag::any`` so oneDNN picks its preferred
  (often blocked) layout; ``nchw`` and ``nhwc`` fix the activations' layout (ncw/nchw/ncdhw,
  nwc/nhwc/ndhwc) and leave the weights at ``any``. The ``layout`` attribute of a kernel is
  what the primitive uses for the conv's input activation (x, or dx for dgrad): ``nchw``,
  ``nhwc``, ``blocked:nChw16c``, ...; ``extra`` holds every argument's oneDNN format tag.
* Reorders from and to the canonical plain layouts happen in ``prepare`` and ``result``:
  ``run`` executes only the convolution primitive on already-reordered memory, with a
  user-managed scratchpad allocated in ``prepare``.
* Threads: oneDNN's OpenMP runtime (libgomp) is told ``omp_set_num_threads(case.threads)``
  from the calling thread when ``case.threads > 0``, else the count the process started with.
  Kernels must run on the thread that prepared them.

Whether a case can run is oneDNN's answer: ``unsupported_reason`` creates the primitive
descriptor and turns ``dnnl_unimplemented`` into a one-line reason (cached per backend).
"""

from __future__ import annotations

import ctypes
import os
import time
from dataclasses import dataclass, replace

import numpy as np

from convbench.backends import _dnnl_capi as capi
from convbench.backends.base import Case, Inputs
from convbench.errors import ConvbenchError

#: Direction -> words used in reasons.
_DIRECTION_WORDS = {"fwd": "forward", "dgrad": "backward-data", "wgrad": "backward-weights"}
_FLOAT_DTYPES = {"fp32": capi.DT_F32, "bf16": capi.DT_BF16, "fp16": capi.DT_F16}
_NUMPY_TYPES = {
    capi.DT_F32: np.float32, capi.DT_F16: np.float16, capi.DT_S32: np.int32,
    capi.DT_S8: np.int8, capi.DT_U8: np.uint8,
}
_PROP_NAMES = {
    capi.PROP_FORWARD_TRAINING: "forward_training",
    capi.PROP_FORWARD_INFERENCE: "forward_inference",
    capi.PROP_BACKWARD_DATA: "backward_data",
    capi.PROP_BACKWARD_WEIGHTS: "backward_weights",
}
#: DNNL_ARG_* -> the argument's name in ``extra`` keys (``src_dt``, ``weights_format``, ...).
_ROLES = {
    capi.ARG_SRC: "src", capi.ARG_WEIGHTS: "weights", capi.ARG_BIAS: "bias", capi.ARG_DST: "dst",
    capi.ARG_DIFF_SRC: "diff_src", capi.ARG_DIFF_DST: "diff_dst",
    capi.ARG_DIFF_WEIGHTS: "diff_weights",
}


def _numpy_type(data_type: int):
    """The numpy dtype holding oneDNN ``data_type`` on the host (bf16 via ml_dtypes)."""
    if data_type == capi.DT_BF16:
        import ml_dtypes

        return ml_dtypes.bfloat16
    return _NUMPY_TYPES[data_type]


@dataclass(frozen=True)
class ConvProblem:
    """A convbench case in oneDNN's terms (pure data; see :func:`conv_problem`).

    Dims are oneDNN's logical dims: data (N, C, *spatial); weights ([G,] O/G, I/G, *k) where
    O and I are the primitive's output and input channels (for a deconvolution O is the
    transposed conv's out_channels). ``dilates`` are oneDNN's (dilation - 1); ``padding_r`` of
    a deconvolution has the output padding taken off (it may be negative).
    ``data_tag`` is the activations' format tag for the primitive (``any`` for native).
    ``user_weights_tag`` lays the canonical (torch) weight array out in oneDNN's dims.
    """

    primitive: str  # "convolution" or "deconvolution"
    direction: str
    alg_kind: int
    forward_prop: int
    src_dt: int
    weights_dt: int
    dst_dt: int
    bias_dt: int | None
    src_dims: tuple[int, ...]
    weights_dims: tuple[int, ...]
    dst_dims: tuple[int, ...]
    strides: tuple[int, ...]
    dilates: tuple[int, ...]
    padding_l: tuple[int, ...]
    padding_r: tuple[int, ...]
    data_tag: int
    user_data_tag: int
    user_weights_tag: int
    src_zero_point: bool

    @property
    def with_bias(self) -> bool:
        """True when the forward primitive takes a bias."""
        return self.bias_dt is not None


def candidate_algorithms(case: Case) -> list[str]:
    """Algorithm names this backend can ask oneDNN for in ``case`` (``default`` first)."""
    if case.dtype == "int8":
        return ["default", "s8s8"]
    if case.dtype in _FLOAT_DTYPES and case.spec.dims == 2 and not case.spec.transposed:
        return ["default", "winograd"]
    return ["default"]


def static_reason(case: Case) -> str | None:
    """Why oneDNN cannot run ``case`` whatever the library says, or None (pure)."""
    spec = case.spec
    if case.device_kind != "cpu":
        return f"the onednn backend runs oneDNN's CPU engine only (device {case.device!r})"
    if case.dtype == "tf32":
        return "tf32 is a CUDA tensor-core mode"
    if case.dtype not in _FLOAT_DTYPES and case.dtype != "int8":
        return f"oneDNN has no {case.dtype} convolution"
    if case.direction not in _DIRECTION_WORDS:
        return f"unknown direction {case.direction!r}"
    if case.dtype == "int8" and case.direction != "fwd":
        return ("oneDNN convolutions take int8 in forward propagation only "
                "(backward data types: f32, bf16, f16)")
    if spec.kind == "deformable":
        return "oneDNN has no deformable convolution"
    if spec.padding_mode != "zeros":
        return f"oneDNN convolution pads with zeros only (padding_mode {spec.padding_mode!r})"
    if spec.transposed:
        for (_, after), op, s in zip(spec.padding, spec.output_padding, spec.stride):
            if after - op <= -s:
                return (f"oneDNN deconvolution cannot add output_padding {op} with right padding "
                        f"{after} at stride {s} (needs padding - output_padding > -stride)")
    if case.layout not in ("native", "nchw", "nhwc"):
        return f"layout {case.layout!r} is not one of native, nchw, nhwc"
    offered = candidate_algorithms(case)
    if case.algorithm not in offered:
        return (f"algorithm {case.algorithm!r} is not offered by oneDNN for {case.dtype} "
                f"{spec.dims}D (offered: {', '.join(offered)})")
    if case.threads < 0:
        return f"threads must be >= 0, got {case.threads}"
    return None


def conv_problem(case: Case) -> ConvProblem:
    """Translate a (statically supported) case into oneDNN's terms. Pure."""
    spec = case.spec
    nd = spec.dims + 2
    g = spec.groups
    deconv = spec.transposed
    if case.dtype == "int8":
        src_dt = capi.DT_S8 if case.algorithm == "s8s8" else capi.DT_U8
        weights_dt, dst_dt, bias_dt = capi.DT_S8, capi.DT_S32, capi.DT_F32
        forward_prop = capi.PROP_FORWARD_INFERENCE
    else:
        src_dt = weights_dt = dst_dt = bias_dt = _FLOAT_DTYPES[case.dtype]
        forward_prop = capi.PROP_FORWARD_TRAINING
    if case.direction != "fwd" or not spec.bias:
        bias_dt = None
    winograd = case.algorithm == "winograd"
    if deconv:
        alg = capi.ALG_DECONVOLUTION_WINOGRAD if winograd else capi.ALG_DECONVOLUTION_DIRECT
    else:
        alg = capi.ALG_CONVOLUTION_WINOGRAD if winograd else capi.ALG_CONVOLUTION_DIRECT
    cin, cout = spec.in_channels, spec.out_channels
    k = tuple(spec.kernel_size)
    if g > 1:
        weights_dims = (g, cout // g, cin // g, *k)
        user_weights_tag = capi.TAG_SWAP_12[nd + 1] if deconv else capi.TAG_PLAIN[nd + 1]
    else:
        weights_dims = (cout, cin, *k)
        user_weights_tag = capi.TAG_SWAP_01[nd] if deconv else capi.TAG_PLAIN[nd]
    padding_l = tuple(b for b, _ in spec.padding)
    padding_r = tuple(a for _, a in spec.padding)
    if deconv:
        padding_r = tuple(a - op for a, op in zip(padding_r, spec.output_padding))
    data_tag = {"native": capi.TAG_ANY, "nchw": capi.TAG_PLAIN[nd],
                "nhwc": capi.TAG_CHANNELS_LAST[nd]}[case.layout]
    return ConvProblem(
        primitive="deconvolution" if deconv else "convolution",
        direction=case.direction,
        alg_kind=alg,
        forward_prop=forward_prop,
        src_dt=src_dt,
        weights_dt=weights_dt,
        dst_dt=dst_dt,
        bias_dt=bias_dt,
        src_dims=tuple(spec.input_shape),
        weights_dims=weights_dims,
        dst_dims=tuple(spec.output_shape),
        strides=tuple(spec.stride),
        dilates=tuple(d - 1 for d in spec.dilation),
        padding_l=padding_l,
        padding_r=padding_r,
        data_tag=data_tag,
        user_data_tag=capi.TAG_PLAIN[nd],
        user_weights_tag=user_weights_tag,
        src_zero_point=src_dt == capi.DT_U8,
    )


def layout_name(tag: str, dims: int) -> str:
    """A data tensor's oneDNN letter tag in convbench's words: ``abcd`` -> ``nchw``,
    ``acdb`` -> ``nhwc``, ``aBcd16b`` -> ``blocked:nChw16c`` (``dims`` spatial dims)."""
    names = "nc" + {1: "w", 2: "hw", 3: "dhw"}[dims]
    plain = "".join(chr(ord("a") + i) for i in range(dims + 2))
    if tag == plain:
        return names
    if tag == plain[0] + plain[2:] + plain[1]:
        return names[0] + names[2:] + names[1]

    def rename(ch: str) -> str:
        if not ch.isalpha():
            return ch
        i = ord(ch.lower()) - ord("a")
        return names[i].upper() if ch.isupper() else names[i]

    return "blocked:" + "".join(rename(ch) for ch in tag)


class _Runtime:
    """libdnnl loaded, one CPU engine and one in-order stream; the OpenMP runtime beside it."""

    def __init__(self, path: str) -> None:
        self.lib = capi.Library(path)
        version = self.lib.version()
        self.version = (version.major, version.minor, version.patch)
        self.git_hash = (version.hash or b"").decode()
        self.cpu_runtime = int(version.cpu_runtime)
        self.isa = self.lib.cpu_isa()
        self.engine = ctypes.c_void_p()
        self.stream = ctypes.c_void_p()
        self.lib.call("dnnl_engine_create", ctypes.byref(self.engine), capi.ENGINE_CPU, 0)
        self.lib.call("dnnl_stream_create", ctypes.byref(self.stream), self.engine,
                      capi.STREAM_DEFAULT_FLAGS)
        self.omp = capi.OpenMP() if self.cpu_runtime == capi.RUNTIME_OMP else None
        self.default_threads = self.omp.max_threads() if self.omp and self.omp.found else 0

    @property
    def version_str(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def isa_name(self) -> str:
        return capi.CPU_ISA_NAMES.get(self.isa, hex(self.isa))

    def set_threads(self, threads: int) -> int:
        """Make the calling thread's next parallel regions use ``threads`` (0: the process's
        starting count); return the count now in effect (0 when it cannot be known)."""
        if self.omp is None or not self.omp.found:
            return 0
        self.omp.set_threads(threads if threads > 0 else self.default_threads)
        return self.omp.max_threads()

    def close(self) -> None:
        """Destroy the stream and the engine (idempotent)."""
        lib = getattr(self, "lib", None)
        if lib is None:
            return
        for name, attr in (("dnnl_stream_destroy", "stream"), ("dnnl_engine_destroy", "engine")):
            handle = getattr(self, attr, None)
            if handle:
                lib.function(name)(handle)
                setattr(self, attr, None)

    def __del__(self) -> None:
        self.close()


def _create_pd(rt: _Runtime, p: ConvProblem, handles: capi.Handles) -> ctypes.c_void_p:
    """The primitive descriptor of ``p`` (backward directions: with a forward_training hint),
    created with a user-scratchpad attribute (and a source zero point for u8). Every handle is
    owned by ``handles``. Raises capi.DnnlUnimplemented when oneDNN has no implementation."""
    lib = rt.lib

    def md(shape, data_type: int, tag: int) -> ctypes.c_void_p:
        return handles.own("dnnl_memory_desc_destroy", lib.md_create(shape, data_type, tag))

    src = md(p.src_dims, p.src_dt, p.data_tag)
    weights = md(p.weights_dims, p.weights_dt, capi.TAG_ANY)
    dst = md(p.dst_dims, p.dst_dt, p.data_tag)
    bias = md((p.dst_dims[1],), p.bias_dt, capi.TAG_PLAIN[1]) if p.with_bias else None
    attr = ctypes.c_void_p()
    lib.call("dnnl_primitive_attr_create", ctypes.byref(attr))
    handles.own("dnnl_primitive_attr_destroy", attr)
    lib.call("dnnl_primitive_attr_set_scratchpad_mode", attr, capi.SCRATCHPAD_MODE_USER)
    if p.src_zero_point:
        lib.call("dnnl_primitive_attr_set_zero_points_mask", attr, capi.ARG_SRC, 0)
    geometry = (capi.dims(p.strides), capi.dims(p.dilates), capi.dims(p.padding_l),
                capi.dims(p.padding_r))
    pd = ctypes.c_void_p()
    if p.direction == "fwd":
        lib.call(f"dnnl_{p.primitive}_forward_primitive_desc_create", ctypes.byref(pd),
                 rt.engine, p.forward_prop, p.alg_kind, src, weights, bias, dst, *geometry, attr)
        return handles.own("dnnl_primitive_desc_destroy", pd)
    hint = ctypes.c_void_p()
    lib.call(f"dnnl_{p.primitive}_forward_primitive_desc_create", ctypes.byref(hint),
             rt.engine, capi.PROP_FORWARD_TRAINING, p.alg_kind, src, weights, None, dst,
             *geometry, None)
    handles.own("dnnl_primitive_desc_destroy", hint)
    if p.direction == "dgrad":
        lib.call(f"dnnl_{p.primitive}_backward_data_primitive_desc_create", ctypes.byref(pd),
                 rt.engine, p.alg_kind, src, weights, dst, *geometry, hint, attr)
    else:
        lib.call(f"dnnl_{p.primitive}_backward_weights_primitive_desc_create", ctypes.byref(pd),
                 rt.engine, p.alg_kind, src, weights, None, dst, *geometry, hint, attr)
    return handles.own("dnnl_primitive_desc_destroy", pd)


def _runtime_reason(rt: _Runtime, case: Case) -> str | None:
    """Why this library on this CPU cannot run ``case`` as convbench needs, before asking for
    a primitive: thread counts need OpenMP; s8s8 must be exact."""
    if case.threads > 0 and (rt.omp is None or not rt.omp.found):
        return (f"this oneDNN uses the {capi.RUNTIME_NAMES.get(rt.cpu_runtime, '?')} CPU "
                "runtime; convbench sets thread counts only through OpenMP")
    if case.dtype == "int8" and case.algorithm == "s8s8" and not rt.isa & capi.CPU_ISA_VNNI_BITS:
        # Without VNNI, oneDNN's s8s8 kernels scale the weights by 0.5 to avoid saturating
        # vpmaddubsw, so odd weights lose their last bit (oneDNN's int8 computation guide).
        return (f"oneDNN {rt.version_str} runs s8s8 on this CPU (ISA {rt.isa_name}, no VNNI) "
                "with weights scaled by 0.5, which is not exact; the default u8s8 is")
    return None


def _has_fp16(isa: int) -> bool:
    """True when the effective ISA includes avx512_core_fp16's bits."""
    return (isa & capi.CPU_ISA_AVX512_CORE_FP16) == capi.CPU_ISA_AVX512_CORE_FP16


def _unimplemented_reason(rt: _Runtime, case: Case, p: ConvProblem) -> str:
    """One line for a case oneDNN refused (dnnl_unimplemented)."""
    ver = f"oneDNN {rt.version_str}"
    if case.dtype == "fp16" and not _has_fp16(rt.isa):
        return f"{ver} has no fp16 conv on this CPU (no avx512_fp16; ISA {rt.isa_name})"
    what = case.dtype
    if case.dtype == "int8":
        what = "int8 " + ("u8s8" if p.src_zero_point else "s8s8")
    if case.algorithm == "winograd":
        what = "winograd " + what
    return (f"{ver} has no {what} {p.primitive} {_DIRECTION_WORDS[case.direction]} for this "
            f"case on this CPU (ISA {rt.isa_name})")


def _host_array(values: np.ndarray, data_type: int, field: str, shift: int = 0) -> np.ndarray:
    """Float64 inputs as a C-contiguous host array of oneDNN ``data_type`` (plus ``shift``,
    the u8 zero point). Integer types need integers in range, else a ConvbenchError."""
    ntype = _numpy_type(data_type)
    if data_type in (capi.DT_S8, capi.DT_U8, capi.DT_S32):
        info = np.iinfo(ntype)
        shifted = values + shift
        if shifted.size and (not np.array_equal(shifted, np.round(shifted))
                             or shifted.min() < info.min or shifted.max() > info.max):
            raise ConvbenchError(
                f"inputs.{field}: int8 cases need integers that fit {np.dtype(ntype).name} "
                f"after adding {shift} (got values in [{values.min()}, {values.max()}])"
            )
        return np.ascontiguousarray(shifted, dtype=ntype)
    return np.ascontiguousarray(values, dtype=ntype)


def _dims_of(p: ConvProblem, arg: int) -> tuple[int, ...]:
    """oneDNN dims of execution argument ``arg`` of problem ``p``."""
    if arg in (capi.ARG_SRC, capi.ARG_DIFF_SRC):
        return p.src_dims
    if arg in (capi.ARG_DST, capi.ARG_DIFF_DST):
        return p.dst_dims
    if arg in (capi.ARG_WEIGHTS, capi.ARG_DIFF_WEIGHTS):
        return p.weights_dims
    return (p.dst_dims[1],)  # bias


class OneDNNKernel:
    """A prepared oneDNN convolution primitive and its memories (see the module docstring).

    Attributes: ``algorithm`` (the primitive's impl_info_str), ``layout`` (the layout the
    primitive uses for the conv's input activation, x or dx: ``nchw``, ``nhwc``,
    ``blocked:nChw16c``, ...; every argument's format tag is in ``extra``), ``setup_s``
    (seconds: primitive descriptor and primitive creation, allocations, input reorders and one
    first call), ``extra`` (per argument the data type and oneDNN format tag, prop kind,
    threads, scratchpad bytes, int8 zero point and scales). ``close()`` frees everything.
    """

    def __init__(self, rt: _Runtime, case: Case, p: ConvProblem, inputs: Inputs) -> None:
        self._rt = rt
        self._handles = capi.Handles(rt.lib)
        self._keep: list[np.ndarray] = []  # host buffers whose pointers oneDNN memories hold
        self._execute = rt.lib.function("dnnl_primitive_execute")
        self._prim: ctypes.c_void_p | None = None
        self.algorithm = ""
        self.layout = ""
        self.setup_s = 0.0
        self.extra: dict[str, object] = {}
        try:
            self._build(case, p, inputs)
        except BaseException:
            self.close()
            raise

    # ---- construction ------------------------------------------------------------------
    def _memory(self, md, handle) -> ctypes.c_void_p:
        mem = ctypes.c_void_p()
        self._rt.lib.call("dnnl_memory_create", ctypes.byref(mem), md, self._rt.engine, handle)
        return self._handles.own("dnnl_memory_destroy", mem)

    def _reorder(self, src_md, src_mem, dst_md, dst_mem, owner: capi.Handles):
        """A reorder primitive from ``src_mem`` to ``dst_mem`` and its argument array."""
        lib, engine = self._rt.lib, self._rt.engine
        rpd = ctypes.c_void_p()
        lib.call("dnnl_reorder_primitive_desc_create", ctypes.byref(rpd), src_md, engine,
                 dst_md, engine, None)
        owner.own("dnnl_primitive_desc_destroy", rpd)
        prim = ctypes.c_void_p()
        lib.call("dnnl_primitive_create", ctypes.byref(prim), rpd)
        owner.own("dnnl_primitive_destroy", prim)
        args = (capi.ExecArg * 2)(capi.ExecArg(capi.ARG_FROM, src_mem),
                                  capi.ExecArg(capi.ARG_TO, dst_mem))
        return prim, args

    def _describe(self, md, arg: int) -> str:
        """Record the data type and format tag oneDNN chose for ``arg``; return the tag."""
        lib, role = self._rt.lib, _ROLES[arg]
        layout = capi.blocked_layout(lib, md)
        tag = layout.tag() if layout is not None else "opaque"
        dt = lib.md_query_int(md, capi.QUERY_DATA_TYPE)
        self.extra[f"{role}_dt"] = capi.DATA_TYPE_NAMES.get(dt, str(dt))
        self.extra[f"{role}_format"] = tag
        return tag

    def _build(self, case: Case, p: ConvProblem, inputs: Inputs) -> None:
        rt, lib, spec = self._rt, self._rt.lib, case.spec
        pd = _create_pd(rt, p, self._handles)
        self.algorithm = lib.pd_impl_info(pd)
        zp = int(inputs.x_zero_point) if p.src_zero_point else 0
        w_tag, d_tag = p.user_weights_tag, p.user_data_tag
        # Inputs of each direction: (DNNL arg, host values, user tag, data type, field, shift);
        # then the output: (DNNL arg, user tag, data type, canonical shape).
        if p.direction == "fwd":
            ins = [(capi.ARG_SRC, inputs.x, d_tag, p.src_dt, "x", zp),
                   (capi.ARG_WEIGHTS, inputs.w, w_tag, p.weights_dt, "w", 0)]
            if p.with_bias:
                if inputs.b is None:
                    raise ConvbenchError("inputs.b: the spec has a bias but the inputs have none")
                ins.append((capi.ARG_BIAS, inputs.b, capi.TAG_PLAIN[1], p.bias_dt, "b", 0))
            out_arg, out_tag, out_dt, out_shape = capi.ARG_DST, d_tag, p.dst_dt, spec.output_shape
            data_arg = capi.ARG_SRC
        elif p.direction == "dgrad":
            ins = [(capi.ARG_DIFF_DST, inputs.dy, d_tag, p.dst_dt, "dy", 0),
                   (capi.ARG_WEIGHTS, inputs.w, w_tag, p.weights_dt, "w", 0)]
            out_arg, out_tag, out_dt, out_shape = (capi.ARG_DIFF_SRC, d_tag, p.src_dt,
                                                   spec.input_shape)
            data_arg = capi.ARG_DIFF_SRC
        else:
            ins = [(capi.ARG_SRC, inputs.x, d_tag, p.src_dt, "x", 0),
                   (capi.ARG_DIFF_DST, inputs.dy, d_tag, p.dst_dt, "dy", 0)]
            out_arg, out_tag, out_dt, out_shape = (capi.ARG_DIFF_WEIGHTS, w_tag, p.weights_dt,
                                                   spec.weight_shape)
            data_arg = capi.ARG_SRC

        exec_args: list[capi.ExecArg] = []
        tags: dict[int, str] = {}
        setup = capi.Handles(lib)  # input reorders and host descriptors, gone after prepare
        try:
            for arg, values, tag, dt, field, shift in ins:
                prim_md = lib.pd_md(pd, capi.QUERY_EXEC_ARG_MD, arg)
                host = _host_array(values, dt, field, shift)
                self._keep.append(host)
                user_md = setup.own("dnnl_memory_desc_destroy",
                                    lib.md_create(_dims_of(p, arg), dt, tag))
                user_mem = self._memory(user_md, ctypes.c_void_p(host.ctypes.data))
                if lib.md_equal(user_md, prim_md):
                    mem = user_mem  # the primitive reads the host buffer itself
                else:
                    mem = self._memory(prim_md, capi.MEMORY_ALLOCATE)
                    prim, args = self._reorder(user_md, user_mem, prim_md, mem, setup)
                    lib.call("dnnl_primitive_execute", prim, rt.stream, 2, args)
                exec_args.append(capi.ExecArg(arg, mem))
                tags[arg] = self._describe(prim_md, arg)
            lib.call("dnnl_stream_wait", rt.stream)
        finally:
            setup.close()

        # The output, and the reorder that result() runs into a plain host array.
        prim_md = lib.pd_md(pd, capi.QUERY_EXEC_ARG_MD, out_arg)
        out_mem = self._memory(prim_md, capi.MEMORY_ALLOCATE)
        exec_args.append(capi.ExecArg(out_arg, out_mem))
        tags[out_arg] = self._describe(prim_md, out_arg)
        host_dt = capi.DT_S32 if out_dt == capi.DT_S32 else capi.DT_F32
        self._out_host = np.zeros(out_shape, dtype=_numpy_type(host_dt))
        host_md = self._handles.own("dnnl_memory_desc_destroy",
                                    lib.md_create(_dims_of(p, out_arg), host_dt, out_tag))
        host_mem = self._memory(host_md, ctypes.c_void_p(self._out_host.ctypes.data))
        self._out_prim, self._out_args = self._reorder(prim_md, out_mem, host_md, host_mem,
                                                       self._handles)

        if p.src_zero_point:
            zp_host = np.array([zp], dtype=np.int32)
            self._keep.append(zp_host)
            zp_md = self._handles.own("dnnl_memory_desc_destroy",
                                      lib.md_create((1,), capi.DT_S32, capi.TAG_PLAIN[1]))
            zp_mem = self._memory(zp_md, ctypes.c_void_p(zp_host.ctypes.data))
            exec_args.append(capi.ExecArg(capi.ARG_ATTR_ZERO_POINTS | capi.ARG_SRC, zp_mem))
        scratch_md = lib.pd_md(pd, capi.QUERY_SCRATCHPAD_MD)
        scratch_bytes = lib.md_size(scratch_md)
        if scratch_bytes:
            exec_args.append(capi.ExecArg(capi.ARG_SCRATCHPAD,
                                          self._memory(scratch_md, capi.MEMORY_ALLOCATE)))

        prim = ctypes.c_void_p()
        lib.call("dnnl_primitive_create", ctypes.byref(prim), pd)
        self._prim = self._handles.own("dnnl_primitive_destroy", prim)
        self._args = (capi.ExecArg * len(exec_args))(*exec_args)
        self._nargs = len(exec_args)

        self.layout = layout_name(tags[data_arg], spec.dims)
        prop = {"fwd": p.forward_prop, "dgrad": capi.PROP_BACKWARD_DATA,
                "wgrad": capi.PROP_BACKWARD_WEIGHTS}[p.direction]
        self.extra.update(
            primitive=p.primitive,
            prop_kind=_PROP_NAMES[prop],
            alg_kind="winograd" if case.algorithm == "winograd" else "direct",
            scratchpad_bytes=scratch_bytes,
            onednn_isa=rt.isa_name,
        )
        if case.dtype == "int8":
            self.extra.update(int8_variant="u8s8" if p.src_zero_point else "s8s8",
                              src_zero_point=zp, scales=1.0, accumulation="s32")

    # ---- the Kernel protocol -----------------------------------------------------------
    def run(self) -> None:
        """Execute the convolution primitive once (the CPU stream runs it within this call)."""
        status = self._execute(self._prim, self._rt.stream, self._nargs, self._args)
        if status != capi.SUCCESS:
            raise capi.DnnlError("dnnl_primitive_execute", status)

    def synchronize(self) -> None:
        """dnnl_stream_wait on the backend's stream."""
        self._rt.lib.call("dnnl_stream_wait", self._rt.stream)

    def result(self) -> np.ndarray:
        """The output reordered to the canonical plain layout: float32 (exact for bf16 and
        fp16 results), int32 for int8."""
        if not self._prim:
            raise RuntimeError("onednn kernel: result() after close()")
        self.synchronize()
        status = self._execute(self._out_prim, self._rt.stream, 2, self._out_args)
        if status != capi.SUCCESS:
            raise capi.DnnlError("dnnl_primitive_execute", status)
        self.synchronize()
        return self._out_host.copy()

    def timers(self) -> list[str]:
        """CPU timers, best first."""
        return ["wall", "wall-batch"]

    def close(self) -> None:
        """Destroy the primitives, memories and descriptors (idempotent)."""
        handles = getattr(self, "_handles", None)
        if handles is not None:
            handles.close()
        self._prim = None
        self._keep = []

    def __del__(self) -> None:
        self.close()


class OneDNNBackend:
    """oneDNN 3.x through its C API (see the module docstring). The library, engine and
    stream are loaded and created once per instance, on first use."""

    name = "onednn"

    def __init__(self) -> None:
        self._rt: _Runtime | None = None
        self._load_error: str | None = None
        self._loaded = False
        self._reasons: dict[tuple, str | None] = {}

    # ---- availability ------------------------------------------------------------------
    def _runtime(self) -> _Runtime | None:
        if not self._loaded:
            self._loaded = True
            self._rt, self._load_error = _load_runtime()
        return self._rt

    def unavailable_reason(self) -> str | None:
        """None when libdnnl.so.3 loads and its CPU engine starts; else why not."""
        return None if self._runtime() is not None else self._load_error

    def versions(self) -> dict[str, str]:
        """oneDNN version, git hash, CPU runtime, effective ISA, library path, OpenMP library."""
        rt = self._runtime()
        if rt is None:
            return {}
        out = {
            "onednn": rt.version_str,
            "onednn_git_hash": rt.git_hash,
            "onednn_cpu_runtime": capi.RUNTIME_NAMES.get(rt.cpu_runtime, hex(rt.cpu_runtime)),
            "onednn_isa": rt.isa_name,
            "onednn_library": rt.lib.path,
        }
        if rt.omp is not None and rt.omp.found:
            out["openmp"] = rt.omp.name
        return out

    def devices(self) -> list[str]:
        """``["cpu"]`` when available, else ``[]``."""
        return ["cpu"] if self._runtime() is not None else []

    def algorithms(self, case: Case) -> list[str]:
        """``default`` (direct); ``s8s8`` for int8 (whose ``default`` is u8 activations with a
        zero point); ``winograd`` for 2D floating-point cases where oneDNN implements it here
        (asking for it elsewhere gets oneDNN's refusal from ``unsupported_reason``)."""
        names = candidate_algorithms(case)
        if "winograd" in names and (
            self.unsupported_reason(replace(case, algorithm="winograd")) is not None
        ):
            names.remove("winograd")
        return names

    def unsupported_reason(self, case: Case) -> str | None:
        """None when oneDNN builds this primitive here; else one line saying why not. Asks
        oneDNN (primitive descriptor creation) once per shape, dtype, direction, layout and
        algorithm."""
        rt = self._runtime()
        if rt is None:
            return self._load_error
        reason = static_reason(case)
        if reason is not None:
            return reason
        reason = _runtime_reason(rt, case)
        if reason is not None:
            return reason
        key = (case.spec.shape_key(), case.dtype, case.direction, case.layout, case.algorithm)
        if key not in self._reasons:
            self._reasons[key] = self._probe(rt, case)
        return self._reasons[key]

    def _probe(self, rt: _Runtime, case: Case) -> str | None:
        p = conv_problem(case)
        handles = capi.Handles(rt.lib)
        try:
            _create_pd(rt, p, handles)
        except capi.DnnlUnimplemented:
            return _unimplemented_reason(rt, case, p)
        except capi.DnnlError:
            if case.dtype == "fp16" and not _has_fp16(rt.isa):
                return _unimplemented_reason(rt, case, p)
            raise
        finally:
            handles.close()
        return None

    # ---- prepare -----------------------------------------------------------------------
    def prepare(self, case: Case, inputs: Inputs) -> OneDNNKernel:
        """Build the primitive, reorder the inputs into its layouts, run it once. Raises
        ConvbenchError for a case ``static_reason`` refuses and capi.DnnlUnimplemented when
        oneDNN has no implementation (``unsupported_reason`` says so first)."""
        rt = self._runtime()
        if rt is None:
            raise ConvbenchError(f"backend onednn: {self._load_error}")
        reason = static_reason(case) or _runtime_reason(rt, case)
        if reason is not None:
            raise ConvbenchError(f"case: {reason}")
        t0 = time.perf_counter()
        threads = rt.set_threads(case.threads)
        kernel = OneDNNKernel(rt, case, conv_problem(case), inputs)
        try:
            kernel.run()
            kernel.synchronize()
        except BaseException:
            kernel.close()
            raise
        kernel.setup_s = time.perf_counter() - t0
        kernel.extra["threads"] = threads
        return kernel


def _load_runtime() -> tuple[_Runtime | None, str | None]:
    """Load libdnnl and start its CPU engine: (runtime, None) or (None, why not)."""
    path = capi.library_path()
    if not os.path.exists(path):
        if os.environ.get(capi.LIBRARY_ENV, "").strip():
            return None, f"{path} not found (set by {capi.LIBRARY_ENV})"
        return None, f"{capi.LIBRARY_NAME} not found (pip install onednn-cpu-gomp)"
    try:
        rt = _Runtime(path)
    except OSError as exc:
        return None, f"cannot load {path}: {exc}"
    except AttributeError as exc:
        return None, f"{path} is not a oneDNN 3.x library ({exc})"
    except capi.DnnlError as exc:
        return None, f"oneDNN CPU engine unavailable: {exc}"
    if rt.version[0] != 3:
        rt.close()
        return None, f"{path} is oneDNN {rt.version_str}; the onednn backend needs 3.x"
    return rt, None
