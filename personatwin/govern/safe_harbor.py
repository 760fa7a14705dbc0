"""HIPAA Safe Harbor conformance of a release (45 CFR 164.514(b)(2)), rule by rule, for the disclosure dossier.

Checked on what is published: geography no finer than three ZIP digits, and the three-digit areas of
20,000 or fewer people (``data/hipaa_restricted_zip3.txt``) not published at all (as ``000`` or coarser);
ages over 89 only as one "90+" category; dates no finer than the year; no free text (every released text
column is one of the release's coded columns). Direct identifiers never pass ingest (``personatwin.ingest``),
so the other identifiers of the rule are not in a release to begin with.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from personatwin.core.domains import Domain
from personatwin.core.schema import LOCATION
from personatwin.release.tables import ReleaseTables

TOP_AGE = "90+"
CODED_TEXT = {"persona_id", "event_type", "event_period", "outcome", "location", "attribute", "value",
              "group", "cell", "dp_method"}  # released text columns of fixed vocabularies


def restricted_zip3() -> frozenset[str]:
    """The three-digit ZIP areas that must be published as 000 (shipped list, see the data file's header)."""
    text = resources.files("personatwin.govern").joinpath("data/hipaa_restricted_zip3.txt").read_text("utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


@dataclass(frozen=True)
class RuleResult:
    """One Safe Harbor rule: passed or failed, and what was found."""

    rule: str
    passed: bool
    detail: str


def _zip_findings(values: pd.Series, column: str, restricted: frozenset[str]) -> list[str]:
    found = []
    for label in sorted(set(values.dropna().astype(str))):
        digits = re.match(r"^\d*", label).group(0)  # type: ignore[union-attr]
        if len(digits) > 3:
            found.append(f"{column} {label}: finer than three ZIP digits")
        elif len(digits) == 3 and digits in restricted:
            found.append(f"{column} {label}: ZIP3 area {digits} has 20,000 or fewer people (publish as 000)")
    return found


def _age_findings(values: pd.Series, column: str) -> list[str]:
    found = []
    for label in sorted(set(values.dropna().astype(str))):
        if label in (TOP_AGE, "*"):
            continue
        low = re.match(r"^(\d+)", label)
        if low and int(low.group(1)) >= 90:
            found.append(f"{column} {label}: an age over 89 other than the single {TOP_AGE} category")
    return found


def check_safe_harbor(personas: pd.DataFrame, events: pd.DataFrame, date_precision: str,
                      geographic: tuple[str, ...] = ("zip",), ages: tuple[str, ...] = ("age",),
                      qis: tuple[str, ...] = ()) -> tuple[RuleResult, ...]:
    """Each Safe Harbor rule on the released tables (``date_precision``: the release's, from its policy)."""
    restricted = restricted_zip3()
    geo = [f for c in geographic if c in personas.columns for f in _zip_findings(personas[c], c, restricted)]
    if LOCATION in events.columns:
        geo += _zip_findings(events[LOCATION], LOCATION, restricted)
    age = [f for c in ages if c in personas.columns for f in _age_findings(personas[c], c)]
    coded = CODED_TEXT | set(qis) | set(geographic) | set(ages)
    free = sorted(f"{name}.{c}" for name, t in (("personas", personas), ("events", events)) for c in t.columns
                  if c not in coded and (pd.api.types.is_string_dtype(t[c]) or t[c].dtype == object))
    return (
        RuleResult("geography: no area smaller than three ZIP digits; restricted ZIP3 areas as 000", not geo,
                   "; ".join(geo[:10]) + (f" (and {len(geo) - 10} more)" if len(geo) > 10 else "")
                   if geo else "every published area is a non-restricted ZIP3 or coarser"),
        RuleResult("ages over 89 only as 90+", not age, "; ".join(age) if age else "no age over 89 is published"),
        RuleResult("dates no finer than the year", date_precision == "year",
                   f"dates are published by {date_precision}"),
        RuleResult("no free text", not free,
                   "free-text columns: " + ", ".join(free) if free else "every text column is coded"),
    )


def safe_harbor_of(release: ReleaseTables, domain: Domain) -> tuple[RuleResult, ...]:
    """``check_safe_harbor`` of a release: its domain's location QI is the geography, its QIs and sensitive
    columns are coded text."""
    geographic = (domain.location_qi,) if domain.location_qi else ()
    ages = tuple(q for q in domain.qis if q == "age")
    return check_safe_harbor(release.personas, release.events, str(release.policy["date_precision"]), geographic,
                             ages, tuple(domain.qis) + tuple(domain.sensitive))
