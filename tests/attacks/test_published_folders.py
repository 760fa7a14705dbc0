"""The folder attacks, run on real release folders: ``PERSONATWIN_ATTACK_RELEASES=releases`` (e.g. after
``scripts/demo``) runs them on every published partition there; without it they run on a release made here.

Each uses only what a folder publishes: the report is rebuilt from the folder's files byte for byte (so it
carries nothing else), the manifest's figures are all on the published list, pi x counts is the events
file's own table, and subtracting the report's margins gives back no hidden cell."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import personatwin as pt
from personatwin.ingest import synth
from personatwin.publish.cells import group_lines, recoverable
from personatwin.publish.export import verify_manifest, write_release_folder
from personatwin.publish.published import PUBLISHED_METRICS, PUBLISHED_PREFIXES, PublishedRelease
from personatwin.publish.report import render_report

KEY = "published-folder-attack-key-0123456789"
CELL = ["attribute", "group", "event_type"]


def _folders() -> list[Path]:
    root = os.environ.get("PERSONATWIN_ATTACK_RELEASES")
    if not root:
        return []
    return sorted(p for p in Path(root).iterdir() if p.is_dir() and (p / "manifest.json").exists())


@pytest.fixture(scope="module", params=_folders() or ["generated"], ids=lambda p: getattr(p, "name", p))
def folder(request, tmp_path_factory) -> Path:
    if request.param != "generated":
        return request.param
    data = synth.generate("criminal_justice", 4000, start="2024-01-01", end="2024-01-31", seed=59)
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level="high",
                                     domain="criminal_justice", key=KEY, salt="2024-01")
    out = tmp_path_factory.mktemp("release") / "2024-01"
    write_release_folder(result.tables(), out, partition="2024-01")
    return out


def test_report_is_rebuilt_from_the_folder_alone(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    assert verify_manifest(folder) == []
    html = render_report(PublishedRelease.from_folder(folder), partition=manifest["partition"])
    assert html == (folder / "privacy_report.html").read_text(encoding="utf-8")


def test_manifest_figures_are_all_published_ones(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    extra = [k for k in manifest["metrics"] if k not in PUBLISHED_METRICS and not k.startswith(PUBLISHED_PREFIXES)]
    assert not extra
    assert not {"input_counts", "suppressed_events"} & set(manifest)


def test_pi_times_counts_is_the_events_file(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    events = pd.read_parquet(folder / "events.parquet").astype({"event_type": str, "outcome": str})
    n_type = events.groupby("event_type").size()
    released = events.groupby(["event_type", "outcome"]).size()
    for key, pi in manifest["pram"]["pi"].items():
        t, o = key.split("/", 1)
        assert pi * n_type[t] == pytest.approx(released.get((t, o), 0), abs=1e-6), key


def test_report_margins_give_back_no_hidden_cell(folder):
    pub = PublishedRelease.from_folder(folder)
    rates = pub.group_rates()
    if rates.empty:
        pytest.skip("no group attributes in this release")
    cells = rates.drop_duplicates(CELL).reset_index(drop=True)
    lines = group_lines(cells)
    type_total = pub.events.astype({"event_type": str}).groupby("event_type").size()
    totals = np.array([type_total.get(cells.loc[ln.members[0], "event_type"], 0) for ln in lines], dtype=float)
    got = recoverable(cells["n_released"].to_numpy(float), cells["hidden"].to_numpy(), lines, totals)
    assert got == {}
    small = (cells["people"] > 0) & (cells["people"] < pub.small_cell_people)
    assert cells.loc[small, "hidden"].all()
