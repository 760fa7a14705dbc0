"""Release folders: checksums, nothing sensitive in any file, spreadsheet-safe CSV."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

import personatwin as pt
from personatwin.ingest import synth
from personatwin.publish.export import (
    neutralize_formulas,
    verify_manifest,
    write_release_folder,
)

KEY = "export-test-key-0123456789abcdef"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    data = synth.generate("criminal_justice", 4000, seed=9)
    # this test is about the files: the 2 pp utility gate starts at 2,500 events, so PRAM noise on a
    # 4,000-person sample cannot refuse the release by chance (the gate itself: measure/test_utility.py)
    result = pt.create_safe_personas(people=data.people, events=data.events, privacy_level="medium", key=KEY,
                                     target_risk=0.1, salt="2024-05", gates=pt.UtilityGates(large_group_events=2500))
    out = tmp_path_factory.mktemp("release") / "2024-05"
    manifest = write_release_folder(result.tables(), out, partition="2024-05")
    return out, manifest, data, result


def test_manifest_checksums_match_files(folder):
    out, manifest, _, _ = folder
    assert verify_manifest(out) == []
    names = {p.name for p in out.iterdir()} - {"manifest.json"}
    assert names == set(manifest["files"])
    for name in ("personas.parquet", "events.csv", "events.json", "privacy_report.html"):
        assert name in names
    assert manifest["files"]["events.parquet"]["rows"] == len(pd.read_parquet(out / "events.parquet"))
    # tampering is detected
    (out / "events.csv").write_text((out / "events.csv").read_text() + "\n")
    assert any("events.csv" in p for p in verify_manifest(out))


def test_manifest_holds_policy_figures_pram_versions_and_not_the_key(folder):
    out, manifest, _, result = folder
    for field in ("policy", "metrics", "history", "pram", "versions", "created_at", "bias_attributes"):
        assert field in manifest
    for field in ("suppressed_events", "input_counts"):  # original-data counts: internal only (issue 11)
        assert field not in manifest
    assert manifest["pram"]["p"] == result.pram.p and manifest["pram"]["pi"]
    assert manifest["metrics"]["release_risk"] == pytest.approx(result.release_risk, abs=1e-6)  # rounded
    assert KEY not in (out / "manifest.json").read_text()


def test_each_release_records_where_its_time_went(folder):
    """Seconds per stage (prepare, each loop pass, research validation, export) on the release and in the
    manifest (issue 14, item 4)."""
    _, manifest, _, result = folder
    passes = [f"pass_{it.number}" for it in result.history]
    assert set(result.timings) == {"prepare", "research", *passes}
    assert all(v >= 0 for v in result.timings.values())
    assert set(manifest["timings"]) == {"export", *result.timings}
    assert manifest["timings"]["pass_1"] == pytest.approx(result.timings["pass_1"], abs=1e-3)


def test_no_key_identifier_or_raw_date_in_any_file(folder):
    out, _, data, result = folder
    texts = {}
    for f in out.iterdir():
        if f.suffix == ".parquet":
            texts[f.name] = pd.read_parquet(f).to_csv(index=False)
        else:
            texts[f.name] = f.read_text(encoding="utf-8")
    person_ids = set(data.people["person_id"])
    precision = result.policy.date_precision
    assert precision in ("month", "quarter", "year")
    day = data.events["event_date"].dt.strftime("%Y-%m-%d")
    raw_dates = set(day[data.events["event_date"].dt.day != 1])
    raw_dates |= set(data.people["birth_date"].dt.strftime("%Y-%m-%d"))
    date_pattern = re.compile(r"\d{4}-\d{2}-\d{2}")
    for name, text in texts.items():
        assert KEY not in text, name
        found = set(re.findall(r"P\d{7}", text))
        assert not found & person_ids, f"{name} holds person ids"
        leaked = set(date_pattern.findall(text)) & raw_dates
        assert not leaked, f"{name} holds {len(leaked)} raw date(s) finer than {precision}"


def test_formula_injection_is_neutralized(tmp_path):
    df = pd.DataFrame({"a": ["=cmd|' /C calc'!A0", "+1", "-2", "@SUM(A1)", "\tx", "\ry", "safe", None],
                       "b": pd.Categorical(["=1", "ok", "ok", "ok", "ok", "ok", "ok", "ok"]),
                       "n": np.arange(8) - 4})
    out = neutralize_formulas(df)
    assert out["a"].tolist()[:6] == ["'=cmd|' /C calc'!A0", "'+1", "'-2", "'@SUM(A1)", "'\tx", "'\ry"]
    assert out["a"].iloc[6] == "safe" and pd.isna(out["a"].iloc[7])
    assert out["b"].iloc[0] == "'=1"
    assert out["n"].tolist() == df["n"].tolist()  # numbers are data, not formulas
    from personatwin.publish.export import write_table

    write_table(df, tmp_path / "x.csv", "csv")
    cells = [line.split(",")[0] for line in (tmp_path / "x.csv").read_text().splitlines()[1:]]
    assert not any(c.startswith(("=", "+", "-", "@")) for c in cells if c)


def test_json_records_parse_to_what_pandas_writes(folder, tmp_path):
    """The fast JSON writer (each distinct value formatted once, rows joined in Arrow) gives the same records as
    pandas' to_json, for released events with missing amounts and text needing escapes."""
    import json

    from personatwin.publish.export import write_json_records

    _, _, _, result = folder
    events = result.events.copy()
    events.loc[events.index[:3], "value"] = np.nan
    events["note"] = pd.array(['a"b\\c\nd', None, "é/ü\t"] + ["x"] * (len(events) - 3), dtype="string")
    for name, df in (("events", events), ("personas", result.personas.to_dataframe()), ("empty", events.iloc[:0])):
        write_json_records(df, tmp_path / f"{name}.json")
        df.to_json(tmp_path / f"{name}.pandas.json", orient="records", date_format="iso", date_unit="s", indent=1)
        ours = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        assert ours == json.loads((tmp_path / f"{name}.pandas.json").read_text(encoding="utf-8")), name


@pytest.mark.parametrize("rows", [1, 2, 7])
def test_json_records_in_chunks_are_the_same_text(tmp_path, rows):
    """Rows assembled a chunk at a time (while the previous chunk is written) give the same file for every
    chunk size, including a last chunk of one row; missing values are null, dates ISO to the second."""
    import json

    from personatwin.publish.json_records import write_json_records

    df = pd.DataFrame({"p": pd.Categorical(["a", "b", None, "a", "é\"", "b", "a"][:rows]),
                       "d": pd.to_datetime(["2024-01-01", None, "2024-01-02", "2024-01-01", "2024-01-03",
                                            "2024-01-01", "2024-01-02"][:rows]),
                       "v": [1.5, np.nan, 2.0, 1.5, 3.25, np.nan, 1.0][:rows]})
    texts = set()
    for chunk in (1, 2, 3, 1 << 20):
        write_json_records(df, tmp_path / f"{chunk}.json", chunk_rows=chunk)
        texts.add((tmp_path / f"{chunk}.json").read_bytes())
    assert len(texts) == 1
    records = json.loads(texts.pop().decode("utf-8"))
    assert len(records) == rows and records[0] == {"p": "a", "d": "2024-01-01T00:00:00", "v": 1.5}
    if rows > 2:
        assert records[1] == {"p": "b", "d": None, "v": None} and records[2]["p"] is None


@pytest.mark.parametrize("rows", [1, 2, 3, 7])
def test_csv_in_chunks_on_threads_is_the_same_text(tmp_path, rows, monkeypatch):
    """CSV chunks written side by side and joined in order give the bytes of one pass, for a path or an open
    file, a last chunk of one row included: one header, text quoted, missing values empty, dates ISO."""
    import hashlib

    from personatwin.publish import export

    df = pd.DataFrame({"p": pd.Categorical(["a", "b", None, "a", "é\"", "b", "a"][:rows]),
                       "d": pd.to_datetime(["2024-01-01", None, "2024-01-02", "2024-01-01", "2024-01-03",
                                            "2024-01-01", "2024-01-02"][:rows]),
                       "v": [1.5, np.nan, 2.0, 1.5, 3.25, np.nan, 1.0][:rows],
                       "b": [True, False, True, True, False, None, True][:rows]})
    export.write_csv(df, tmp_path / "one.csv")  # below CSV_CHUNK_ROWS: one pass
    one = (tmp_path / "one.csv").read_bytes()
    monkeypatch.setattr(export.parallel, "workers", lambda: 2)
    for chunk in (1, 2, 3):
        monkeypatch.setattr(export, "CSV_CHUNK_ROWS", chunk)
        export.write_csv(df, tmp_path / f"{chunk}.csv")
        digest = hashlib.sha256()
        with open(tmp_path / f"{chunk}.file.csv", "wb") as f:
            export.write_csv(df, f, sha256=digest)  # hashed on a thread while written
        assert (tmp_path / f"{chunk}.csv").read_bytes() == one == (tmp_path / f"{chunk}.file.csv").read_bytes()
        assert digest.hexdigest() == hashlib.sha256(one).hexdigest()
    lines = one.decode("utf-8").splitlines()
    assert lines[0] == '"p","d","v","b"' and len(lines) == rows + 1
    assert lines[1] == '"a",2024-01-01,1.5,"True"'


@pytest.mark.parametrize("precision", ["day", "week", "month", "quarter", "year"])
def test_released_counts_on_codes_match_counting_labels(precision):
    """The report's event counts, counted on day and type codes, equal counting every event's period label
    and type text (undated events belong to no period)."""
    from personatwin.protect.noise import period_label
    from personatwin.publish.report import released_counts

    rng = np.random.default_rng(3)
    n = 5000
    days = np.datetime64("2023-11-20") + rng.integers(0, 120, n).astype("timedelta64[D]")
    events = pd.DataFrame({"event_date": pd.to_datetime(days).astype("datetime64[s]"),
                           "event_type": pd.Categorical(rng.choice(["arrest", "hearing", "release"], n))})
    events.loc[:4, "event_date"] = pd.NaT
    got = released_counts(events, precision)
    label = period_label(events["event_date"].to_numpy().astype("datetime64[D]"), precision)
    want = pd.DataFrame({"period": label, "event_type": events["event_type"].astype(str)}) \
        .groupby(["period", "event_type"], sort=True).size().rename("released").reset_index()
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    assert got["released"].sum() == n - 5


def test_json_literal_is_json_dumps_for_any_text():
    """The direct quoting of strings needing no escape gives json.dumps' literal for every string."""
    import json

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from personatwin.publish.json_records import literal

    @settings(max_examples=400, deadline=None)
    @given(st.text())
    def check(text):
        assert literal(text) == json.dumps(text, ensure_ascii=False).encode("utf-8")

    check()


def test_files_hashed_while_written_match_their_bytes(folder, tmp_path):
    """Every data file's SHA-256, computed as it is written, is the SHA-256 of the file's bytes, and each
    format's file is the one write_table writes (categorical columns with missing values included)."""
    import hashlib

    from personatwin.publish.export import write_table, write_table_hashed

    _, _, _, result = folder
    events = result.events.copy()
    outcomes = events["outcome"].astype(object).to_numpy(copy=True)
    outcomes[:2] = None
    events["outcome"] = pd.Categorical(outcomes)
    for fmt in ("parquet", "csv", "json"):
        digest = write_table_hashed(events, tmp_path / f"h.{fmt}", fmt)
        assert digest == hashlib.sha256((tmp_path / f"h.{fmt}").read_bytes()).hexdigest()
        write_table(events, tmp_path / f"p.{fmt}", fmt)
        assert (tmp_path / f"p.{fmt}").read_bytes() == (tmp_path / f"h.{fmt}").read_bytes()
    assert pd.read_csv(tmp_path / "h.csv")["outcome"].isna().sum() == 2
