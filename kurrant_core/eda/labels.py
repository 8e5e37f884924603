"""Display names of the EDA measures, for chart axes, legends and table headers.

The names live in the one label catalogue, ``kurrant_core.ui_text.MEASURES``; this module keeps the
EDA's short names for them (Korean by default, English on request).
"""
from __future__ import annotations

from kurrant_core import ui_text

MEASURE_LABEL: dict[str, str] = ui_text.labels(ui_text.MEASURES, ui_text.KO)
"""Measure / column name -> Korean label; a name missing here is shown as is."""


def measure_labels(lang: str = ui_text.DEFAULT_LANGUAGE) -> dict[str, str]:
    """Measure / column name -> label in ``lang``."""
    return ui_text.labels(ui_text.MEASURES, lang)


def korean(frame_columns, lang: str = ui_text.DEFAULT_LANGUAGE) -> dict[str, str]:
    """``{column: label}`` for the columns that have a label (for ``DataFrame.rename``)."""
    names = measure_labels(lang)
    return {name: names[name] for name in frame_columns if name in names}
