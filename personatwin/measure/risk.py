"""Risk metrics of a release (DESIGN §5): equivalence classes, re-identification, diversity.

An equivalence class (EC) is the set of people whose personas publish identical QI tuples; f(i)
is the size of person i's EC in people and n the number of people.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from personatwin.core.codes import dense_codes
from personatwin.measure.criteria import BAND_ADVICE, risk_band
from personatwin.protect import diversity as div
from personatwin.protect.merge import factorize
from personatwin.protect.personas import PersonaAttributes


def risk_level(release_risk: float) -> str:
    """Reference band of a release risk (``criteria.RISK_BANDS``): public, research, internal or not safe."""
    return risk_band(release_risk)


@dataclass(frozen=True)
class RiskReport:
    """Every risk figure of one release; ``release_risk`` is what the target is compared with."""

    n_people: int
    n_personas: int
    n_equivalence_classes: int
    k_anonymity: int
    prosecutor_risk_max: float
    records_at_risk: float  # share of people with r(i) > threshold
    records_at_risk_threshold: float
    population_average_risk: float
    journalist_risk: float | None
    marketer_risk: float | None
    l_diversity_distinct: float
    l_diversity_entropy: float
    t_closeness: float
    demographic_concentration_risk: float
    demographic_outliers: int
    event_pattern_concentration_risk: float
    external_linkage_risk: float
    external_linkage_ci_low: float
    external_linkage_ci_high: float
    attacker_knowledge: int
    linkage_targets: int
    persona_single_out_rate: float = 0.0  # linkage targets whose knowledge leaves exactly their own persona
    persona_single_out_ci_low: float = 0.0
    persona_single_out_ci_high: float = 0.0
    # l, t and the homogeneous share per sensitive attribute on true values (not flattened by asdict)
    by_attribute: tuple[tuple[str, AttributeDiversity], ...] = field(default=(), compare=False)

    @property
    def release_risk(self) -> float:
        return max(self.population_average_risk, self.external_linkage_risk)

    def get_risk_level(self) -> str:
        """Reference band of the release risk (original PersonaTwin API)."""
        return risk_level(self.release_risk)

    @property
    def recommendation(self) -> str:
        return BAND_ADVICE[self.get_risk_level()]

    def as_dict(self) -> dict[str, float | None]:
        out = {f.name: (float(getattr(self, f.name)) if getattr(self, f.name) is not None else None)
               for f in fields(self) if f.name != "by_attribute"}
        out["release_risk"] = float(self.release_risk)
        for name, figures in self.by_attribute:
            out.update(figures.as_dict(name))
        return out


def equivalence_ids(table: pd.DataFrame, qi_columns) -> np.ndarray:
    """EC id of each persona row: personas publishing identical QI tuples share one class."""
    if not qi_columns:
        return np.zeros(len(table), dtype=np.int64)
    return table.groupby(list(qi_columns), sort=True, observed=True, dropna=False).ngroup().to_numpy()


def equivalence_classes(attrs: PersonaAttributes) -> np.ndarray:
    """EC id of each persona of a pass."""
    return equivalence_ids(attrs.table, attrs.qi_columns)


def class_sizes_of(table: pd.DataFrame, qi_columns) -> tuple[np.ndarray, int]:
    """f per persona row (people in its EC, from the ``size`` column) and the number of ECs."""
    ec = equivalence_ids(table, qi_columns)
    per_ec = np.bincount(ec, weights=table["size"].to_numpy())
    return per_ec[ec].astype(np.int64), int(len(np.unique(ec)))


def class_sizes(attrs: PersonaAttributes) -> tuple[np.ndarray, int]:
    """f per persona (people in its EC) and the number of ECs."""
    return class_sizes_of(attrs.table, attrs.qi_columns)


def value_counts_matrix(persona: np.ndarray, values: np.ndarray, n_personas: int, n_values: int) -> np.ndarray:
    """Counts of each sensitive value per persona (personas x values)."""
    return np.bincount(persona * n_values + values, minlength=n_personas * n_values).reshape(n_personas, n_values)


def diversity(observations: list[np.ndarray], min_counts: list[int] | None = None) -> tuple[float, float, float]:
    """(distinct l, entropy l, t-closeness) over persona x value count matrices, one per attribute.

    l is the minimum over personas and attributes; t is the largest total variation distance (the
    equal-distance EMD) between a persona's distribution and the attribute's overall one. A persona
    counts for an attribute when it holds at least ``min_counts[i]`` observations of it (default 1).
    """
    return overall_diversity([attribute_diversity(c, (min_counts or [1] * len(observations))[i])
                              for i, c in enumerate(observations)])


def overall_diversity(figures) -> tuple[float, float, float]:
    """(distinct l, entropy l, t) of a release: the least diverse of its measured attributes (NaN: none)."""
    measured = [f for f in figures if f.personas_measured]
    if not measured:
        return float("nan"), float("nan"), float("nan")
    categorical = [f for f in measured if not f.ordered]  # distinct l is the model of categorical attributes
    l_distinct = float(min(f.l_distinct for f in categorical)) if categorical else float("nan")
    return (l_distinct, float(min(f.l_entropy for f in measured)), float(max(f.t_closeness for f in measured)))


@dataclass(frozen=True)
class AttributeDiversity:
    """l-diversity and t-closeness of one sensitive attribute (an event type's true outcomes, or a
    person-level sensitive column) over the personas holding at least ``min_count`` observations of it."""

    l_distinct: float
    l_entropy: float
    t_closeness: float
    homogeneous_share: float  # personas holding any observation whose observations all share one value
    personas_measured: int
    personas_holding: int
    ordered: bool = False  # t is the ordered distance (EMD over ordered ranges); distinct l does not apply
    # smallest c for recursive (c, l)-diversity at the attribute's l (its own, else the policy's; at least 2;
    # inf: a persona holds fewer than l values)
    c_recursive: float = float("nan")

    def as_dict(self, name: str) -> dict[str, float]:
        out = {f"l_diversity_distinct.{name}": self.l_distinct, f"l_diversity_entropy.{name}": self.l_entropy,
               f"t_closeness.{name}": self.t_closeness, f"homogeneous_personas.{name}": self.homogeneous_share,
               f"c_recursive.{name}": self.c_recursive}
        if self.ordered:
            out[f"sensitive_ordered.{name}"] = 1.0
        return out


ordered_emd = div.ordered_emd  # the repair's distances are the published ones


def recursive_c(counts: np.ndarray, l: int) -> float:  # noqa: E741 (the model's name for it)
    """Smallest c making every row recursive (c, l)-diverse (Machanavajjhala et al. 2007): the most frequent
    value's count r1 must stay below c (r_l + ... + r_m); inf when a row holds fewer than l values."""
    if not len(counts) or l < 2:
        return float("nan")
    return float(np.max(div.recursive_ratio(counts, l)))


def attribute_diversity(counts: np.ndarray, min_count: int = 1, ordered: bool = False,
                        l: int = 2) -> AttributeDiversity:  # noqa: E741 (the model's name for it)
    """Diversity of one attribute from its persona x value count matrix; for an ordered attribute t is
    the ordered distance (EMD), else the variational distance (the EMD with equal ground distances)."""
    counts = counts[counts.sum(axis=1) > 0].astype(np.float64)
    holding = len(counts)
    homogeneous = float(((counts > 0).sum(axis=1) == 1).mean()) if holding else 0.0
    g = counts.sum(axis=0) / counts.sum() if holding else counts.sum(axis=0)
    counts = counts[counts.sum(axis=1) >= max(min_count, 1)]
    if not len(counts):
        return AttributeDiversity(float("nan"), float("nan"), float("nan"), homogeneous, 0, holding)
    t = div.t_distance(counts, g, ordered)
    return AttributeDiversity(float((counts > 0).sum(axis=1).min()), float(div.entropy_l(counts).min()),
                              float(t.max()), homogeneous, len(counts), holding, ordered, recursive_c(counts, l))


def demographic_concentration(people_qis: pd.DataFrame, person_persona: np.ndarray,
                              attrs: PersonaAttributes, k: int) -> tuple[float, int]:
    """Share of people who are outliers (exact QI combination rarer than k) and whose persona
    still publishes that exact combination; also the number of outliers.

    A persona publishes a QI at level 0 only when all members share that exact value, so
    "publishes the exact combination" is "every QI of the persona is at level 0".
    """
    cols = list(attrs.qi_columns)
    n = len(people_qis)
    if n == 0 or not cols:
        return 0.0, 0
    key = np.zeros(n, dtype=np.int64)
    for c in cols:
        codes, cats = factorize(people_qis[c])
        key = key * (len(cats) + 1) + codes
    combo = dense_codes(key)[0]
    outlier = np.bincount(combo)[combo] < k
    exact = (attrs.levels[cols].to_numpy() == 0).all(axis=1)[person_persona]
    exposed = outlier & exact
    return float(exposed.sum()) / n, int(outlier.sum())


def population_risks(f: np.ndarray, size: np.ndarray, n: int,
                     population_size: int | None) -> tuple[float | None, float | None]:
    """Journalist (max) and marketer (mean) risk with EC sizes scaled to the population."""
    if not population_size or population_size <= 0 or n == 0:
        return None, None
    F = np.maximum(f * (population_size / n), f)
    journalist = float(1.0 / F.min())
    marketer = float((size / F).sum() / n)
    return journalist, marketer
