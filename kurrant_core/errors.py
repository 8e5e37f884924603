"""The one exception type a user can cause (subclasses narrow it); pages catch it and show its message."""
from __future__ import annotations


class KurrantError(Exception):
    """A problem the user can fix (bad setting, unknown user, empty database, database down).

    The message says what happened and what to do about it; it never carries a password.

    ``str(exc)`` is the English message (the CLI prints it). A page shows the same error in the
    session's language: ``key`` names its ``err.*`` entry in :mod:`kurrant_core.ui_text`'s catalogue
    and ``values`` fill that entry's fields (``ui_text.error_text`` reads them). An error without a
    key is shown in English.
    """

    def __init__(self, *args: object, key: str | None = None, **values: object):
        super().__init__(*args)
        self.key = key
        self.values = values


class ModelNotApplicable(KurrantError):
    """The training data lack what one model needs (no food carries a taste tag, nobody ordered twice).

    A model's ``_fit`` raises it; ``Recommender.fit`` catches it and fits the popularity baseline
    in the model's place, so one unsuitable model never fails a whole evaluation or retrain. The
    message is one line: what is missing and what would make the model usable. It becomes the
    run's warning (``Recommender.fit_warnings``).
    """


class EnsembleRefused(KurrantError):
    """An ensemble's members cannot be fused (missing, not done, trained on different cutoffs, an
    uncovered list with its model gone); nothing was written."""
