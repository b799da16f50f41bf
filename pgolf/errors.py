"""The one exception type users see: a one-line message naming the file and the problem."""


class PgolfError(Exception):
    """An expected failure (bad input, corrupt file, missing data).

    The CLI prints ``pgolf: error: <message>`` and exits 2; no traceback unless ``--debug``.
    """
