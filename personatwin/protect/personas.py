"""Persona attributes: QIs generalized to the lowest hierarchy level all members share (DESIGN §4).

Never members' exact values and never per-persona min-max ranges (those make every persona
unique): each QI of a persona is the first level, at or above the policy's starting level, at
which every member has the same generalized value; ``*`` at the top always qualifies.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from personatwin.core.domains import Domain
from personatwin.core.policy import PrivacyPolicy
from personatwin.core.schema import PERSONA_SIZE
from personatwin.protect.merge import factorize


@dataclass(frozen=True)
class PersonaAttributes:
    """Published QI labels and hierarchy levels per persona (row i = persona index i)."""

    table: pd.DataFrame  # size + one label column per QI
    levels: pd.DataFrame  # hierarchy level per QI
    qi_columns: tuple[str, ...]


def start_level(domain: Domain, policy: PrivacyPolicy, qi: str) -> int:
    """The policy's starting generalization level of one QI."""
    if qi == domain.location_qi:
        return max(policy.location_level, policy.qi_level(qi))
    return policy.qi_level(qi)


def start_levels(domain: Domain, policy: PrivacyPolicy) -> dict[str, int]:
    """Starting generalization level of every QI under a policy."""
    return {q: start_level(domain, policy, q) for q in domain.qis}


def generalized_codes(values: pd.Series, hierarchy, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes and labels of a column generalized to one level, computed on its distinct values."""
    codes, cats = factorize(values)
    labels = hierarchy.generalize(pd.Series(cats, dtype="object"), level).astype(str).to_numpy()
    lut, uniq = pd.factorize(labels)
    return lut[codes], np.asarray(uniq, dtype=object)


def shared_level(codes_by_level: list[np.ndarray], persona: np.ndarray, n_personas: int) -> np.ndarray:
    """Index into ``codes_by_level`` of the first level at which all members of a persona agree."""
    chosen = np.full(n_personas, len(codes_by_level) - 1, dtype=np.int64)
    undecided = np.ones(n_personas, dtype=bool)
    for i, codes in enumerate(codes_by_level):
        lo = np.full(n_personas, np.iinfo(np.int64).max)
        hi = np.full(n_personas, np.iinfo(np.int64).min)
        np.minimum.at(lo, persona, codes)
        np.maximum.at(hi, persona, codes)
        same = undecided & (lo == hi)
        chosen[same] = i
        undecided &= ~same
        if not undecided.any():
            break
    return chosen


def persona_attributes(people: pd.DataFrame, persona: np.ndarray, n_personas: int,
                       domain: Domain, policy: PrivacyPolicy) -> PersonaAttributes:
    """Generalize every QI of every persona to the lowest level shared by all its members."""
    size = np.bincount(persona, minlength=n_personas)
    table = {PERSONA_SIZE: size}
    levels = {}
    qis = tuple(q for q in domain.qis if q in people.columns)
    first = np.full(n_personas, -1, dtype=np.int64)
    first[persona[::-1]] = np.arange(len(persona))[::-1]  # a representative member per persona
    for qi in qis:
        h = domain.hierarchy(qi)
        lv0 = min(start_level(domain, policy, qi), h.n_levels - 1)
        per_level = [generalized_codes(people[qi], h, lv) for lv in range(lv0, h.n_levels)]
        choice = shared_level([c for c, _ in per_level], persona, n_personas)
        label = np.empty(n_personas, dtype=object)
        for i, (codes, labels) in enumerate(per_level):
            sel = choice == i
            if sel.any():
                label[sel] = labels[codes[first[sel]]]
        table[qi] = pd.array(label, dtype="string")
        levels[qi] = choice + lv0
    return PersonaAttributes(pd.DataFrame(table), pd.DataFrame(levels), qis)
