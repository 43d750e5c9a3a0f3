"""User-facing errors.

A :class:`ConvbenchError` is a user's mistake (a bad descriptor, a missing file, an impossible
layer): one line that names the thing and the value. The CLI prints it as
``convbench: error: <line>`` and exits 2. Internal bugs are never dressed up as one.
"""


class ConvbenchError(ValueError):
    """A one-line error caused by user input; the CLI exits with status 2."""
