"""Attack: subtract published margins to recover suppressed cells (finding 1 of the attack review).

Before issue 11 the report in the release folder printed original rates per sex x race cell, hid
cells by events rather than people and had no complementary suppression: sex or race margins minus
the shown cells gave back every hidden cell, most describing one person. Now the release folder
shows release-derived figures only (its report is rebuilt from its files byte for byte), and every
per-group table hides cells of fewer than ``small_cell_people`` people together with complements,
so subtraction along any published margin recovers nothing: in the published report and in the
internal one."""

from __future__ import annotations

import numpy as np
import pytest

import personatwin as pt
from personatwin.ingest import synth
from personatwin.publish.cells import group_lines, hidden_rows, recoverable
from personatwin.publish.export import write_release_folder
from personatwin.publish.published import PublishedRelease

KEY = "report-subtraction-attack-key-0123456789"
CELL = ["attribute", "group", "event_type"]


@pytest.fixture(scope="module", params=["low", "medium", "high"])
def released(request, tmp_path_factory):
    level = request.param
    data = synth.generate("criminal_justice", 3000, start="2024-01-01", end="2024-03-31", seed=37)
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level=level,
                                     domain="criminal_justice", target_risk=0.2, key=KEY, salt=level)
    folder = tmp_path_factory.mktemp(f"release-{level}")
    write_release_folder(result.tables(), folder, partition="2024-Q1")
    return level, result.tables(), folder


def _attack(table, people_col: str, value_col: str, hidden: np.ndarray, totals_from) -> dict:
    """The attacker's subtraction over every line of the table: hidden cells it gets back."""
    cells = table.drop_duplicates(CELL).reset_index(drop=True)
    cell_hidden = hidden[table.drop_duplicates(CELL).index.to_numpy()]
    lines = group_lines(cells)
    values = cells[value_col].to_numpy(float)
    totals = np.array([totals_from(cells.loc[list(ln.members)]) for ln in lines], dtype=float)
    return recoverable(values, cell_hidden, lines, totals)


def test_published_report_cells_do_not_come_back(released):
    level, _, folder = released
    pub = PublishedRelease.from_folder(folder)
    rates = pub.group_rates()
    assert len(rates), level
    events = pub.events.astype({"event_type": str})
    type_total = events.groupby("event_type").size()
    got = _attack(rates, "people", "n_released", rates["hidden"].to_numpy(),
                  lambda c: type_total.get(c["event_type"].iloc[0], 0))
    assert got == {}, (level, got)
    cells = rates.drop_duplicates(CELL)
    small = (cells["people"] > 0) & (cells["people"] < pub.small_cell_people)
    assert cells.loc[small, "hidden"].all(), level


def test_internal_report_original_cells_do_not_come_back(released):
    level, tables, _ = released
    rates = tables.group_rates.astype({c: str for c in CELL})
    hidden = hidden_rows(rates, "people_original", int(tables.policy["small_cell_people"]))
    n_type = rates.drop_duplicates(CELL)
    n_type = n_type[n_type["attribute"] == n_type["attribute"].iloc[0]].groupby("event_type")["n_original"].sum()
    got = _attack(rates, "people_original", "n_original", hidden, lambda c: n_type.get(c["event_type"].iloc[0], 0))
    assert got == {}, (level, got)
    cells = rates.drop_duplicates(CELL)
    one_person = cells[cells["people_original"] == 1]
    assert hidden[one_person.index.to_numpy()].all() if len(one_person) else True
