"""The one exception type whose message is meant for the user."""


class DenoiseError(Exception):
    """An expected failure (bad input, missing file, full disk).

    The CLI prints ``Error: <message>`` and exits 1; anything else is a bug and keeps its traceback.
    """
