"""Object views of a release (the original API's ``Persona``, ``Demographics``, ``EventPatterns``,
``PrivacyMetadata``) over the columnar tables: built lazily, one persona at a time, never on a hot path.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from personatwin.core.domains import Domain
from personatwin.core.policy import PrivacyPolicy
from personatwin.core.schema import EVENT_DATE, EVENT_TYPE, OUTCOME, PERSONA_ID, PERSONA_SIZE


@dataclass(frozen=True)
class Demographics:
    """Published demographics of a persona (or given ones of a person, in the original API).

    ``confidence_level`` is the share of members whose own value lies inside the published one:
    1.0 by construction, since every QI is generalized to a value all members share.
    """

    age: object = None
    gender: str | None = None
    ethnicity: str | None = None
    geography: str | None = None
    age_range: str | None = None
    confidence_level: float = 1.0
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class EventPatterns:
    """What a persona's released events look like in aggregate."""

    event_types: tuple[str, ...]
    event_counts: dict[str, int]
    outcome_distribution: dict[str, float]
    first_period: str | None
    last_period: str | None


@dataclass(frozen=True)
class PrivacyMetadata:
    """How a persona was protected."""

    k: int
    merged_from: int
    traceability_score: float  # 1 / people sharing the persona's published QIs
    noise_level: float  # PRAM replacement probability 1 - p
    date_precision: str
    generation_method: str = "microaggregation (stratified principal-direction splits, k..2k-1)"


@dataclass(frozen=True)
class ReleasedEvent:
    """One released event: persona-level, date coarsened, outcome randomized."""

    persona_id: str
    event_type: str
    date: pd.Timestamp
    period: str
    outcome: str
    location: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class Persona:
    """A group of at least k people released as one entity."""

    persona_id: str
    merged_from: int
    demographics: Demographics
    events: tuple[ReleasedEvent, ...]
    event_patterns: EventPatterns
    privacy_metadata: PrivacyMetadata

    def to_dict(self) -> dict:
        return {"persona_id": self.persona_id, "merged_from": self.merged_from,
                "demographics": self.demographics.__dict__, "event_count": len(self.events),
                "event_patterns": self.event_patterns.__dict__, "privacy_metadata": self.privacy_metadata.__dict__}


class PersonaCollection(Sequence):
    """The released personas: a sequence of ``Persona`` views over the personas and events tables."""

    def __init__(self, table: pd.DataFrame, events: pd.DataFrame, domain: Domain, policy: PrivacyPolicy,
                 traceability: pd.Series | None = None) -> None:
        self.table = table
        self.events = events
        self.domain = domain
        self.policy = policy
        self._trace = traceability
        self._event_slices: dict[str, tuple[int, int]] | None = None

    def __len__(self) -> int:
        return len(self.table)

    def to_dataframe(self) -> pd.DataFrame:
        return self.table.copy()

    def _slices(self) -> dict[str, tuple[int, int]]:
        """Row range of each persona's events (events are sorted by persona: one block each)."""
        if self._event_slices is None:
            ids = self.events[PERSONA_ID].astype(str).to_numpy()
            # unpacked by index: mypy crashes on unpacking np.unique's tuple
            found = np.unique(ids, return_index=True, return_counts=True)
            uniq, first, count = found[0], found[1], found[2]
            self._event_slices = dict(zip(uniq.tolist(), zip(first.tolist(), (first + count).tolist())))
        return self._event_slices

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        row = self.table.iloc[i]
        pid = str(row[PERSONA_ID])
        lo, hi = self._slices().get(pid, (0, 0))
        ev = self.events.iloc[lo:hi]
        events = tuple(ReleasedEvent(pid, str(r[EVENT_TYPE]), r[EVENT_DATE], str(r["event_period"]), str(r[OUTCOME]),
                                     None if "location" not in ev.columns else str(r["location"]),
                                     None if "value" not in ev.columns or pd.isna(r["value"]) else float(r["value"]))
                       for _, r in ev.iterrows())
        counts = ev[EVENT_TYPE].astype(str).value_counts().to_dict() if len(ev) else {}
        outcomes = ev[OUTCOME].astype(str).value_counts(normalize=True).to_dict() if len(ev) else {}
        patterns = EventPatterns(tuple(sorted(counts)), counts, outcomes,
                                 str(ev["event_period"].iloc[0]) if len(ev) else None,
                                 str(ev["event_period"].iloc[-1]) if len(ev) else None)
        qi = {c: (None if pd.isna(row[c]) else str(row[c])) for c in self.domain.qis if c in row.index}
        demo = Demographics(age=qi.get("age"), gender=qi.get("sex"), ethnicity=qi.get("race"),
                            geography=qi.get(self.domain.location_qi or "zip"), age_range=qi.get("age"),
                            extra={c: v for c, v in qi.items()
                                   if c not in ("age", "sex", "race", self.domain.location_qi)})
        trace = float(self._trace.iloc[i]) if self._trace is not None else float("nan")
        meta = PrivacyMetadata(self.policy.k, int(row[PERSONA_SIZE]), trace, 1.0 - self.policy.pram_p,
                               self.policy.date_precision)
        return Persona(pid, int(row[PERSONA_SIZE]), demo, events, patterns, meta)

    def __iter__(self) -> Iterator[Persona]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return f"PersonaCollection({len(self)} personas, {len(self.events)} events)"
