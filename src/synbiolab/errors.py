"""The one exception type for a user's mistake.

Library code raises :class:`SynbiolabError` with a single line that names the file, line or key and
what would be valid; the CLI prints it as ``error: ...`` and exits with status 2.
"""


class SynbiolabError(ValueError):
    """A user-facing error: bad input, unknown name, missing file. One line, no traceback."""


class TrainingDiverged(SynbiolabError):
    """The loss became NaN or infinite; the last good checkpoint is kept."""
