"""Results: the record schema, run directories on disk, and stores of many runs.

Public API: :func:`load` (one run, a root of runs, a glob or an fsspec URL -> DataFrame).
"""

from convbench.results.schema import COLUMNS, SCHEMA_VERSION, Status

__all__ = ["COLUMNS", "SCHEMA_VERSION", "Status", "load"]


def load(path, **kwargs):
    """Read one run directory, a root of run directories, a glob or a URL into a DataFrame.

    See :func:`convbench.results.store.load` for the options.
    """
    from convbench.results.store import load as _load

    return _load(path, **kwargs)
