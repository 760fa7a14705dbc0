"""Ingest (DESIGN §3): read any supported input form into the two tables of the data contract.

Accepted forms: a (people, events) pair of DataFrames; one flat DataFrame (person columns repeated
on each event row); a list of dicts (flat); a list of :class:`~personatwin.core.models.Person`; CSV or
Parquet paths (one flat file, a people/events pair, or a directory holding ``people.*`` and
``events.*``). Files are read as strings so nothing is coerced silently; validation does the typing.

Every column is accounted for: contract columns, QIs and sensitive attributes are kept; mapped
direct identifiers are dropped and counted; unmapped columns that look like identifiers stop the
run (:class:`~personatwin.ingest.identifiers.DirectIdentifierError`); everything else is dropped and its
name recorded in ``Ingested.ignored_columns``. Both tables are indexed by ``row``, the 1-based data
row of the source (of the flat source for a flat input), which quarantine reports.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from personatwin.core import schema
from personatwin.core.domains import Domain, get_domain
from personatwin.core.errors import InputError
from personatwin.core.models import Person, events_from_records, people_from_records
from personatwin.ingest.files import ROW, empty_to_na, is_csv, is_parquet, read_table, with_rows
from personatwin.ingest.identifiers import column_label, drop_identifiers, normalized_name

DROP = "drop"

# Common spellings folded into a people column when the canonical one is absent (recorded).
PEOPLE_ALIASES = {
    "gender": "sex",
    "dob": schema.BIRTH_DATE,
    "date_of_birth": schema.BIRTH_DATE,
    "birthdate": schema.BIRTH_DATE,
    "zipcode": "zip",
    "zip_code": "zip",
    "postal_code": "zip",
    "postcode": "zip",
    "zip5": "zip",
}


@dataclass(frozen=True, eq=False)
class Ingested:
    """The two contract tables as read (not yet typed) and an account of every dropped column."""

    people: pd.DataFrame
    events: pd.DataFrame
    dropped_identifiers: tuple[str, ...] = ()
    source: str = ""
    ignored_columns: tuple[str, ...] = ()
    renamed: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


# --- column roles --------------------------------------------------------------------------

def _unique(items: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(items))


def people_columns(domain: Domain) -> list[str]:
    """Columns kept in the people table, in output order."""
    return _unique([schema.PERSON_ID, schema.BIRTH_DATE, schema.AGE, *domain.qis, *domain.sensitive])


def event_columns(domain: Domain) -> list[str]:
    """Columns kept in the events table, in output order (sensitive attributes after the contract)."""
    extra = [c for c in domain.sensitive if c not in schema.EVENT_COLUMNS]
    return _unique([schema.PERSON_ID, schema.EVENT_TYPE, schema.EVENT_DATE, schema.END_DATE,
                    schema.OUTCOME, schema.LOCATION, schema.VALUE, *extra])


def _known(role: str, domain: Domain) -> list[str]:
    if role == "people":
        return people_columns(domain)
    if role == "events":
        return event_columns(domain)
    return _unique(people_columns(domain) + event_columns(domain))


def _find_in_dir(folder: Path, stem: str) -> Path | None:
    found = [p for p in sorted(folder.iterdir()) if p.is_file() and p.name.lower().split(".")[0] == stem
             and (is_csv(p) or is_parquet(p))]
    if len(found) > 1:
        raise InputError(f"{folder}: several {stem}.* files ({[p.name for p in found]}); keep one")
    return found[0] if found else None


def _pair_from_dir(folder: Path) -> tuple[Path, Path]:
    people, events = _find_in_dir(folder, "people"), _find_in_dir(folder, "events")
    if people is None or events is None:
        hint = ""
        if (folder / "patients.csv").is_file():
            hint = " (this looks like Synthea output: use personatwin.ingest.loaders.load_healthcare_data)"
        raise InputError(f"{folder}: a data folder needs people.csv|parquet and events.csv|parquet{hint}")
    return people, events


# --- column mapping ------------------------------------------------------------------------

def _split_mapping(mapping: Mapping | None) -> dict[str, dict[str, str]]:
    """``{src: target}`` for every table, or per table ``{"people": {...}, "events": {...}}``."""
    mapping = dict(mapping or {})
    nested = bool(mapping) and set(mapping) <= {"people", "events"} and all(
        isinstance(v, Mapping) for v in mapping.values())
    if nested:
        people = {str(k): str(v) for k, v in mapping.get("people", {}).items()}
        events = {str(k): str(v) for k, v in mapping.get("events", {}).items()}
        return {"people": people, "events": events, "flat": {**events, **people}}
    flat = {str(k): str(v) for k, v in mapping.items()}
    return {"people": flat, "events": flat, "flat": flat}


def _check_targets(mapping: Mapping[str, str], domain: Domain) -> None:
    allowed = set(_known("flat", domain))
    bad = {k: v for k, v in mapping.items() if v != DROP and v not in allowed}
    if bad:
        raise InputError(
            f"column_mapping targets {sorted(set(bad.values()))} are not contract columns, QIs or sensitive "
            f"attributes of domain {domain.name!r}; map to one of {sorted(allowed)} or to {DROP!r}"
        )


def _apply_mapping(df: pd.DataFrame, mapping: Mapping[str, str], role: str, domain: Domain,
                   table: str,
                   aliases: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, set[str], dict[str, str]]:
    """Rename mapped and obviously-canonical columns; return the frame, the ``drop`` set, renames."""
    known = set(_known(role, domain))
    renames: dict[str, str] = {}
    drops: set[str] = set()
    lower = {str(c).lower(): c for c in df.columns}
    target: str | None
    for src, target in mapping.items():
        col = src if src in df.columns else lower.get(src.lower())
        if col is None:
            continue
        if target == DROP:
            drops.add(str(col))
        elif target in known:
            renames[col] = target
    owner = {t: c for c, t in renames.items()}  # canonical name -> the source column holding it
    owner.update({c: c for c in df.columns if c in known and c not in renames and str(c) not in drops})
    position = {c: i for i, c in enumerate(df.columns)}
    for col in df.columns:
        if col in renames or str(col) in drops or col in known:
            continue
        norm = normalized_name(str(col))
        target = norm if norm in known else (aliases or {}).get(norm)
        if target is None and role != "events":
            target = PEOPLE_ALIASES.get(norm)
        if target in known and target not in owner:
            renames[col] = target
            owner[target] = col
        elif norm in known:  # e.g. "Age" beside "age": which one holds the data is not guessed
            other = owner[norm]
            raise InputError(f"{table}: columns {column_label(str(other), position[other])} and "
                             f"{column_label(str(col), position[col])} both name {norm!r}; "
                             f"map one of them to {DROP!r} with column_mapping")
    out = df.rename(columns=renames)
    dup = out.columns[out.columns.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"{table}: several columns map to {dup}; map all but one to {DROP!r}")
    return out, drops, {str(k): v for k, v in renames.items()}


def _prepare(df: pd.DataFrame, role: str, table: str, domain: Domain, mapping: Mapping[str, str],
             allow: Collection[str], aliases: Mapping[str, str] | None = None,
             ) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...], dict[str, str]]:
    """Map, screen for identifiers, keep known columns: (frame, dropped ids, ignored, renames)."""
    df, drops, renames = _apply_mapping(df, mapping, role, domain, table, aliases)
    allowed = set(allow) | {renames.get(a, a) for a in allow}
    df, dropped = drop_identifiers(df, domain, drops, allow=allowed)
    known = [c for c in _known(role, domain) if c in df.columns]
    ignored = tuple(str(c) for c in df.columns if c not in known)
    return df[known], dropped, ignored, renames


def _require(df: pd.DataFrame, columns: Sequence[str], table: str, source: pd.DataFrame | None = None,
             domain: Domain | None = None) -> None:
    """Required columns present, else an error naming the table (file) and the missing columns.

    The source's column names are listed only when some of them were recognized: a file without a
    header row has a person's values as its "column names", which must not reach a message.
    """
    missing = [c for c in columns if c not in df.columns]
    if missing:
        src = source if source is not None else df
        names = [str(c) for c in src.columns]
        recognized = [c for c in df.columns if domain is None or c in set(_known("flat", domain))]
        if not names:
            found = "the input has no columns"
        elif recognized:
            found = "columns found: " + ", ".join(column_label(c, i) for i, c in enumerate(names))
        else:
            found = (f"none of its {len(names)} column name(s) is recognized (names not shown); "
                     "is the header row missing?")
        raise InputError(
            f"{table}: required column(s) {missing} not found ({found}); "
            f"name them with column_mapping={{'<source column>': '{missing[0]}'}}"
        )


def split_flat(flat: pd.DataFrame, domain: Domain) -> tuple[pd.DataFrame, pd.DataFrame]:
    """People (distinct person attribute rows) and events (rows with any event field) of a flat table.

    Distinct attribute rows of one person are all kept, so conflicting demographics reach
    validation (and quarantine) instead of being resolved by picking one.
    """
    _require(flat, [schema.PERSON_ID], "flat input", domain=domain)
    pcols = [c for c in people_columns(domain) if c in flat.columns and c not in domain.sensitive]
    ecols = [c for c in event_columns(domain) if c in flat.columns]
    has_pid = flat[schema.PERSON_ID].notna().to_numpy()
    people = flat.loc[has_pid, pcols].drop_duplicates(keep="first")
    fields = [c for c in ecols if c != schema.PERSON_ID]
    if not fields:
        return people, pd.DataFrame({c: pd.Series(dtype="string") for c in schema.EVENTS_REQUIRED},
                                    index=pd.RangeIndex(0, name=ROW))
    is_event = flat[fields].notna().any(axis=1).to_numpy()
    events = flat.loc[is_event, ecols]
    _require(events, schema.EVENTS_REQUIRED, "flat input", domain=domain)
    return people, events


# --- the entry point -----------------------------------------------------------------------

def _is_pathlike(x: Any) -> bool:
    return isinstance(x, (str, os.PathLike))


def _frame_or_file(x: Any, what: str) -> tuple[pd.DataFrame, tuple[str, ...], str]:
    if isinstance(x, pd.DataFrame):
        return with_rows(empty_to_na(x, f"{what} (DataFrame)")), (), "DataFrame"
    if _is_pathlike(x):
        df, notes = read_table(x)
        return df, notes, str(x)
    raise InputError(f"{what} must be a DataFrame or a CSV/Parquet path, got {type(x).__name__}")


def _resolve(data: Any, people: Any, events: Any) -> tuple[str, Any, Any, tuple[str, ...], str, tuple[str, str]]:
    """Normalize the input form to ("flat", df) or ("pair", people_df, events_df), notes, source and
    the names of the tables in messages (which file they come from)."""
    if data is None:
        if people is None or events is None:
            raise InputError("give `data`, or both `people=` and `events=`")
        p, pn, ps = _frame_or_file(people, "people")
        e, en, es = _frame_or_file(events, "events")
        return "pair", p, e, pn + en, f"people: {ps}; events: {es}", (f"people ({ps})", f"events ({es})")
    if people is not None or events is not None:
        raise InputError("give either `data` or `people=`/`events=`, not both")
    if isinstance(data, pd.DataFrame):
        label = "flat input (DataFrame)"
        return "flat", with_rows(empty_to_na(data, label)), None, (), "flat DataFrame", (label, "")
    if isinstance(data, Mapping) and set(data) == {"people", "events"}:
        return _resolve(None, data["people"], data["events"])
    if isinstance(data, tuple) and len(data) == 2 and all(isinstance(x, pd.DataFrame) or _is_pathlike(x) for x in data):
        return _resolve(None, data[0], data[1])
    if _is_pathlike(data):
        path = Path(data)
        if path.is_dir():
            p, e = _pair_from_dir(path)
            return _resolve(None, p, e)
        df, notes = read_table(path)
        return "flat", df, None, notes, f"flat file: {path}", (f"flat input (file {path})", "")
    if isinstance(data, (list, tuple)):
        if not data:
            raise InputError("the list of records is empty")
        if all(isinstance(r, Person) for r in data):
            p = with_rows(empty_to_na(people_from_records(data), "people (Person records)"))
            e = with_rows(empty_to_na(events_from_records(data), "events (Person records)"))
            return "pair", p, e, (), f"{len(data)} Person records", ("people (Person records)",
                                                                      "events (Person records)")
        if all(isinstance(r, Mapping) for r in data):
            label = "flat input (dict records)"
            flat = with_rows(empty_to_na(pd.DataFrame.from_records(list(data)), label))
            return "flat", flat, None, (), f"{len(data)} dict records", (label, "")
        kinds = sorted({type(r).__name__ for r in data})
        raise InputError(f"a list input must hold only Person records or only dicts, got {kinds}")
    raise InputError(f"unsupported input of type {type(data).__name__}")


def load_input(
    data: Any = None,
    *,
    people: Any = None,
    events: Any = None,
    domain: str | Domain | Mapping,
    column_mapping: Mapping | None = None,
    allow_columns: Collection[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Ingested:
    """Read any supported input into people/events tables, mapped, screened and fully accounted for.

    ``column_mapping`` is ``{source: canonical}`` (``"drop"`` drops a column and declares it a
    direct identifier), applied to every table, or ``{"people": {...}, "events": {...}}`` per table.
    ``allow_columns`` declares columns that look like identifiers but are not (false positives).
    ``aliases`` adds ``{normalized source name: canonical}`` spellings recognized without a mapping
    (a loader's conventions); every automatic rename is recorded in ``Ingested.renamed``.
    """
    domain = get_domain(domain)
    maps = _split_mapping(column_mapping)
    _check_targets(maps["flat"], domain)
    form, a, b, notes, source, (label_a, label_b) = _resolve(data, people, events)
    renamed: dict[str, str] = {}
    if form == "flat":
        _check_keys(maps["flat"], [a], label_a)
        flat, dropped, ignored, renamed = _prepare(a, "flat", label_a, domain, maps["flat"], allow_columns,
                                                   aliases)
        _require(flat, [schema.PERSON_ID], label_a, source=a, domain=domain)
        if any(c in flat.columns for c in schema.EVENT_COLUMNS if c != schema.PERSON_ID):
            _require(flat, schema.EVENTS_REQUIRED, label_a, source=a, domain=domain)
        p, e = split_flat(flat, domain)
    else:
        _check_keys({**maps["people"], **maps["events"]}, [a, b], "input")
        p, pd_, pi, pr = _prepare(a, "people", label_a, domain, maps["people"], allow_columns, aliases)
        e, ed, ei, er = _prepare(b, "events", label_b, domain, maps["events"], allow_columns, aliases)
        _require(p, [schema.PERSON_ID], label_a, source=a, domain=domain)
        _require(e, schema.EVENTS_REQUIRED, label_b, source=b, domain=domain)
        dropped = tuple(_unique([*pd_, *ed]))
        ignored = tuple(_unique([*pi, *ei]))
        renamed = {**pr, **er}
    return Ingested(
        people=p, events=e, dropped_identifiers=tuple(dropped), source=source,
        ignored_columns=tuple(ignored), renamed=renamed, notes=tuple(notes),
    )


def _check_keys(mapping: Mapping[str, str], frames: Sequence[pd.DataFrame], what: str) -> None:
    """A renaming key that names no column of the input is an error, not silently unused.

    Keys mapped to ``drop`` may be absent (a list of identifiers to drop wherever they occur).
    """
    cols = {str(c).lower() for f in frames for c in f.columns}
    missing = sorted(k for k, v in mapping.items() if v != DROP and k.lower() not in cols)
    if missing:
        raise InputError(f"{what}: column_mapping names column(s) {missing} that are not in the input")


__all__ = [
    "DROP", "Ingested", "InputError", "event_columns", "load_input", "people_columns", "read_table",
    "split_flat",
]
