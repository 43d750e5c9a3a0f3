"""What run.json records about the machine: versions, CPU, GPUs, threads, warnings.

Package versions are read from installed metadata (no framework is imported here); each
worker adds its backend's own versions (cuDNN, oneDNN, XLA) at start-up.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import convbench

_PACKAGES = (
    "numpy", "torch", "jax", "jaxlib", "tensorflow", "tensorflow-cpu", "keras", "triton",
    "onednn-cpu-gomp", "ml_dtypes", "pandas", "pyarrow", "scipy", "nvidia-ml-py",
)
_ENV_VARS = (
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "KMP_AFFINITY",
    "GOMP_CPU_AFFINITY", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "XLA_FLAGS", "TF_ENABLE_ONEDNN_OPTS",
    "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "TORCH_CUDNN_V8_API_DISABLED", "CONVBENCH_DNNL_LIB",
)


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that change what convbench measures."""
    out = {}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    """convbench's git commit when it runs from a checkout (with '+dirty' if modified)."""
    root = Path(convbench.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (commit + ("+dirty" if dirty else "")) or None


def collect(devices: list[str], threads: int) -> dict:
    """The environment block of run.json for a run on ``devices`` with ``threads``."""
    from convbench.harness.devices import get_device

    env = {
        "host": socket.gethostname(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "convbench": convbench.__version__,
        "convbench_commit": git_commit(),
        "packages": package_versions(),
        "threads": threads,
        "env": {k: os.environ[k] for k in _ENV_VARS if k in os.environ},
        "devices": {},
        "warnings": [],
    }
    kinds_done = set()
    for device in ["cpu", *devices]:
        mod = get_device(device)
        if mod.available() is not None:
            env["devices"][device] = {"unavailable": mod.available()}
            continue
        try:
            env["devices"][device] = mod.environment(device)
            if mod.KIND not in kinds_done:
                env["warnings"] += mod.warnings(device)
                kinds_done.add(mod.KIND)
        except Exception as exc:  # environment capture must never stop a run
            env["devices"][device] = {"error": f"{type(exc).__name__}: {exc}"}
    return env
