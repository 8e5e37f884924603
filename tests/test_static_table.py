"""kurrant_core.static_table: small tables as Markdown, escaped, read back as shown."""
from __future__ import annotations

from datetime import date

import pandas as pd

from kurrant_core import static_table


def test_a_frame_becomes_a_table_with_headers_formats_and_numbers_right_aligned():
    frame = pd.DataFrame({"day": [date(2024, 3, 4), date(2024, 3, 5)], "food": ["김밥", "비빔밥"],
                          "score": [0.5, 0.25]})
    text = static_table.to_markdown(frame, {"day": "날짜", "score": "점수"}, {"score": "{:.2f}".format})
    assert text.splitlines() == ["| 날짜 | food | 점수 |", "|---|---|---:|",
                                 "| 2024-03-04 | 김밥 | 0.50 |", "| 2024-03-05 | 비빔밥 | 0.25 |"]
    assert static_table.from_markdown(text) == [["날짜", "food", "점수"], ["2024-03-04", "김밥", "0.50"],
                                                ["2024-03-05", "비빔밥", "0.25"]]


def test_markup_in_cells_is_escaped_and_reads_back_as_typed():
    name = "*반값* | 특가 $5 :fire: [링크](x) <b>\\"
    text = static_table.to_markdown(pd.DataFrame({"food": [name, "줄\n바꿈"]}))
    body = text.splitlines()[2]
    assert "\\*반값\\* \\| 특가 \\$5 \\:fire\\: \\[링크\\](x) \\<b\\>\\\\" in body
    assert static_table.from_markdown(text)[1:] == [[name], ["줄 바꿈"]]


def test_an_empty_frame_gives_the_header_alone_and_columns_pick_the_order():
    frame = pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype="object")})
    assert static_table.to_markdown(frame, columns=["b", "a"]).splitlines() == ["| b | a |", "|---|---:|"]
    assert static_table.from_markdown(static_table.to_markdown(frame)) == [["a", "b"]]
