"""The classifier's error type: one clear message (in French) for the student."""


class ClassifierError(Exception):
    """A failure the user can act on; ``str(err)`` is the French message printed on stderr."""
