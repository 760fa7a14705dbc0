"""Loaders for real-world layouts: generic court extracts and healthcare data (Synthea or flat).

Each loader returns the same :class:`~personatwin.ingest.tables.Ingested` as ``load_input`` (identifiers
screened and dropped, ignored columns recorded); the caller validates it with
:func:`personatwin.validate.validation.validate`.

Synthea decisions (``load_healthcare_data(format="synthea")``):

* people from ``patients.csv``: ``Id`` -> person_id, ``BIRTHDATE`` -> birth_date (age is derived in
  validation, then the date is dropped), ``GENDER`` -> sex, ``RACE`` + ``ETHNICITY`` -> race
  (``hispanic`` ethnicity wins; white/black/asian/native/hawaiian/other map to the domain's race
  values), ``ZIP`` -> zip. ``SSN, DRIVERS, PASSPORT, PREFIX, FIRST, LAST, SUFFIX, MAIDEN, ADDRESS,
  LAT, LON, BIRTHPLACE`` are mapped direct identifiers (dropped, counted). ``DEATHDATE`` is dropped
  too: an exact date is over-precise and rare enough to single a person out (ages of deceased
  people are therefore computed at the reference date like everyone else's).
* missing ZIP: Synthea writes ``00000`` (or nothing) when it has no ZIP. Such people are NOT given
  an invented ZIP from their county (that would publish a location they do not have, and county is
  not a level of the zip hierarchy); they reach validation with a missing zip and are quarantined
  ("missing zip") with their events, visibly counted.
* events from ``encounters.csv``: ``PATIENT`` -> person_id, ``START`` -> event_date, ``STOP`` ->
  end_date, ``ENCOUNTERCLASS`` -> event_type, ``TOTAL_CLAIM_COST`` -> value, outcome = payer
  coverage: ``covered`` if PAYER_COVERAGE >= 0.999 * TOTAL_CLAIM_COST, ``uncovered`` if it is 0,
  else ``partial``. Encounter classes outside the domain vocabulary (Synthea's ``snf``,
  ``hospice``, ``home``, ``virtual``) are folded into the nearest domain class by
  :data:`SYNTHEA_ENCOUNTERCLASS_MAP` (a note records how many); pass ``encounter_class_map={}`` to
  keep them as they are (validation then quarantines them as unknown event types).
* optionally ``conditions.csv`` as ``diagnosis`` events, outcome ``resolved`` if STOP is present
  else ``ongoing``. Their ``row`` numbers continue after the encounters' rows.
* Synthea's remaining columns (city, county, codes, descriptions, costs, ...) are ignored and
  recorded; they are declared non-identifying (:data:`SYNTHEA_NOT_IDENTIFYING`) so that, e.g.,
  9-digit SNOMED codes are not taken for social security numbers.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from personatwin.core import schema
from personatwin.core.domains import Domain, get_domain
from personatwin.core.errors import InputError
from personatwin.ingest.tables import DROP, ROW, Ingested, load_input, read_table

SYNTHEA_IDENTIFIERS = (
    "SSN", "DRIVERS", "PASSPORT", "PREFIX", "FIRST", "LAST", "SUFFIX", "MAIDEN", "ADDRESS", "LAT", "LON",
    "BIRTHPLACE",
)
SYNTHEA_OVERPRECISE = ("DEATHDATE",)

SYNTHEA_PATIENTS_MAPPING: dict[str, str] = {
    "Id": schema.PERSON_ID,
    "BIRTHDATE": schema.BIRTH_DATE,
    "GENDER": "sex",
    "ZIP": "zip",
    **{c: DROP for c in SYNTHEA_IDENTIFIERS + SYNTHEA_OVERPRECISE},
}
SYNTHEA_ENCOUNTERS_MAPPING: dict[str, str] = {
    "PATIENT": schema.PERSON_ID,
    "START": schema.EVENT_DATE,
    "STOP": schema.END_DATE,
    "ENCOUNTERCLASS": schema.EVENT_TYPE,
    "TOTAL_CLAIM_COST": schema.VALUE,
}
SYNTHEA_CONDITIONS_MAPPING: dict[str, str] = {
    "PATIENT": schema.PERSON_ID,
    "START": schema.EVENT_DATE,
    "STOP": schema.END_DATE,
}
# The column mapping handed to load_input (race and outcome are derived by the loader first).
SYNTHEA_MAPPING: dict[str, dict[str, str]] = {
    "people": SYNTHEA_PATIENTS_MAPPING,
    "events": {**SYNTHEA_CONDITIONS_MAPPING, **SYNTHEA_ENCOUNTERS_MAPPING},
}
SYNTHEA_RACE = {
    "white": "White",
    "black": "Black",
    "asian": "Asian",
    "native": "Native American",
    "hawaiian": "Pacific Islander",
    "other": "Other",
}
SYNTHEA_ENCOUNTERCLASS_MAP = {
    "snf": "inpatient",  # skilled nursing facility stay
    "hospice": "inpatient",
    "home": "outpatient",  # home health visit
    "virtual": "ambulatory",  # telehealth visit
}
SYNTHEA_NOT_IDENTIFYING = (
    "CITY", "STATE", "COUNTY", "FIPS", "MARITAL", "HEALTHCARE_EXPENSES", "HEALTHCARE_COVERAGE", "INCOME",
    "ORGANIZATION", "PROVIDER", "PAYER", "CODE", "DESCRIPTION", "BASE_ENCOUNTER_COST", "PAYER_COVERAGE",
    "REASONCODE", "REASONDESCRIPTION", "ENCOUNTER",
)
COVERED_SHARE = 0.999

# Spellings of common court extracts folded into the contract when the canonical name is absent.
COURT_ALIASES = {
    "defendant_id": schema.PERSON_ID,
    "offender_id": schema.PERSON_ID,
    "subject_id": schema.PERSON_ID,
    "event": schema.EVENT_TYPE,
    "disposition": schema.OUTCOME,
}


def load_criminal_justice_data(
    path_or_df: Any,
    column_mapping: Mapping | None = None,
    *,
    events: Any = None,
    domain: str | Domain | Mapping = "criminal_justice",
    allow_columns: Collection[str] = (),
) -> Ingested:
    """Load a court extract: one flat CSV/Parquet/DataFrame, a people/events pair, or a folder.

    ``path_or_df`` is the flat extract, the people table (with ``events=``), a ``(people, events)``
    pair or a folder with ``people.*`` and ``events.*``; ``defendant_id``/``offender_id`` are taken
    as person_id (and ``event``/``disposition`` as event_type/outcome) when those are absent.
    """
    if events is not None:
        return load_input(people=path_or_df, events=events, domain=domain, column_mapping=column_mapping,
                          allow_columns=allow_columns, aliases=COURT_ALIASES)
    return load_input(path_or_df, domain=domain, column_mapping=column_mapping, allow_columns=allow_columns,
                      aliases=COURT_ALIASES)


def _is_synthea_dir(path: Path) -> bool:
    return path.is_dir() and (path / "patients.csv").is_file() and (path / "encounters.csv").is_file()


def synthea_people(patients: pd.DataFrame, domain: Domain) -> pd.DataFrame:
    """Patients with ``race`` derived from RACE + ETHNICITY (hispanic first); other columns as read."""
    out = patients.copy()
    race = patients["RACE"].astype("string").str.strip().str.lower().map(SYNTHEA_RACE).astype("string")
    race = race.fillna(patients["RACE"].astype("string"))  # unknown spellings: validation maps to Other
    if "ETHNICITY" in patients.columns:
        hispanic = (patients["ETHNICITY"].astype("string").str.strip().str.lower() == "hispanic").fillna(False)
        race = race.mask(hispanic, "Hispanic")
    out["race"] = race
    if "ZIP" in out.columns:  # Synthea writes 00000 for an unknown ZIP: make it missing
        z = out["ZIP"].astype("string").str.strip()
        out["ZIP"] = z.mask((z == "00000").fillna(False))
    return out.drop(columns=[c for c in ("RACE", "ETHNICITY") if c in out.columns])


def synthea_encounter_events(encounters: pd.DataFrame, domain: Domain,
                             class_map: Mapping[str, str] | None = None) -> tuple[pd.DataFrame, int]:
    """Encounters with outcome (payer coverage) and domain event classes; returns (frame, n remapped)."""
    out = encounters.copy()
    total = pd.to_numeric(encounters["TOTAL_CLAIM_COST"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    paid = pd.to_numeric(encounters["PAYER_COVERAGE"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    known = ~(np.isnan(total) | np.isnan(paid))
    outcome = np.select([paid >= total * COVERED_SHARE, paid == 0], ["covered", "uncovered"], "partial").astype(object)
    outcome[~known] = None
    out[schema.OUTCOME] = pd.array(outcome, dtype="string")
    cls = encounters["ENCOUNTERCLASS"].astype("string").str.strip().str.lower()
    in_domain = {t.lower() for t in domain.event_types}
    fold = {k: v for k, v in (SYNTHEA_ENCOUNTERCLASS_MAP if class_map is None else class_map).items()
            if k not in in_domain}
    remap = cls.isin(list(fold)).fillna(False)
    out["ENCOUNTERCLASS"] = cls.mask(remap, cls.map(fold))
    return out, int(remap.sum())


def synthea_condition_events(conditions: pd.DataFrame) -> pd.DataFrame:
    """Conditions as ``diagnosis`` events: ``resolved`` if STOP is present, else ``ongoing``."""
    out = conditions.copy()
    stop = conditions["STOP"].astype("string").str.strip()
    present = (stop.notna() & (stop != "")).fillna(False).to_numpy()
    out[schema.EVENT_TYPE] = pd.array(["diagnosis"] * len(out), dtype="string")
    out[schema.OUTCOME] = pd.array(np.where(present, "resolved", "ongoing"), dtype="string")
    return out


def load_synthea(
    folder: str | os.PathLike,
    *,
    domain: str | Domain | Mapping = "healthcare",
    include_conditions: bool = False,
    encounter_class_map: Mapping[str, str] | None = None,
    allow_columns: Collection[str] = (),
) -> Ingested:
    """Read a Synthea CSV folder (patients, encounters, optionally conditions) into contract tables."""
    folder = Path(folder)
    if not _is_synthea_dir(folder):
        raise InputError(f"{folder}: not a Synthea CSV folder (needs patients.csv and encounters.csv)")
    domain = get_domain(domain)
    patients, n1 = read_table(folder / "patients.csv")
    encounters, n2 = read_table(folder / "encounters.csv")
    _need(patients, ("Id", "BIRTHDATE", "GENDER", "RACE", "ZIP"), folder / "patients.csv")
    _need(encounters, ("PATIENT", "START", "ENCOUNTERCLASS", "TOTAL_CLAIM_COST", "PAYER_COVERAGE"),
          folder / "encounters.csv")
    people = synthea_people(patients, domain)
    events, n_remapped = synthea_encounter_events(encounters, domain, encounter_class_map)
    notes = [*n1, *n2, "race derived from RACE and ETHNICITY (hispanic ethnicity -> Hispanic)"]
    if n_remapped:
        notes.append(f"{n_remapped} encounters of classes outside the domain folded by the encounter class map")
    events_mapping = dict(SYNTHEA_ENCOUNTERS_MAPPING)
    if include_conditions:
        conditions, n3 = read_table(folder / "conditions.csv")
        _need(conditions, ("PATIENT", "START", "STOP"), folder / "conditions.csv")
        notes.extend(n3)
        cond = synthea_condition_events(conditions)
        # Encounter-only columns the conditions lack stay missing; ENCOUNTERCLASS carries both kinds.
        cond["ENCOUNTERCLASS"] = cond.pop(schema.EVENT_TYPE)
        events = pd.concat([events, cond], ignore_index=True)
        events.index = pd.RangeIndex(1, len(events) + 1, name=ROW)
        notes.append(f"{len(cond)} conditions added as diagnosis events (rows after the encounters)")
    ingested = load_input(
        people=people,
        events=events,
        domain=domain,
        column_mapping={"people": SYNTHEA_PATIENTS_MAPPING, "events": events_mapping},
        allow_columns=tuple(SYNTHEA_NOT_IDENTIFYING) + tuple(allow_columns),
    )
    consumed = ("RACE", "ETHNICITY", "PAYER_COVERAGE")
    return Ingested(
        people=ingested.people,
        events=ingested.events,
        dropped_identifiers=ingested.dropped_identifiers,
        source=f"synthea: {folder}",
        ignored_columns=tuple(c for c in ingested.ignored_columns if c not in consumed),
        renamed={**ingested.renamed, "RACE+ETHNICITY": "race", "PAYER_COVERAGE/TOTAL_CLAIM_COST": schema.OUTCOME},
        notes=(*notes, *ingested.notes),
    )


def _need(df: pd.DataFrame, columns: tuple[str, ...], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(f"{path}: Synthea column(s) {missing} not found")


def load_healthcare_data(
    path: Any,
    format: str = "auto",
    *,
    column_mapping: Mapping | None = None,
    domain: str | Domain | Mapping = "healthcare",
    include_conditions: bool = False,
    encounter_class_map: Mapping[str, str] | None = None,
    allow_columns: Collection[str] = (),
) -> Ingested:
    """Load healthcare data: a Synthea CSV folder (``format="synthea"``) or any ``load_input`` form.

    ``format="auto"`` picks Synthea for a folder holding patients.csv and encounters.csv.
    """
    if format not in ("auto", "synthea", "flat"):
        raise ValueError(f"format must be 'auto', 'synthea' or 'flat', got {format!r}")
    is_dir = isinstance(path, (str, os.PathLike)) and _is_synthea_dir(Path(path))
    if format == "synthea" or (format == "auto" and is_dir):
        if column_mapping:
            raise ValueError("column_mapping does not apply to Synthea input (SYNTHEA_MAPPING is used)")
        return load_synthea(path, domain=domain, include_conditions=include_conditions,
                            encounter_class_map=encounter_class_map, allow_columns=allow_columns)
    return load_input(path, domain=domain, column_mapping=column_mapping, allow_columns=allow_columns)


__all__ = [
    "SYNTHEA_ENCOUNTERCLASS_MAP", "SYNTHEA_IDENTIFIERS", "SYNTHEA_MAPPING", "SYNTHEA_NOT_IDENTIFYING",
    "SYNTHEA_RACE", "load_criminal_justice_data", "load_healthcare_data", "load_synthea",
]
