"""Shared test fixtures: the fault-injection backend registered for worker processes, and
the `gpu` marker's skip when no CUDA device is present."""

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
FAULT_BACKEND = "fault=fault_backend:FaultBackend"


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def pytest_collection_modifyitems(config, items):
    if _cuda_available():
        return
    skip = pytest.mark.skip(reason="no CUDA device")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def fault_backend(monkeypatch):
    """Registers the `fault` backend (tests/harness/fault_backend.py) for this process and
    for the worker processes it spawns."""
    path = str(TESTS / "harness")
    monkeypatch.setenv("CONVBENCH_BACKENDS", FAULT_BACKEND)
    monkeypatch.setenv("PYTHONPATH", path + os.pathsep + os.environ.get("PYTHONPATH", ""))
    monkeypatch.syspath_prepend(path)
    return "fault"
