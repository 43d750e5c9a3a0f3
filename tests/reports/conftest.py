"""Fixtures of the report tests: synthetic run directories (see report_helpers)."""

import pytest
from report_helpers import write_run


@pytest.fixture
def make_run(tmp_path):
    """make_run(rows, peaks=None, root=None, ...) -> path of a new run directory."""

    def make(rows, root=None, **kwargs):
        return write_run(root or (tmp_path / "runs"), rows, **kwargs)

    return make
