"""A ctypes binding of the part of oneDNN's C API that convbench's ``onednn`` backend uses.

oneDNN (libdnnl.so.3) ships no Python binding, so this module declares the C functions it calls
(argument and return types) and the enum values it passes, and turns every non-success status
into a :class:`DnnlError` that names the function and the status. It knows nothing of convbench's
cases: :mod:`convbench.backends.onednn` builds convolutions from these pieces.

The constants below were read from the oneDNN v3.2.0 development headers of the
``onednn-devel-cpu-gomp==2023.2.0`` wheel (``include/oneapi/dnnl/dnnl_types.h``,
``dnnl_common_types.h``, ``dnnl_config.h``) by compiling a C program that prints them. The
oneDNN 3.x C API keeps these values stable across minor versions.

Every handle here is a ``ctypes.c_void_p``. :class:`Handles` owns created handles and destroys
them in reverse order of creation, once.
"""

from __future__ import annotations

import ctypes
import os
import sys
from dataclasses import dataclass
from typing import Callable

# ---- dnnl_status_t (dnnl_common_types.h) ----------------------------------------------------
SUCCESS = 0
UNIMPLEMENTED = 3
STATUS_NAMES: dict[int, str] = {
    0: "dnnl_success",
    1: "dnnl_out_of_memory",
    2: "dnnl_invalid_arguments",
    3: "dnnl_unimplemented",
    4: "dnnl_last_impl_reached",
    5: "dnnl_runtime_error",
    6: "dnnl_not_required",
    7: "dnnl_invalid_graph",
    8: "dnnl_invalid_graph_op",
    9: "dnnl_invalid_shape",
    10: "dnnl_invalid_data_type",
}

# ---- dnnl_data_type_t (dnnl_common_types.h) -------------------------------------------------
DT_F16 = 1
DT_BF16 = 2
DT_F32 = 3
DT_S32 = 4
DT_S8 = 5
DT_U8 = 6
DATA_TYPE_NAMES: dict[int, str] = {
    DT_F16: "f16", DT_BF16: "bf16", DT_F32: "f32", DT_S32: "s32", DT_S8: "s8", DT_U8: "u8",
}

# ---- dnnl_engine_kind_t, dnnl_stream_flags_t ------------------------------------------------
ENGINE_CPU = 1
STREAM_DEFAULT_FLAGS = 1  # dnnl_stream_in_order

# ---- dnnl_format_kind_t (dnnl_types.h) ------------------------------------------------------
FORMAT_KIND_UNDEF = 0
FORMAT_KIND_ANY = 1
FORMAT_KIND_BLOCKED = 2
FORMAT_KIND_OPAQUE = 3

# ---- dnnl_format_tag_t (dnnl_types.h): letter tags name dims in logical order ---------------
TAG_ANY = 1
#: Plain "abc..." tags by number of dims: dnnl_a=2 ... dnnl_abcdef=7
#: (= ncw/nchw/ncdhw for data, oiw/oihw/oidhw and goiw/goihw/goidhw for weights).
TAG_PLAIN: dict[int, int] = {1: 2, 2: 3, 3: 4, 4: 5, 5: 6, 6: 7}
#: Channels-last data tags by number of dims: dnnl_acb (nwc), dnnl_acdb (nhwc), dnnl_acdeb (ndhwc).
TAG_CHANNELS_LAST: dict[int, int] = {3: 15, 4: 22, 5: 33}
#: First two dims swapped: dnnl_bac (iow), dnnl_bacd (iohw), dnnl_bacde (iodhw).
TAG_SWAP_01: dict[int, int] = {3: 16, 4: 25, 5: 35}
#: Dims 1 and 2 swapped: dnnl_acbd (giow), dnnl_acbde (giohw), dnnl_acbdef (giodhw).
TAG_SWAP_12: dict[int, int] = {4: 21, 5: 32, 6: 43}

# ---- dnnl_prop_kind_t, dnnl_alg_kind_t (dnnl_types.h) ---------------------------------------
PROP_FORWARD_TRAINING = 64
PROP_FORWARD_INFERENCE = 96
PROP_BACKWARD_DATA = 160
PROP_BACKWARD_WEIGHTS = 192
ALG_CONVOLUTION_DIRECT = 0x1
ALG_CONVOLUTION_WINOGRAD = 0x2
ALG_CONVOLUTION_AUTO = 0x3
ALG_DECONVOLUTION_DIRECT = 0xA
ALG_DECONVOLUTION_WINOGRAD = 0xB

# ---- dnnl_query_t (dnnl_types.h) ------------------------------------------------------------
QUERY_IMPL_INFO_STR = 8
QUERY_STRIDES = 14  # on a memory descriptor: strides between outermost blocks
QUERY_SRC_MD = 129
QUERY_DIFF_SRC_MD = 130
QUERY_WEIGHTS_MD = 131
QUERY_DIFF_WEIGHTS_MD = 132
QUERY_DST_MD = 133
QUERY_DIFF_DST_MD = 134
QUERY_SCRATCHPAD_MD = 136
QUERY_EXEC_ARG_MD = 255  # index: a DNNL_ARG_* value
QUERY_NDIMS_S32 = 256
QUERY_DIMS = 257
QUERY_DATA_TYPE = 258
QUERY_PADDED_DIMS = 260
QUERY_FORMAT_KIND = 262
QUERY_INNER_NBLKS_S32 = 263
QUERY_INNER_BLKS = 264
QUERY_INNER_IDXS = 265

# ---- dnnl_scratchpad_mode_t -----------------------------------------------------------------
SCRATCHPAD_MODE_USER = 1

# ---- DNNL_ARG_* (dnnl_types.h) --------------------------------------------------------------
ARG_SRC = 1
ARG_DST = 17
ARG_FROM = 1
ARG_TO = 17
ARG_WEIGHTS = 33
ARG_BIAS = 41
ARG_SCRATCHPAD = 80
ARG_DIFF_SRC = 129
ARG_DIFF_DST = 145
ARG_DIFF_WEIGHTS = 161
ARG_ATTR_SCALES = 4096
ARG_ATTR_ZERO_POINTS = 8192

# ---- dnnl_cpu_isa_t (dnnl_types.h): bit sets, each ISA contains the ones below it ------------
CPU_ISA_NAMES: dict[int, str] = {
    0x0: "default",
    0x1: "sse41",
    0x3: "avx",
    0x7: "avx2",
    0xF: "avx2_vnni",
    0x1F: "avx2_vnni_2",
    0x27: "avx512_core",
    0x67: "avx512_core_vnni",
    0xE7: "avx512_core_bf16",
    0x1EF: "avx512_core_fp16",
    0xFEF: "avx512_core_amx",
    0x1FEF: "avx512_core_amx_fp16",
}
CPU_ISA_AVX512_CORE_FP16 = 0x1EF
#: The bits that avx2_vnni (0x8) and avx512_core_vnni (0x40) add to their base ISAs.
CPU_ISA_VNNI_BITS = 0x48

# ---- DNNL_RUNTIME_* (dnnl_config.h) ---------------------------------------------------------
RUNTIME_NAMES: dict[int, str] = {
    0: "none", 1: "seq", 2: "omp", 4: "tbb", 8: "threadpool", 256: "ocl", 512: "sycl",
}
RUNTIME_OMP = 2

MAX_NDIMS = 12  # DNNL_MAX_NDIMS; dnnl_dims_t is int64_t[12]
MEMORY_ALLOCATE = ctypes.c_void_p(ctypes.c_size_t(-1).value)  # DNNL_MEMORY_ALLOCATE

LIBRARY_ENV = "CONVBENCH_DNNL_LIB"
LIBRARY_NAME = "libdnnl.so.3"

Dims = ctypes.c_int64 * MAX_NDIMS


class Version(ctypes.Structure):
    """dnnl_version_t (32 bytes: hash at offset 16, cpu_runtime at 24)."""

    _fields_ = [
        ("major", ctypes.c_int),
        ("minor", ctypes.c_int),
        ("patch", ctypes.c_int),
        ("hash", ctypes.c_char_p),
        ("cpu_runtime", ctypes.c_uint),
        ("gpu_runtime", ctypes.c_uint),
    ]


class ExecArg(ctypes.Structure):
    """dnnl_exec_arg_t: {int arg; dnnl_memory_t memory;} (16 bytes)."""

    _fields_ = [("arg", ctypes.c_int), ("memory", ctypes.c_void_p)]


class DnnlError(RuntimeError):
    """A oneDNN C call returned a status other than dnnl_success."""

    def __init__(self, function: str, status: int) -> None:
        self.function = function
        self.status = status
        self.status_name = STATUS_NAMES.get(status, f"status {status}")
        super().__init__(f"{function} failed: {self.status_name}")


class DnnlUnimplemented(DnnlError):
    """dnnl_unimplemented: oneDNN has no implementation for what was asked."""


_P = ctypes.POINTER
_VP = ctypes.c_void_p
_INT = ctypes.c_int
_STATUS = ctypes.c_int
# name -> (restype, argtypes)
_SIGNATURES: dict[str, tuple[object, list]] = {
    "dnnl_version": (_P(Version), []),
    "dnnl_get_effective_cpu_isa": (_INT, []),
    "dnnl_engine_create": (_STATUS, [_P(_VP), _INT, ctypes.c_size_t]),
    "dnnl_engine_destroy": (_STATUS, [_VP]),
    "dnnl_stream_create": (_STATUS, [_P(_VP), _VP, ctypes.c_uint]),
    "dnnl_stream_wait": (_STATUS, [_VP]),
    "dnnl_stream_destroy": (_STATUS, [_VP]),
    "dnnl_memory_desc_create_with_tag": (_STATUS, [_P(_VP), _INT, Dims, _INT, _INT]),
    "dnnl_memory_desc_destroy": (_STATUS, [_VP]),
    "dnnl_memory_desc_query": (_STATUS, [_VP, _INT, _VP]),
    "dnnl_memory_desc_equal": (_INT, [_VP, _VP]),
    "dnnl_memory_desc_get_size": (ctypes.c_size_t, [_VP]),
    "dnnl_memory_create": (_STATUS, [_P(_VP), _VP, _VP, _VP]),
    "dnnl_memory_destroy": (_STATUS, [_VP]),
    "dnnl_primitive_attr_create": (_STATUS, [_P(_VP)]),
    "dnnl_primitive_attr_destroy": (_STATUS, [_VP]),
    "dnnl_primitive_attr_set_scratchpad_mode": (_STATUS, [_VP, _INT]),
    "dnnl_primitive_attr_set_zero_points_mask": (_STATUS, [_VP, _INT, _INT]),
    "dnnl_convolution_forward_primitive_desc_create": (
        _STATUS, [_P(_VP), _VP, _INT, _INT, _VP, _VP, _VP, _VP, Dims, Dims, Dims, Dims, _VP]),
    "dnnl_convolution_backward_data_primitive_desc_create": (
        _STATUS, [_P(_VP), _VP, _INT, _VP, _VP, _VP, Dims, Dims, Dims, Dims, _VP, _VP]),
    "dnnl_convolution_backward_weights_primitive_desc_create": (
        _STATUS, [_P(_VP), _VP, _INT, _VP, _VP, _VP, _VP, Dims, Dims, Dims, Dims, _VP, _VP]),
    "dnnl_deconvolution_forward_primitive_desc_create": (
        _STATUS, [_P(_VP), _VP, _INT, _INT, _VP, _VP, _VP, _VP, Dims, Dims, Dims, Dims, _VP]),
    "dnnl_deconvolution_backward_data_primitive_desc_create": (
        _STATUS, [_P(_VP), _VP, _INT, _VP, _VP, _VP, Dims, Dims, Dims, Dims, _VP, _VP]),
    "dnnl_deconvolution_backward_weights_primitive_desc_create": (
        _STATUS, [_P(_VP), _VP, _INT, _VP, _VP, _VP, _VP, Dims, Dims, Dims, Dims, _VP, _VP]),
    "dnnl_reorder_primitive_desc_create": (_STATUS, [_P(_VP), _VP, _VP, _VP, _VP, _VP]),
    "dnnl_primitive_desc_query": (_STATUS, [_VP, _INT, _INT, _VP]),
    "dnnl_primitive_desc_query_md": (_VP, [_VP, _INT, _INT]),
    "dnnl_primitive_desc_destroy": (_STATUS, [_VP]),
    "dnnl_primitive_create": (_STATUS, [_P(_VP), _VP]),
    "dnnl_primitive_destroy": (_STATUS, [_VP]),
    "dnnl_primitive_execute": (_STATUS, [_VP, _VP, _INT, _P(ExecArg)]),
}


def library_path() -> str:
    """Path of the libdnnl to load: ``$CONVBENCH_DNNL_LIB`` when set, else
    ``sys.prefix + "/lib/libdnnl.so.3"`` (where the ``onednn-cpu-*`` wheels install it)."""
    env = os.environ.get(LIBRARY_ENV, "").strip()
    if env:
        return env
    return os.path.join(sys.prefix, "lib", LIBRARY_NAME)


def dims(values) -> Dims:
    """A dnnl_dims_t (int64[12]) holding ``values`` and zeros after them."""
    values = tuple(int(v) for v in values)
    if len(values) > MAX_NDIMS:
        raise ValueError(f"dims: at most {MAX_NDIMS} values, got {len(values)}")
    return Dims(*values)


class Library:
    """libdnnl loaded with ctypes, every used function declared; ``call`` checks statuses."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lib = ctypes.CDLL(path)
        self._fn: dict[str, Callable] = {}
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(self._lib, name)  # AttributeError: not a oneDNN 3.x library
            fn.restype = restype
            fn.argtypes = argtypes
            self._fn[name] = fn

    def function(self, name: str) -> Callable:
        """The raw declared C function (no status check), for hot paths."""
        return self._fn[name]

    def call(self, name: str, *args) -> None:
        """Call C function ``name``; raise :class:`DnnlUnimplemented` for dnnl_unimplemented
        and :class:`DnnlError` for any other non-success status."""
        status = self._fn[name](*args)
        if status != SUCCESS:
            raise (DnnlUnimplemented if status == UNIMPLEMENTED else DnnlError)(name, status)

    # ---- library facts -------------------------------------------------------------------
    def version(self) -> Version:
        """dnnl_version(): major, minor, patch, git hash, runtimes."""
        return self._fn["dnnl_version"]().contents

    def cpu_isa(self) -> int:
        """dnnl_get_effective_cpu_isa(): the dnnl_cpu_isa_t value oneDNN dispatches to."""
        return int(self._fn["dnnl_get_effective_cpu_isa"]())

    # ---- memory descriptors --------------------------------------------------------------
    def md_create(self, shape, data_type: int, tag: int) -> ctypes.c_void_p:
        """dnnl_memory_desc_create_with_tag; the caller owns (destroys) the result."""
        md = ctypes.c_void_p()
        self.call("dnnl_memory_desc_create_with_tag", ctypes.byref(md), len(shape), dims(shape),
                  data_type, tag)
        return md

    def md_query_int(self, md, what: int) -> int:
        """An int-valued memory descriptor query (ndims, data type, format kind, nblks)."""
        out = ctypes.c_int()
        self.call("dnnl_memory_desc_query", md, what, ctypes.byref(out))
        return out.value

    def md_query_dims(self, md, what: int, count: int) -> tuple[int, ...]:
        """A dims-valued memory descriptor query (dims, strides, inner blocks/indices)."""
        out = ctypes.POINTER(ctypes.c_int64)()
        self.call("dnnl_memory_desc_query", md, what, ctypes.byref(out))
        return tuple(out[i] for i in range(count))

    def md_equal(self, a, b) -> bool:
        """dnnl_memory_desc_equal."""
        return bool(self._fn["dnnl_memory_desc_equal"](a, b))

    def md_size(self, md) -> int:
        """Bytes a memory object of this descriptor needs (0 for an empty descriptor)."""
        return int(self._fn["dnnl_memory_desc_get_size"](md))

    # ---- primitive descriptors -----------------------------------------------------------
    def pd_md(self, pd, what: int, index: int = 0) -> ctypes.c_void_p:
        """dnnl_primitive_desc_query_md; the descriptor belongs to ``pd`` (do not destroy)."""
        md = self._fn["dnnl_primitive_desc_query_md"](pd, what, index)
        if not md:
            raise DnnlError(f"dnnl_primitive_desc_query_md(what={what})", 2)
        return ctypes.c_void_p(md)

    def pd_impl_info(self, pd) -> str:
        """The implementation name of a primitive descriptor (dnnl_query_impl_info_str)."""
        out = ctypes.c_char_p()
        self.call("dnnl_primitive_desc_query", pd, QUERY_IMPL_INFO_STR, 0, ctypes.byref(out))
        return (out.value or b"").decode()


@dataclass(frozen=True)
class BlockedLayout:
    """The physical layout of a blocked memory descriptor.

    ``outer``: dim indices from outermost to innermost by stride; ``blocks``: inner blocks as
    (dim index, size) from outermost to innermost.
    """

    outer: tuple[int, ...]
    blocks: tuple[tuple[int, int], ...]

    def tag(self) -> str:
        """oneDNN's letter tag, e.g. ``abcd`` (plain), ``acdb`` (channels last), ``aBcd16b``.

        Dims are the letters a, b, c... in logical order; a dim that is split into blocks is
        upper case in the outer part and each inner block follows as ``<size><letter>``.
        """
        blocked = {d for d, _ in self.blocks}
        letter = lambda d: chr(ord("a") + d)  # noqa: E731
        outer = "".join(letter(d).upper() if d in blocked else letter(d) for d in self.outer)
        return outer + "".join(f"{size}{letter(d)}" for d, size in self.blocks)


def blocked_layout(lib: Library, md) -> BlockedLayout | None:
    """The layout of a memory descriptor of format kind ``blocked``; None for other kinds."""
    if lib.md_query_int(md, QUERY_FORMAT_KIND) != FORMAT_KIND_BLOCKED:
        return None
    ndims = lib.md_query_int(md, QUERY_NDIMS_S32)
    strides = lib.md_query_dims(md, QUERY_STRIDES, ndims)
    nblks = lib.md_query_int(md, QUERY_INNER_NBLKS_S32)
    blks = lib.md_query_dims(md, QUERY_INNER_BLKS, nblks) if nblks else ()
    idxs = lib.md_query_dims(md, QUERY_INNER_IDXS, nblks) if nblks else ()
    # Outer order: larger stride first; equal strides (dims of size 1) keep the logical order.
    outer = tuple(sorted(range(ndims), key=lambda d: (-strides[d], d)))
    blocks = tuple((int(i), int(b)) for i, b in zip(idxs, blks))
    return BlockedLayout(outer=outer, blocks=blocks)


class Handles:
    """Owns created oneDNN handles; ``close`` destroys them in reverse order, once."""

    def __init__(self, lib: Library) -> None:
        self._lib = lib
        self._owned: list[tuple[str, ctypes.c_void_p]] = []

    def own(self, destroy: str, handle: ctypes.c_void_p) -> ctypes.c_void_p:
        """Register ``handle`` to be destroyed with C function ``destroy``; return it."""
        if handle:
            self._owned.append((destroy, handle))
        return handle

    def close(self) -> None:
        """Destroy every owned handle (last created first). Statuses are ignored: a destroy
        call only fails on a null handle, which is never registered."""
        while self._owned:
            destroy, handle = self._owned.pop()
            self._lib.function(destroy)(handle)


class OpenMP:
    """The OpenMP runtime libdnnl uses, reached in-process (already loaded by libdnnl)."""

    _CANDIDATES = ("libgomp.so.1", "libiomp5.so", "libomp.so")

    def __init__(self) -> None:
        self.name = ""
        self._lib = None
        mode = getattr(os, "RTLD_NOLOAD", 4) | getattr(os, "RTLD_LAZY", 1)
        for name in self._CANDIDATES:
            try:
                lib = ctypes.CDLL(name, mode=mode)
            except OSError:
                continue
            self.name, self._lib = name, lib
            lib.omp_set_num_threads.argtypes = [ctypes.c_int]
            lib.omp_set_num_threads.restype = None
            lib.omp_get_max_threads.argtypes = []
            lib.omp_get_max_threads.restype = ctypes.c_int
            break

    @property
    def found(self) -> bool:
        """True when an OpenMP runtime is loaded in this process."""
        return self._lib is not None

    def max_threads(self) -> int:
        """omp_get_max_threads(): threads the next parallel region of this thread uses."""
        return int(self._lib.omp_get_max_threads()) if self._lib is not None else 0

    def set_threads(self, n: int) -> None:
        """omp_set_num_threads(n) for the calling thread."""
        if self._lib is not None:
            self._lib.omp_set_num_threads(int(n))
