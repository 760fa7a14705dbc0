"""Small-cell suppression in people with complementary suppression (personatwin.publish.cells)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from personatwin.publish.cells import Line, group_lines, recoverable, suppress, suppress_groups


def test_a_lone_small_cell_gets_a_complement():
    people = np.array([3, 40, 25, 60])
    hidden = suppress(people, [Line((0, 1, 2, 3))], 11)
    assert hidden.tolist() == [True, False, True, False]  # the smallest other cell hides with it


def test_two_small_cells_that_sum_below_the_threshold_take_a_third():
    people = np.array([3, 4, 25, 60])
    hidden = suppress(people, [Line((0, 1, 2, 3))], 11)
    assert hidden.tolist() == [True, True, True, False]  # 3 + 4 = 7 people would be a small cell itself


def test_empty_and_large_cells_stay():
    people = np.array([0, 40, 25])
    assert not suppress(people, [Line((0, 1, 2))], 11).any()


def test_margin_cell_hidden_when_nothing_else_can_be():
    # a line whose every member is small: the margin (its own cell) is hidden instead
    people = np.array([30, 5])  # row 0: margin (a=x), row 1: its only cross cell
    hidden = suppress(people, [Line((1,), total=0)], 11)
    assert hidden.tolist() == [True, True]


def _cross_table():
    rows = []
    for t in ("hearing", "sentence"):
        for s in ("F", "M"):
            rows.append(("sex", s, t))
        for r in ("A", "B", "W"):
            rows.append(("race", r, t))
        for s in ("F", "M"):
            for r in ("A", "B", "W"):
                rows.append(("sex x race", f"{s} | {r}", t))
    return pd.DataFrame(rows, columns=["attribute", "group", "event_type"])


def test_cross_table_lines_follow_both_margins():
    cells = _cross_table()
    lines = group_lines(cells)
    # per type: sex (1 line), race (1), cross as a whole (1), cross by sex (2, margin = sex cell), by race (3)
    assert len(lines) == 2 * (1 + 1 + 1 + 2 + 3)
    by_sex = [ln for ln in lines if ln.total is not None and cells.loc[ln.total, "attribute"] == "sex"]
    assert all(len(ln.members) == 3 for ln in by_sex)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 60), min_size=2 * 17, max_size=2 * 17), st.integers(2, 15))
def test_no_hidden_cell_comes_back_by_subtraction(counts, threshold):
    """Property: over random sex x race tables with their margins consistent (a cross cell's people add up
    to its margins), every line that hides a cell hides >= 2 covering >= threshold people, or hides its margin;
    subtraction recovers nothing."""
    cells = _cross_table()
    people = np.zeros(len(cells), dtype=np.int64)
    cross = cells["attribute"] == "sex x race"
    people[cross.to_numpy()] = np.array(counts)[: int(cross.sum())]
    for i, row in cells[~cross].iterrows():  # margins = sums of their cross cells
        part = 0 if row["attribute"] == "sex" else 1
        mine = cross & (cells["event_type"] == row["event_type"]) & \
            (cells["group"].str.split(" | ", regex=False).str[part] == row["group"])
        people[i] = people[mine.to_numpy()].sum()
    hidden = suppress_groups(cells.assign(people=people), "people", threshold)
    assert not (((people > 0) & (people < threshold)) & ~hidden).any()  # every small cell is hidden
    lines = group_lines(cells)
    totals = np.array([people[list(ln.members)].sum() for ln in lines])  # type totals are published
    assert recoverable(people.astype(float), hidden, lines, totals) == {}
    for ln in lines:
        if ln.total is not None and hidden[ln.total]:
            continue
        gone = [m for m in ln.members if hidden[m]]
        assert not gone or (len(gone) >= 2 and people[gone].sum() >= threshold) or all(hidden[m] for m in ln.members)
