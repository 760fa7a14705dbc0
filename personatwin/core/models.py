"""Input records of the original PersonaTwin API (``Person``, ``Event``) and their table form.

These are conveniences for small, hand-built inputs and notebooks: they become the two tables of
the data contract (DESIGN §2) through :func:`people_from_records` and :func:`events_from_records`,
and go through ingest and validation exactly like a DataFrame or a file. Values are kept as given
(no coercion here); validation parses and normalizes them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from personatwin.core import schema

PERSON_FIELDS = (schema.PERSON_ID, schema.AGE, schema.BIRTH_DATE, "sex", "race", "zip")
EVENT_FIELDS = (
    schema.PERSON_ID, schema.EVENT_TYPE, schema.EVENT_DATE, schema.OUTCOME,
    schema.END_DATE, schema.LOCATION, schema.VALUE,
)

# Names used by the original API or common exports, folded into the canonical field.
PERSON_ALIASES = {
    "gender": "sex",
    "ethnicity": "race",
    "location": "zip",
    "geography": "zip",
    "zip_code": "zip",
    "zipcode": "zip",
    "postal_code": "zip",
    "dob": schema.BIRTH_DATE,
    "date_of_birth": schema.BIRTH_DATE,
    "birthdate": schema.BIRTH_DATE,
}


def _attributes(obj: Any) -> dict[str, Any]:
    """Key/value view of a dict-like or attribute object (e.g. the original ``Demographics``)."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    if dataclasses.is_dataclass(obj):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return {k: v for k, v in vars(obj).items() if not k.startswith("_")}


def _set_once(values: dict[str, Any], key: str, value: Any, what: str) -> None:
    if value is None:
        return
    current = values.get(key)
    if current is not None and current != value:
        raise ValueError(f"{what}: {key!r} is given twice with different values")
    values[key] = value


@dataclass(frozen=True)
class Event:
    """One event of one person; ``person_id`` may be left out when nested in a ``Person``."""

    person_id: str | None = None
    event_type: str | None = None
    event_date: Any = None
    outcome: str | None = None
    end_date: Any = None
    location: str | None = None
    value: float | None = None
    extra: Mapping[str, Any] | None = None
    date: Any = field(default=None, repr=False, compare=False)  # alias of event_date (original API)

    def __post_init__(self) -> None:
        if self.date is not None:
            if self.event_date is not None and self.event_date != self.date:
                raise ValueError("Event: 'date' and 'event_date' are both given with different values")
            object.__setattr__(self, "event_date", self.date)
            object.__setattr__(self, "date", None)


@dataclass(frozen=True)
class Person:
    """One person with demographics (fields or a dict-like ``demographics``) and nested events.

    ``gender`` is an alias of ``sex`` and ``location`` of ``zip`` (the original API's names);
    keys of ``demographics`` other than the canonical fields and their aliases go to ``extra``.
    """

    person_id: str
    age: float | None = None
    birth_date: Any = None
    sex: str | None = None
    race: str | None = None
    zip: str | None = None
    demographics: Any = field(default=None, repr=False)
    extra: Mapping[str, Any] | None = None
    events: Sequence[Event] = ()
    gender: str | None = field(default=None, repr=False, compare=False)
    location: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        what = f"Person({self.person_id!r})"
        known = {f: getattr(self, f) for f in PERSON_FIELDS[1:]}
        extra = dict(self.extra or {})
        given = {"gender": self.gender, "location": self.location, **_attributes(self.demographics)}
        for key, value in given.items():
            if isinstance(value, Mapping):  # e.g. socioeconomic_indicators: flatten one level
                for sub, v in value.items():
                    _set_once(extra, str(sub), v, what)
                continue
            name = PERSON_ALIASES.get(str(key).lower(), str(key).lower())
            if name in known:
                _set_once(known, name, value, what)
            elif value is not None:
                _set_once(extra, str(key), value, what)
        for name, value in known.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "extra", extra or None)
        object.__setattr__(self, "demographics", None)
        object.__setattr__(self, "gender", None)
        object.__setattr__(self, "location", None)
        events = []
        for ev in self.events or ():
            if ev.person_id is None:
                ev = dataclasses.replace(ev, person_id=self.person_id)
            elif ev.person_id != self.person_id:
                raise ValueError(f"{what}: a nested event names another person_id")
            events.append(ev)
        object.__setattr__(self, "events", tuple(events))


def _frame(columns: dict[str, list], extras: list[Mapping[str, Any] | None], keep: str) -> pd.DataFrame:
    """Columns + extra keys as a frame indexed by 1-based record number; all-empty columns dropped."""
    df = pd.DataFrame(columns, dtype=object)
    more = pd.DataFrame.from_records([dict(e or {}) for e in extras], index=df.index) if extras else None
    if more is not None and len(more.columns):
        df = pd.concat([df, more.drop(columns=[c for c in more.columns if c in df.columns])], axis=1)
    empty = [c for c in df.columns if c != keep and df[c].isna().all()]
    df = df.drop(columns=empty)
    df.index = pd.RangeIndex(1, len(df) + 1, name="row")
    return df


def people_from_records(records: Iterable[Person]) -> pd.DataFrame:
    """The people table of a list of ``Person`` records (values as given, not coerced)."""
    recs = list(records)
    bad = [type(r).__name__ for r in recs if not isinstance(r, Person)]
    if bad:
        raise TypeError(f"people_from_records expects Person records, got {sorted(set(bad))}")
    cols = {f: [getattr(r, f) for r in recs] for f in PERSON_FIELDS}
    return _frame(cols, [r.extra for r in recs], schema.PERSON_ID)


def events_from_records(records: Iterable[Person | Event]) -> pd.DataFrame:
    """The events table of ``Event`` records, or of the events nested in ``Person`` records."""
    events: list[Event] = []
    for r in records:
        if isinstance(r, Person):
            events.extend(r.events)
        elif isinstance(r, Event):
            events.append(r)
        else:
            raise TypeError(f"events_from_records expects Person or Event records, got {type(r).__name__}")
    cols = {f: [getattr(e, f) for e in events] for f in EVENT_FIELDS}
    df = _frame(cols, [e.extra for e in events], schema.PERSON_ID)
    for c in EVENT_FIELDS[:4]:  # required columns stay even when empty, so validation names them
        if c not in df.columns:
            df[c] = pd.Series([None] * len(df), index=df.index, dtype=object)
    return df
