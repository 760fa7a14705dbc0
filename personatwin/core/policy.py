"""Privacy policies: the parameters of one protection pass, the presets and the escalation ladder."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import Enum
from numbers import Integral, Real
from typing import Any

DATE_PRECISIONS = ("day", "week", "month", "quarter", "year")


class PrivacyLevel(str, Enum):  # noqa: UP042 (StrEnum would change str(PrivacyLevel.HIGH))
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    MAXIMUM = "maximum"


# Reference thresholds for release risk (DESIGN §5).
PUBLIC_RISK = 0.01
RESEARCH_RISK = 0.05
INTERNAL_RISK = 0.15


@dataclass(frozen=True)
class UtilityGates:
    """Blocking utility conditions on a release (DESIGN §6)."""

    max_rate_diff_pp: float = 2.0  # per-group unbiased rate vs original, groups with many events
    large_group_events: int = 1000
    small_group_se: float = 3.0  # smaller groups: within this many standard errors
    min_group_events: int = 30  # groups smaller than this are reported, not gated
    min_group_coverage: float = 0.9  # share of a group's events its published label must keep to be gated
    enabled: bool = True


@dataclass(frozen=True)
class PrivacyPolicy:
    """Parameters of one protection pass plus the targets the release must meet."""

    level: PrivacyLevel = PrivacyLevel.MEDIUM
    k: int = 5
    date_precision: str = "month"
    location_level: int = 1  # zip5 -> level 1 = zip3
    qi_levels: Mapping[str, int] = field(default_factory=lambda: {"age": 1})
    pram_p: float = 0.9
    attacker_knowledge: int = 3  # m: true events the attacker knows
    l_diversity: int = 1
    target_risk: float = RESEARCH_RISK
    date_shift_days: int = 0
    value_rounding: float = 10.0
    value_top_code_quantile: float = 0.99
    records_at_risk_threshold: float = 0.2
    linkage_targets: int = 2000
    population_size: int | None = None  # for journalist / marketer risk
    gates: UtilityGates = field(default_factory=UtilityGates)
    max_k: int = 100
    min_pram_p: float = 0.5
    # Independent attack evaluation (Anonymeter): a headline singling-out, linkability or (pooled)
    # inference risk above this, or one secret's inference risk above it even at its 95% lower bound,
    # raises k, then refuses the release; None = not gated (anonymeter_eval.exceeds).
    anonymeter_max_risk: float | None = None
    # Persona single-out rate (share of linkage targets whose knowledge, every released column
    # included, leaves exactly their own persona): an attribute-disclosure bound, since a singled-out
    # persona still hides the target among its k members behind PRAM. None = reported, not gated.
    # Only the public preset (maximum) gates it, at 0.25. One pass singles out 80% / 58% / 34% / 18%
    # of targets at k = 3 / 5 / 10 / 20 on generated criminal-justice data, but 75-85% on Synthea's
    # patients (about 70 encounters each) at any k from 10 to 80, with amounts rounded to 1,000 or
    # quarterly dates: a gate below maximum would refuse every dense-history data set while the
    # identity risk of a singled-out persona (1 / its size) is already gated as linkage risk.
    max_single_out_rate: float | None = None
    # t-closeness per sensitive attribute on true values (each event type's outcomes over the personas
    # holding at least k events of it; each person-level sensitive column): the largest distance of a
    # persona's mix from the attribute's overall mix. None = reported, not gated. The largest of many
    # personas grows with their number by chance alone (generated data, high, k = 10: 0.47-0.54 at 16k
    # people, 0.65-0.71 at 200k), so presets sit above chance at 1M people and catch real homogeneity:
    # medium 0.95, high 0.8, maximum 0.6; low (internal use) reports it. A few personas over their attribute's
    # limit are repaired by member swaps at the same k (personatwin.protect.diversity).
    max_t_closeness: float | None = None
    # Per-attribute t limits (attribute name -> limit), overriding max_t_closeness for that attribute:
    # e.g. a skewed count released as ordered ranges, judged by the ordered distance (core/sensitive.py).
    max_t_closeness_by_attribute: Mapping[str, float] = field(default_factory=dict)
    # Per-attribute diversity limits (attribute: an event type's outcomes, or a person-level sensitive column).
    # l_diversity_by_attribute overrides l_diversity for that attribute (1: distinct l not gated for it; it is
    # also the l of its recursive c); min_entropy_l_by_attribute gates entropy l (exp of the smallest entropy of
    # a persona's mix, in [1, number of values]); max_recursive_c_by_attribute gates the smallest c for which
    # every persona is recursive (c, l)-diverse at the attribute's l (at least 2). Each is judged, and repaired by
    # member swaps, only where set. No preset sets them: see PRESETS for the figures measured.
    l_diversity_by_attribute: Mapping[str, int] = field(default_factory=dict)
    min_entropy_l_by_attribute: Mapping[str, float] = field(default_factory=dict)
    max_recursive_c_by_attribute: Mapping[str, float] = field(default_factory=dict)
    # Small-cell rule of every published table and figure: a cell of fewer distinct people is hidden,
    # with complementary cells so that no margin gives it back (personatwin.publish.cells).
    small_cell_people: int = 11
    # The series window (DESIGN §7c): the series risk composes every release of the population within
    # this many months of each other (None: all time). Privacy unit: a person across the series.
    series_window_months: int | None = 12
    # Planning share of the series budget: each release's own linkage risk is held to
    # target_risk / series_expected_releases, so the first releases of a window do not spend the
    # budget of the later ones (a greedy gate front-loads: at medium the 8th month of a generated year
    # failed at k = 100). About the mean number of releases of the window a person appears in (4.65
    # in a generated year of monthly releases). The series risk itself is always gated at target_risk.
    series_expected_releases: float = 5.0
    # Series single-out rate (share of people whose persona is singled out in at least one release of
    # the window): gated at this limit, each release's own rate at this / series_expected_releases.
    # Raising k does not lower it; rounder amounts and a coarser location do (ladder.single_out_steps).
    # None: reported, not gated. Presets: medium, high and maximum 0.25 (issue 12, finding 1: 40% of
    # people were singled out in at least one of three monthly releases).
    max_series_single_out_rate: float | None = None
    # Differentially private tables (OpenDP, zCDP; personatwin.series.dp_tables): None = not released.
    # Each release spends dp_rho_per_release of every person's budget; the releases of one window may
    # spend at most dp_rho_cap (None: 12 releases' worth); a person adds at most dp_max_events_per_person
    # events per release; epsilon is reported at dp_delta.
    dp_rho_per_release: float | None = None
    dp_rho_cap: float | None = None
    dp_delta: float = 1e-6
    dp_max_events_per_person: int = 12
    # Known overlapping public data (FCSM/CDAC checklist): data sets an attacker could link to this release
    # (e.g. "court calendar", "voter roll"), declared by the data steward for the disclosure-review dossier.
    overlapping_public_data: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.k < 2:
            raise ValueError(f"k must be at least 2, got {self.k}")
        if self.date_precision not in DATE_PRECISIONS:
            raise ValueError(f"date_precision must be one of {DATE_PRECISIONS}, got {self.date_precision!r}")
        if not 0 < self.pram_p <= 1:
            raise ValueError(f"pram_p must be in (0, 1], got {self.pram_p}")
        if not 0 < self.target_risk <= 1:
            raise ValueError(f"target_risk must be in (0, 1], got {self.target_risk}")
        if self.attacker_knowledge < 1:
            raise ValueError("attacker_knowledge (m) must be at least 1")
        if self.anonymeter_max_risk is not None and not 0 < self.anonymeter_max_risk <= 1:
            raise ValueError(f"anonymeter_max_risk must be in (0, 1] or None, got {self.anonymeter_max_risk}")
        if self.max_single_out_rate is not None and not 0 < self.max_single_out_rate <= 1:
            raise ValueError(f"max_single_out_rate must be in (0, 1] or None, got {self.max_single_out_rate}")
        if self.small_cell_people < 1:
            raise ValueError(f"small_cell_people must be at least 1, got {self.small_cell_people}")
        if self.max_series_single_out_rate is not None and not 0 < self.max_series_single_out_rate <= 1:
            raise ValueError("max_series_single_out_rate must be in (0, 1] or None, got "
                             f"{self.max_series_single_out_rate}")
        if self.series_expected_releases < 1:
            raise ValueError(f"series_expected_releases must be at least 1, got {self.series_expected_releases}")
        if self.series_window_months is not None and self.series_window_months < 1:
            raise ValueError(f"series_window_months must be at least 1 or None, got {self.series_window_months}")
        for name, limit in self.max_t_closeness_by_attribute.items():
            if not 0 < limit <= 1:
                raise ValueError(f"max_t_closeness_by_attribute[{name!r}] must be in (0, 1], got {limit}")
        if self.max_t_closeness is not None and not 0 < self.max_t_closeness <= 1:
            raise ValueError(f"max_t_closeness must be in (0, 1] or None, got {self.max_t_closeness}")
        _check_by_attribute("l_diversity_by_attribute", self.l_diversity_by_attribute,
                            lambda v: isinstance(v, Integral) and int(v) >= 1, "a whole number >= 1")
        _check_by_attribute("min_entropy_l_by_attribute", self.min_entropy_l_by_attribute,
                            lambda v: 1 <= v < math.inf, "a number >= 1")
        _check_by_attribute("max_recursive_c_by_attribute", self.max_recursive_c_by_attribute,
                            lambda v: 0 < v < math.inf, "a number > 0")
        if isinstance(self.overlapping_public_data, str) or not all(
                isinstance(d, str) and d.strip() for d in self.overlapping_public_data):
            raise ValueError("overlapping_public_data must be a sequence of non-empty names, got "
                             f"{self.overlapping_public_data!r}")
        object.__setattr__(self, "overlapping_public_data", tuple(d.strip() for d in self.overlapping_public_data))

    def qi_level(self, column: str) -> int:
        return int(self.qi_levels.get(column, 0))

    def with_changes(self, **changes) -> PrivacyPolicy:
        return replace(self, **changes)

    def parameters(self) -> dict:
        """Flat, JSON-friendly view of the protection parameters (no targets, no key)."""
        return {
            "level": self.level.value,
            "k": self.k,
            "date_precision": self.date_precision,
            "location_level": self.location_level,
            "qi_levels": dict(sorted(self.qi_levels.items())),
            "pram_p": self.pram_p,
            "attacker_knowledge": self.attacker_knowledge,
            "l_diversity": self.l_diversity,
            "target_risk": self.target_risk,
            "anonymeter_max_risk": self.anonymeter_max_risk,
            "max_single_out_rate": self.max_single_out_rate,
            "max_t_closeness": self.max_t_closeness,
            **({"max_t_closeness_by_attribute": dict(sorted(self.max_t_closeness_by_attribute.items()))}
               if self.max_t_closeness_by_attribute else {}),
            **{name: dict(sorted(getattr(self, name).items())) for name in BY_ATTRIBUTE_LIMITS if getattr(self, name)},
            "small_cell_people": self.small_cell_people,
            "series_window_months": self.series_window_months,
            "series_expected_releases": self.series_expected_releases,
            "max_series_single_out_rate": self.max_series_single_out_rate,
            **({"dp_rho_per_release": self.dp_rho_per_release, "dp_rho_cap": self.dp_rho_cap_or_default,
                "dp_delta": self.dp_delta, "dp_max_events_per_person": self.dp_max_events_per_person}
               if self.dp_rho_per_release is not None else {}),
            **({"overlapping_public_data": list(self.overlapping_public_data)} if self.overlapping_public_data
               else {}),
        }

    def configuration(self) -> dict:
        """Every field, JSON-friendly: what pins this exact policy for later releases (``policy_from_configuration``
        gives it back); unlike ``parameters`` it holds the gates and the loop's bounds too."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Enum):
                value = value.value
            elif isinstance(value, UtilityGates):
                value = asdict(value)
            elif isinstance(value, Mapping):
                value = dict(sorted(value.items()))
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out

    @property
    def dp_rho_cap_or_default(self) -> float | None:
        """The window's zCDP budget: as set, else 12 releases' worth."""
        if self.dp_rho_per_release is None:
            return None
        return self.dp_rho_cap if self.dp_rho_cap is not None else 12 * self.dp_rho_per_release


BY_ATTRIBUTE_LIMITS = ("l_diversity_by_attribute", "min_entropy_l_by_attribute", "max_recursive_c_by_attribute")


def policy_from_configuration(configuration: Mapping[str, Any]) -> PrivacyPolicy:
    """The policy a ``PrivacyPolicy.configuration()`` describes (a field it lacks keeps its default; a field this
    version does not know is refused, naming it, rather than silently dropped)."""
    known = {f.name for f in fields(PrivacyPolicy)}
    unknown = sorted(set(configuration) - known)
    if unknown:
        raise ValueError(f"unknown policy field(s) {unknown} in a pinned configuration (written by a newer version?)")
    values = dict(configuration)
    if "level" in values:
        values["level"] = PrivacyLevel(values["level"])
    if isinstance(values.get("gates"), Mapping):
        gate_fields = {f.name for f in fields(UtilityGates)}
        extra = sorted(set(values["gates"]) - gate_fields)
        if extra:
            raise ValueError(f"unknown utility gate field(s) {extra} in a pinned configuration")
        values["gates"] = UtilityGates(**values["gates"])
    if "overlapping_public_data" in values:
        values["overlapping_public_data"] = tuple(values["overlapping_public_data"])
    return PrivacyPolicy(**values)


def _check_by_attribute(name: str, limits: Mapping, valid: Callable[[Any], bool], what: str) -> None:
    """A per-attribute limit mapping: attribute names to valid limits, the error naming the attribute."""
    for attribute, limit in limits.items():
        if not isinstance(attribute, str) or not attribute:
            raise ValueError(f"{name}: attribute names must be non-empty strings, got {attribute!r}")
        ok = isinstance(limit, Real) and not isinstance(limit, bool) and valid(limit)
        if not ok:
            raise ValueError(f"{name}[{attribute!r}] must be {what}, got {limit!r}")


# No preset gates entropy l or recursive c (min_entropy_l_by_attribute, max_recursive_c_by_attribute): they
# are for an attribute a data steward knows. Both depend on each attribute's own outcome mix and on scale, so
# one preset value would either sit below every data set's figures or refuse some. Measured on one pass at
# high (k = 10), generated criminal-justice data: entropy l per event type 1.14-1.84 at 20k people and
# 1.17-1.65 at 100k (the smallest of more personas is smaller, as t's largest is larger), against overall mixes
# of 1.98 (charge) to 3.69 (hearing); recursive c at l = 2 from 2.7 (hearing) to 35 (charge) at 20k, 4.7-27 at
# 100k, falling with k (charge 35 / 13 / 6.3 / 4.2 at k = 10 / 20 / 40 / 80); Synthea's 104 patients: entropy l
# 1.33-2.08 and c 2.0-11. The presets' distinct l and t already gate homogeneity and are repaired by swaps.
# The +-2 pp gate needs enough events for PRAM noise to stay well inside it: with keep probability
# p the unbiased rate of N events has a standard deviation up to sqrt(0.25 (1 - p^2) / N) / p, so
# 2 pp is about 3 SD at N = 1,000 for p = 0.9 but needs N ~ 2,500 at p = 0.85 and ~ 5,000 at 0.75.
# 3 SD per cell is not enough over a release's ~20 such cells: at high (p = 0.85) with the 2 pp gate from
# 2,500 events, one of the demo's three generated months was refused for a 2.42 pp difference in a group of
# 2,872 events (2.2 of the report's conservative standard errors), and no configuration changes PRAM's keyed
# draws. High therefore holds groups to 2 pp from 5,000 events (4.5 SD at p = 0.85), smaller ones to 3 SE.
# Smaller groups are held to 3 standard errors instead.
PRESETS: dict[PrivacyLevel, dict] = {
    PrivacyLevel.LOW: dict(k=3, date_precision="week", location_level=1, qi_levels={"age": 1},
                           pram_p=0.95, attacker_knowledge=2, l_diversity=1, target_risk=INTERNAL_RISK),
    PrivacyLevel.MEDIUM: dict(k=5, date_precision="month", location_level=1, qi_levels={"age": 1},
                              pram_p=0.9, attacker_knowledge=3, l_diversity=2, target_risk=RESEARCH_RISK,
                              max_t_closeness=0.95, max_series_single_out_rate=0.25),
    PrivacyLevel.HIGH: dict(k=10, date_precision="month", location_level=2, qi_levels={"age": 2},
                            pram_p=0.85, attacker_knowledge=3, l_diversity=2, target_risk=RESEARCH_RISK,
                            gates=UtilityGates(large_group_events=5000), anonymeter_max_risk=RESEARCH_RISK,
                            max_t_closeness=0.8, max_series_single_out_rate=0.25),
    PrivacyLevel.MAXIMUM: dict(k=20, date_precision="quarter", location_level=3, qi_levels={"age": 2},
                               pram_p=0.75, attacker_knowledge=4, l_diversity=3, target_risk=PUBLIC_RISK,
                               gates=UtilityGates(large_group_events=5000), anonymeter_max_risk=RESEARCH_RISK,
                               max_single_out_rate=0.25, max_t_closeness=0.6, max_series_single_out_rate=0.25),
}


def policy_for_level(level: str | PrivacyLevel, **overrides) -> PrivacyPolicy:
    """The preset policy of a privacy level, with any field overridden."""
    try:
        lvl = PrivacyLevel(str(getattr(level, "value", level)).lower())
    except ValueError:
        raise ValueError(f"unknown privacy level {level!r}: use low, medium, high or maximum") from None
    params = dict(PRESETS[lvl])
    params.update({k: v for k, v in overrides.items() if v is not None})
    return PrivacyPolicy(level=lvl, **params)
