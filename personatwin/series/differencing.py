"""Differencing attack on two versions of one period (a correction, late records).

The attacker holds both published versions and knows who was corrected (their true QIs): the
personas whose published row or events differ between the versions point at the changed people.
For each changed person the candidates are the changed personas publishing the same QI tuple as the
person's own persona (exact match: an attacker who cannot rule out more personas only does worse, so
this is the strong attacker). The attack gains over what the QIs alone give when the candidates are
fewer than the personas of the person's equivalence class:

- differencing single-out: share of changed people whose persona is the only changed candidate while
  their equivalence class holds more than one persona;
- differencing risk: mean gain in re-identification chance, 1/people(changed candidates) minus
  1/people(equivalence class), over changed people (0 where their persona did not visibly change);
- localized change: share of changed people whose persona keeps its id across the versions and
  changes: comparing its two event lists shows which cells changed, i.e. the corrected person's events
  among their persona's (with fresh randomness every persona id is new, so nothing is localized).

All three must stay within the policy's target risk, else the correction is drawn with fresh randomness.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from personatwin.core.schema import PERSONA_ID, PERSONA_SIZE
from personatwin.series.exposure import DIGEST, PERSON_KEY


@dataclass(frozen=True)
class DifferencingResult:
    """What the difference between two versions gives an attacker who knows who was corrected."""

    changed_people: int
    changed_personas: int  # persona ids whose row or events differ (either version)
    personas: int  # personas of the new version
    single_out: float
    risk: float
    limit: float
    fresh_randomness: bool  # the version was drawn with a fresh nonce
    localized: float = 0.0

    @property
    def passed(self) -> bool:
        return self.single_out <= self.limit and self.risk <= self.limit and self.localized <= self.limit

    def figures(self) -> dict[str, float]:
        return {"differencing_changed_people": float(self.changed_people),
                "differencing_changed_personas": float(self.changed_personas),
                "differencing_personas": float(self.personas),
                "differencing_single_out": self.single_out, "differencing_risk": self.risk,
                "differencing_localized": self.localized,
                "differencing_limit": self.limit, "differencing_passed": float(self.passed),
                "differencing_fresh_randomness": float(self.fresh_randomness)}

    def sentence(self) -> str:
        verdict = "within" if self.passed else "above"
        return (f"Differencing against the previous version: {self.changed_personas} of {self.personas} personas "
                f"changed; an attacker who knows who was corrected singles out their persona for "
                f"{self.single_out:.4f} of them, sees which cells changed for {self.localized:.4f} and gains "
                f"{self.risk:.4f} in re-identification chance, "
                f"{verdict} the limit {self.limit}"
                + (" (drawn with fresh randomness)." if self.fresh_randomness else "."))


def persona_digests(personas: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """An order-free digest per persona id of its published row and its released events."""
    ids = personas[PERSONA_ID].astype(str)
    row = pd.Series(pd.util.hash_pandas_object(personas.astype(str), index=False).to_numpy(dtype=np.uint64),
                    index=ids.to_numpy())
    if len(events):
        ev_hash = pd.util.hash_pandas_object(events.astype(str), index=False).to_numpy(dtype=np.uint64)
        summed = pd.Series(ev_hash, dtype="uint64").groupby(events[PERSONA_ID].astype(str).to_numpy()).sum()
        row = row.add(summed.reindex(row.index, fill_value=0).astype("uint64"), fill_value=0).astype("uint64")
    return row


def changed_personas(old_personas: pd.DataFrame, old_events: pd.DataFrame,
                     new_personas: pd.DataFrame, new_events: pd.DataFrame) -> set[str]:
    """Persona ids that appear in one version only, or whose row or events differ."""
    old, new = persona_digests(old_personas, old_events), persona_digests(new_personas, new_events)
    both = old.index.intersection(new.index)
    differ = both[old.reindex(both).to_numpy() != new.reindex(both).to_numpy()]
    return set(old.index.symmetric_difference(new.index)) | set(differ)


def _attack(people: pd.DataFrame, exposure: pd.DataFrame, changed: set[str], qis: list[str],
            persisting: set[str]) -> tuple[float, float, float]:
    """Summed single-out, risk gain and localized changes over ``people`` (rows of ``exposure``) in one version."""
    if people.empty:
        return 0.0, 0.0, 0.0
    per_persona = exposure.drop_duplicates(PERSONA_ID)[[PERSONA_ID, PERSONA_SIZE, *qis]].copy()
    per_persona["changed"] = per_persona[PERSONA_ID].astype(str).isin(changed)
    tup = per_persona[qis].astype(str).agg("\x1f".join, axis=1) if qis else pd.Series("", index=per_persona.index)
    per_persona["ec"] = tup.to_numpy()
    ec_people = per_persona.groupby("ec")[PERSONA_SIZE].sum()
    ec_personas = per_persona.groupby("ec")[PERSONA_ID].count()
    ch = per_persona[per_persona["changed"]]
    cand_people = ch.groupby("ec")[PERSONA_SIZE].sum()
    cand_personas = ch.groupby("ec")[PERSONA_ID].count()
    own = people[[PERSONA_ID]].merge(per_persona[[PERSONA_ID, "changed", "ec"]], on=PERSONA_ID, how="left")
    visible = own["changed"].fillna(False).to_numpy(dtype=bool)
    ec = own["ec"]
    n_cand = cand_personas.reindex(ec).fillna(0).to_numpy()
    single = visible & (n_cand == 1) & (ec_personas.reindex(ec).to_numpy() > 1)
    gain = np.where(visible, 1.0 / np.maximum(cand_people.reindex(ec).fillna(1).to_numpy(), 1)
                    - 1.0 / ec_people.reindex(ec).to_numpy(), 0.0)
    own_id = people[PERSONA_ID].astype(str)
    localized = visible & own_id.isin(persisting).to_numpy()
    return float(single.sum()), float(np.clip(gain, 0.0, None).sum()), float(localized.sum())


def differencing_attack(old: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
                        new: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame],
                        qis: list[str], limit: float, fresh_randomness: bool = False) -> DifferencingResult:
    """Attack two versions, each given as (personas, events, exposure), on the people whose data changed
    (digest differs, added or removed): removed people are attacked on the old version, others on the new."""
    old_p, old_e, old_x = old
    new_p, new_e, new_x = new
    changed = changed_personas(old_p, old_e, new_p, new_e)
    before = pd.MultiIndex.from_arrays([old_x[PERSON_KEY], old_x[DIGEST]])
    now = new_x[~pd.MultiIndex.from_arrays([new_x[PERSON_KEY], new_x[DIGEST]]).isin(before)]  # changed or added
    gone = old_x[~old_x[PERSON_KEY].isin(new_x[PERSON_KEY])]
    persisting = set(old_p[PERSONA_ID].astype(str)) & set(new_p[PERSONA_ID].astype(str))
    s1, r1, l1 = _attack(now, new_x, changed, qis, persisting)
    s2, r2, l2 = _attack(gone, old_x, changed, qis, persisting)
    n = len(now) + len(gone)
    return DifferencingResult(n, len(changed), len(new_p), (s1 + s2) / n if n else 0.0, (r1 + r2) / n if n else 0.0,
                              limit, fresh_randomness, (l1 + l2) / n if n else 0.0)
