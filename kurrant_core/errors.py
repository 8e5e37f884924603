"""The one exception type a user can cause; pages catch it and show its message."""


class KurrantError(Exception):
    """A problem the user can fix (bad setting, unknown user, empty database, database down).

    The message says what happened and what to do about it; it never carries a password.
    """
