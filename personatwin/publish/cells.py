"""Small-cell suppression in people, with complementary suppression (statistical disclosure control).

A figure over fewer than ``threshold`` distinct people (policy setting ``small_cell_people``, default
11) is not shown: it nearly describes those people. Hiding one cell of a line whose total is shown
hides nothing (total minus the other cells gives it back), so each *line* (cells whose sum is
published as a margin: the groups of one attribute within one event type, the race cells of one sex
in a sex x race table, ...) that hides any cell hides at least two, together covering at least
``threshold`` people; the next smallest cells are hidden until that holds (or the line's own margin
cell is hidden). Lines are revisited until nothing changes, so the pattern survives subtraction
across every published margin of the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

SMALL_CELL_PEOPLE = 11  # default threshold in distinct people (a common statistical-office rule)
CROSS = " x "  # the attribute name of a cross of bias attributes ("sex x race"), groups joined by " | "
JOIN = " | "


@dataclass(frozen=True)
class Line:
    """Cells whose sum is published: ``total`` is the margin's own cell in the table, or None when the
    margin is always published elsewhere (e.g. the event type's total count)."""

    members: tuple[int, ...]
    total: int | None = None


def suppress(people: np.ndarray, lines: Sequence[Line], threshold: int) -> np.ndarray:
    """Boolean mask of the cells to hide: primary (1..threshold-1 people) plus complementary cells so
    that no line reveals a hidden cell, or a hidden group of fewer than ``threshold`` people, by
    subtraction."""
    people = np.asarray(people, dtype=np.int64)
    hidden = (people > 0) & (people < threshold)
    changed = True
    while changed:
        changed = False
        for line in lines:
            if line.total is not None and hidden[line.total]:
                continue  # the margin is hidden: nothing to subtract from
            members = np.asarray(line.members, dtype=np.int64)
            gone = members[hidden[members]]
            if len(gone) == 0 or (len(gone) >= 2 and people[gone].sum() >= threshold):
                continue
            shown = members[~hidden[members] & (people[members] > 0)]
            if not len(shown):  # a shown zero would say where the hidden people are not
                shown = members[~hidden[members]]
            if len(shown):
                pick = shown[np.lexsort((shown, people[shown]))[0]]  # smallest, ties by position
                hidden[pick] = True
            elif line.total is not None:
                hidden[line.total] = True
            else:
                continue  # every cell is hidden and the margin is published elsewhere
            changed = True
    return hidden


def group_lines(cells: pd.DataFrame) -> list[Line]:
    """The lines of a table with one row per (attribute, group, event_type) cell: per attribute and
    event type its groups (the type's total is published); for a cross "a x b" also per type the
    cells of one a-group (margin: that group's row of attribute a) and of one b-group."""
    attr = cells["attribute"].astype(str).to_numpy()
    group = cells["group"].astype(str).to_numpy()
    etype = cells["event_type"].astype(str).to_numpy()
    index = {(a, g, t): i for i, (a, g, t) in enumerate(zip(attr, group, etype))}
    buckets: dict[tuple, list[int]] = {}
    for i, (a, g, t) in enumerate(zip(attr, group, etype)):
        buckets.setdefault(("all", a, t), []).append(i)
        if CROSS in a and JOIN in g:
            names, parts = a.split(CROSS), g.split(JOIN)
            if len(names) == len(parts):
                for name, part in zip(names, parts):
                    buckets.setdefault((name, a, t, part), []).append(i)
    lines = []
    for key, members in buckets.items():
        total = None if key[0] == "all" else index.get((key[0], key[3], key[2]))
        if key[0] != "all" and total is None:
            continue  # that margin is not in the table
        lines.append(Line(tuple(members), total))
    return lines


def suppress_groups(cells: pd.DataFrame, people_column: str, threshold: int) -> np.ndarray:
    """Hidden mask of a (attribute, group, event_type) table by its distinct-people column."""
    if cells.empty:
        return np.zeros(0, dtype=bool)
    return suppress(cells[people_column].to_numpy(), group_lines(cells), threshold)


CELL = ["attribute", "group", "event_type"]


def hidden_rows(rows: pd.DataFrame, people_column: str, threshold: int) -> np.ndarray:
    """Per row of a table with several rows per (attribute, group, event_type) cell (one per outcome):
    is its cell hidden? The cell's people count is read from its first row."""
    if rows.empty:
        return np.zeros(0, dtype=bool)
    keys = rows[CELL].astype(str)
    cell = keys.groupby(CELL, sort=False).ngroup().to_numpy()
    first = np.unique(cell, return_index=True)[1]  # unpacked by index: mypy crashes on unpacking np.unique's tuple
    cells = keys.iloc[first].assign(people=rows[people_column].to_numpy()[first]).reset_index(drop=True)
    return suppress_groups(cells, "people", threshold)[cell]


def recoverable(values: np.ndarray, hidden: np.ndarray, lines: Sequence[Line],
                totals: np.ndarray | None = None) -> dict[int, float]:
    """What an attacker gets back by subtraction: hidden cells alone in a line whose margin is known.
    ``totals[i]`` is the published margin of line i where the margin is not a cell of the table."""
    out: dict[int, float] = {}
    known = ~hidden
    for i, line in enumerate(lines):
        members = np.asarray(line.members, dtype=np.int64)
        gone = members[hidden[members]]
        if len(gone) != 1:
            continue
        if line.total is not None:
            if not known[line.total]:
                continue
            margin = float(values[line.total])
        elif totals is not None:
            margin = float(totals[i])
        else:
            continue
        out[int(gone[0])] = margin - float(values[members[known[members]]].sum())
    return out
