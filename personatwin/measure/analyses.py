"""Declared analyses (issue 13, item 5): the questions a release must answer, as pure statistics.

A user declares what the release must support (``create_safe_personas(..., preserve_for_analysis=[...])``);
each analysis then runs on the original data and on the release, and ``personatwin.release.research``
judges whether the release reaches the same conclusion. Three kinds, each a frozen dataclass that can
also be written as a dict or a string (``parse_analysis``):

- ``RateDisparity``: rate of an adverse outcome in one group of a bias attribute against a reference
  group (difference, or ratio), pooled over the chosen event types (crude, unadjusted);
- ``AdjustedOddsRatio``: odds ratio of an adverse outcome between two groups, Mantel-Haenszel over
  strata of age band x sex (the persona's published labels on the release) x event type; unit = event;
- ``EventCounts``: events per group per period (the release keeps events, so these are exact where
  every member of the group sits in a persona that publishes it and dates are not shifted).

**Unbiasing.** Released outcomes are randomized by invariant PRAM: an event keeps its outcome with
probability p, else takes one drawn from pi, the released outcome share of its event type. For a cell
of n events of type t (pi_t: the published share of the adverse outcomes), ``obs`` randomized adverse
outcomes give the unbiased count ``x = (obs - (1 - p) n pi_t) / p`` (the inverse of the PRAM matrix
restricted to adverse / other). Estimators are then computed from unbiased counts; the Mantel-Haenszel
numerator and denominator stay unbiased because the two groups' counts are randomized independently.

**Confidence intervals (delta method, law of total variance).** Var(released estimate) = Var(the
same estimator on the original data) + E[Var(released | original data)]. The first term is the usual
formula evaluated at the unbiased counts: Wald for a rate difference, Katz for a log rate ratio,
Robins-Breslow-Greenland for a log Mantel-Haenszel odds ratio. The second is PRAM's own variance,
propagated by the delta method: given the data each event is randomized independently, so a cell's
randomized adverse count has variance ``x q1 (1 - q1) + (n - x) q0 (1 - q0)`` with
``q1 = p + (1 - p) pi``, ``q0 = (1 - p) pi`` (the exact Bernoulli variance, not a binomial bound), and
the published pi is itself the release's share, so a cell's error is ``(e_cell - w_cell e_type) / p``
with ``w = (1 - p) n / N_type``; the linearized estimator is a sum of independent cell errors, whose
variance is computed exactly (``pram_variance``). Why this and not a parametric bootstrap of the PRAM
draw: it is closed-form (a few array sums, no resampling over millions of events), deterministic, and
exact up to the linearization, which holds for the large cells the minimum-events rule requires; a
Monte-Carlo test (``tests/personatwin/measure/test_analyses.py``) checks its coverage. CIs are normal
on the difference or log scale, at 95%.

**Minimum events.** A group needs at least ``MIN_EVENTS`` (100) events of the analysed types and at
least ``MIN_OUTCOMES`` (10) adverse and 10 other outcomes (unbiased, on the release): the normal
approximations above need them, and with PRAM the standard error of a rate of 100 events is already
about 5 percentage points at p = 0.9.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

Z95 = 1.959963984540054  # two-sided 95% normal quantile
MIN_EVENTS = 100  # events of the analysed types per compared group
MIN_OUTCOMES = 10  # adverse and other outcomes per compared group (unbiased on the release)
COUNT_TOLERANCE = 0.01  # event counts per group x period: share of events that may differ and still hold
DEFAULT_ADJUST = ("age", "sex")


# --- what a user declares -------------------------------------------------------------------------

def _names(value) -> tuple[str, ...]:
    """A name or a list of names as a tuple of str (None and "" give ())."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(str(v) for v in value)


def _groups(value) -> tuple[str, ...] | None:
    if value is None or value == "" or value == ():
        return None
    if isinstance(value, str):
        parts = re.split(r"\s+vs\.?\s+|,", value)
        return tuple(p.strip() for p in parts if p.strip())
    return tuple(str(v) for v in value)


def _compared(a) -> tuple[str, str, str]:
    """(first group, second group, outcome) of a two-group question, as its sentence names them."""
    first, second = a.groups or (f"each {a.attribute} group", "the largest")
    return (f"{a.attribute}={first}" if a.groups else first), second, " or ".join(a.outcomes) or "an adverse outcome"


@dataclass(frozen=True)
class RateDisparity:
    """Adverse-outcome rate of ``groups[0]`` against ``groups[1]`` (the reference) of a bias attribute.

    ``outcomes``: the adverse outcome(s) counted (empty: one analysis per adverse outcome of the domain);
    ``event_types``: the types pooled (empty: every type with one of the outcomes); ``groups`` None: every
    published group with enough events against the largest; ``measure``: "difference" or "ratio"."""

    attribute: str
    groups: tuple[str, ...] | None = None
    outcomes: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    measure: str = "difference"
    name: str = ""
    kind: ClassVar[str] = "disparity"

    def __post_init__(self) -> None:
        if self.measure not in ("difference", "ratio"):
            raise ValueError(f"disparity measure must be 'difference' or 'ratio', got {self.measure!r}")
        _check_pair(self.groups)

    @property
    def label(self) -> str:
        return self.name or _label("rate_ratio" if self.measure == "ratio" else "disparity", self)

    @property
    def question(self) -> str:
        who, b, what = _compared(self)
        types = f" ({', '.join(self.event_types)} events)" if self.event_types else ""
        how = "ratio" if self.measure == "ratio" else "difference"
        return f"Does the rate of {what}{types} differ between {who} and {b} (rate {how})?"


@dataclass(frozen=True)
class AdjustedOddsRatio:
    """Odds ratio of an adverse outcome, ``groups[0]`` against ``groups[1]``, adjusted (Mantel-Haenszel)
    for ``adjust_for`` (age band and sex by default) and event type; unit = event."""

    attribute: str
    groups: tuple[str, ...] | None = None
    outcomes: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    adjust_for: tuple[str, ...] = DEFAULT_ADJUST
    name: str = ""
    kind: ClassVar[str] = "odds_ratio"

    def __post_init__(self) -> None:
        _check_pair(self.groups)

    @property
    def label(self) -> str:
        return self.name or _label(self.kind, self)

    @property
    def question(self) -> str:
        who, b, what = _compared(self)
        types = f" at {', '.join(self.event_types)}" if self.event_types else ""
        adj = [c for c in self.adjust_for if c != self.attribute]
        return (f"Are the odds of {what}{types} different for {who} than for {b}"
                + (f", adjusted for {' and '.join(adj)}?" if adj else "?"))


@dataclass(frozen=True)
class EventCounts:
    """Events of the chosen types per group of an attribute per period (``groups`` empty: every group)."""

    attribute: str
    groups: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()
    name: str = ""
    kind: ClassVar[str] = "event_counts"

    @property
    def outcomes(self) -> tuple[str, ...]:
        return ()

    @property
    def label(self) -> str:
        return self.name or _label(self.kind, self)

    @property
    def question(self) -> str:
        who = ", ".join(self.groups) or "every group"
        types = f"{', '.join(self.event_types)} " if self.event_types else ""
        return f"How many {types}events per period does each {self.attribute} group ({who}) have?"


Analysis = RateDisparity | AdjustedOddsRatio | EventCounts
KINDS = ("disparity", "rate_difference", "rate_ratio", "odds_ratio", "event_counts")


def _check_pair(groups: tuple[str, ...] | None) -> None:
    if groups is not None and (len(groups) != 2 or groups[0] == groups[1]):
        raise ValueError(f"an analysis compares two different groups (group, reference), got {groups!r}")


def _label(kind: str, a) -> str:
    """The canonical string form of an analysis (``parse_analysis`` reads it back)."""
    out = kind + (f" {'+'.join(a.outcomes)}" if a.outcomes else "") + f" by {a.attribute}"
    if a.groups:
        out += ": " + (" vs ".join(a.groups) if kind != "event_counts" else ", ".join(a.groups))
    if a.event_types:
        out += f" in {', '.join(a.event_types)}"
    if kind == "odds_ratio" and tuple(a.adjust_for) != DEFAULT_ADJUST:
        out += f" adjusted for {', '.join(a.adjust_for) or 'nothing'}"
    return out


_SYNTAX = re.compile(
    r"^\s*(?P<kind>\w+)(?:\s+(?P<outcomes>[^:]+?))?\s+by\s+(?P<attribute>[\w\-]+)"
    r"(?:\s*:\s*(?P<groups>.+?))?(?:\s+in\s+(?P<types>[\w\-, ]+?))?"
    r"(?:\s+adjusted\s+for\s+(?P<adjust>[\w\-, ]+))?\s*$")


def parse_analysis(spec: Analysis | Mapping | str) -> Analysis:
    """An analysis from its dataclass, a dict or a string.

    Dict keys: ``kind`` (disparity, rate_difference, rate_ratio, odds_ratio, event_counts), ``attribute``,
    ``groups`` ([group, reference]), ``outcome`` / ``outcomes``, ``event_type`` / ``event_types``,
    ``measure`` (difference | ratio), ``adjust_for``, ``name``. Strings read
    ``"<kind> [<outcome>[+<outcome>]] by <attribute>[: <group> vs <reference>][ in <types>][ adjusted for <cols>]"``,
    e.g. ``"odds_ratio detained by race: Black vs White in hearing"``."""
    if isinstance(spec, (RateDisparity, AdjustedOddsRatio, EventCounts)):
        return spec
    if isinstance(spec, str):
        m = _SYNTAX.match(spec)
        if not m:
            raise ValueError(f"cannot read the analysis {spec!r}: write e.g. 'odds_ratio detained by race: Black vs "
                             "White in hearing' or 'disparity convicted by sex: M vs F'")
        d = {k: v for k, v in m.groupdict().items() if v}
        if "outcomes" in d:
            d["outcomes"] = [o.strip() for o in d["outcomes"].split("+")]
        if "types" in d:
            d["event_types"] = d.pop("types")
        spec = d
    if not isinstance(spec, Mapping):
        raise TypeError(f"an analysis is a RateDisparity, AdjustedOddsRatio, EventCounts, dict or str, got {spec!r}")
    allowed = {"kind", "attribute", "groups", "outcome", "outcomes", "event_type", "event_types", "measure",
               "adjust_for", "adjust", "name"}
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"analysis {dict(spec)!r} has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    kind = str(spec.get("kind", "disparity")).lower()
    if kind not in KINDS:
        raise ValueError(f"unknown analysis kind {kind!r}: use one of {', '.join(KINDS)}")
    if not spec.get("attribute"):
        raise ValueError(f"analysis {dict(spec)!r} needs an 'attribute' (a bias attribute such as race or sex)")
    attribute = str(spec["attribute"])
    outcomes = _names(spec.get("outcomes", spec.get("outcome")))
    types = _names(spec.get("event_types", spec.get("event_type")))
    name = str(spec.get("name") or "")
    groups = _groups(spec.get("groups"))
    if kind != "odds_ratio" and spec.get("adjust_for", spec.get("adjust")) is not None:
        raise ValueError(f"analysis {dict(spec)!r}: only an odds_ratio is adjusted ('adjust_for')")
    if kind == "event_counts":
        if outcomes:
            raise ValueError(f"analysis {dict(spec)!r}: event counts take no outcome")
        return EventCounts(attribute, groups or (), types, name)
    if kind == "odds_ratio":
        adjust = spec.get("adjust_for", spec.get("adjust"))
        adj = DEFAULT_ADJUST if adjust is None else tuple(c for c in _names(adjust) if c != "nothing")
        return AdjustedOddsRatio(attribute, groups, outcomes, types, adj, name)
    measure = {"rate_ratio": "ratio", "rate_difference": "difference"}.get(kind, str(spec.get("measure", "difference")))
    return RateDisparity(attribute, groups, outcomes, types, measure, name)


# --- estimates ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval; ratios are estimated on the log scale."""

    value: float
    ci_low: float
    ci_high: float
    se: float  # standard error on the working scale (the difference, or the log of the ratio)
    ratio: bool = False

    @classmethod
    def normal(cls, effect: float, se: float, ratio: bool = False) -> Estimate:
        """The estimate whose working-scale effect is ``effect`` with a normal 95% interval."""
        if not (math.isfinite(effect) and math.isfinite(se)):
            return cls(math.nan, math.nan, math.nan, math.nan, ratio)
        lo, hi = effect - Z95 * se, effect + Z95 * se
        if ratio:
            return cls(math.exp(effect), math.exp(lo), math.exp(hi), se, True)
        return cls(effect, lo, hi, se, False)

    @property
    def null(self) -> float:
        return 1.0 if self.ratio else 0.0

    @property
    def defined(self) -> bool:
        return math.isfinite(self.value) and math.isfinite(self.se)

    @property
    def effect(self) -> float:
        """The estimate on its working scale (log for a ratio): 0 means no effect."""
        if not self.defined:
            return math.nan
        return math.log(self.value) if self.ratio else self.value

    @property
    def significant(self) -> bool:
        """The 95% interval excludes no effect."""
        return self.defined and (self.ci_low > self.null or self.ci_high < self.null)

    def covers(self, value: float) -> bool:
        return self.defined and math.isfinite(value) and self.ci_low <= value <= self.ci_high


@dataclass(frozen=True)
class Counts:
    """The contingency table of one analysis on one side (original data or release).

    ``n`` and ``adverse`` are (2, S, T): events, and events with an adverse outcome (on the release: as
    randomized), of the compared group (0) and the reference group (1) per stratum and event type.
    ``type_n`` / ``type_adverse`` (T,) count every event of each type in the data, all groups included:
    the release's pi is estimated from them, which ``pram_variance`` accounts for."""

    n: np.ndarray
    adverse: np.ndarray
    type_n: np.ndarray | None = None
    type_adverse: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.n.ndim != 3 or self.n.shape[0] != 2 or self.adverse.shape != self.n.shape:
            raise ValueError(f"counts are (2 groups, strata, event types), got {self.n.shape} and {self.adverse.shape}")

    @property
    def events(self) -> np.ndarray:
        """Events per group (compared, reference)."""
        return self.n.sum(axis=(1, 2))


@dataclass(frozen=True)
class Randomization:
    """PRAM as it acts on "adverse or not": keep probability p and pi per event type (the published share
    of the adverse outcomes among the type's released events)."""

    p: float
    pi: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def __post_init__(self) -> None:
        if not 0 < self.p <= 1:
            raise ValueError(f"PRAM p must be in (0, 1], got {self.p}")


def unbiased_counts(c: Counts, noise: Randomization | None = None) -> np.ndarray:
    """Adverse counts per cell with PRAM inverted: ``(obs - (1 - p) n pi) / p`` (the counts themselves
    when nothing was randomized). Unbiased, so it can fall outside [0, n] in small cells."""
    if noise is None or noise.p >= 1:
        return c.adverse.astype(np.float64)
    return (c.adverse - (1 - noise.p) * c.n * noise.pi) / noise.p


def cell_variance(n: np.ndarray, x: np.ndarray, p: float, pi: np.ndarray) -> np.ndarray:
    """Variance of the randomized adverse count of ``n`` events of which ``x`` are truly adverse: each
    event independently keeps its outcome (p) or takes one from pi."""
    x = np.clip(x, 0, n)
    q1 = p + (1 - p) * pi
    q0 = (1 - p) * pi
    return x * q1 * (1 - q1) + (n - x) * q0 * (1 - q0)


def pram_variance(c: Counts, noise: Randomization | None, grad: np.ndarray) -> float:
    """The variance PRAM adds to an estimator whose gradient with respect to the unbiased adverse counts
    is ``grad`` (2, S, T) (delta method), with pi estimated from the release's own outcomes."""
    if noise is None or noise.p >= 1:
        return 0.0
    p, pi = noise.p, noise.pi
    x = unbiased_counts(c, noise)
    v = cell_variance(c.n, x, p, pi)
    if c.type_n is None or c.type_adverse is None:  # pi taken as known
        return float((v * grad**2).sum()) / p**2
    N = c.type_n.astype(np.float64)
    w = np.divide((1 - p) * c.n, N, out=np.zeros(c.n.shape), where=N > 0)
    G = (grad * w).sum(axis=(0, 1))  # (T,): how the type's pi error moves the estimate
    n_rest = N - c.n.sum(axis=(0, 1))
    x_rest = (c.type_adverse - c.adverse.sum(axis=(0, 1)) - (1 - p) * n_rest * pi) / p
    v_rest = cell_variance(n_rest, x_rest, p, pi)
    return float((v * (grad - G) ** 2).sum() + (v_rest * G**2).sum()) / p**2


def _pooled(c: Counts, noise: Randomization | None) -> tuple[np.ndarray, np.ndarray]:
    return unbiased_counts(c, noise).sum(axis=(1, 2)), c.n.sum(axis=(1, 2)).astype(np.float64)


def rate_difference(c: Counts, noise: Randomization | None = None) -> Estimate:
    """Rate of the compared group minus the reference's (pooled over strata and types), Wald interval."""
    x, n = _pooled(c, noise)
    if (n <= 0).any():
        return Estimate.normal(math.nan, math.nan)
    r = x / n
    rc = np.clip(r, 0, 1)
    grad = np.broadcast_to(np.array([1 / n[0], -1 / n[1]])[:, None, None], c.n.shape)
    var = float((rc * (1 - rc) / n).sum()) + pram_variance(c, noise, grad)
    return Estimate.normal(float(r[0] - r[1]), math.sqrt(var))


def rate_ratio(c: Counts, noise: Randomization | None = None) -> Estimate:
    """Rate of the compared group over the reference's (pooled), Katz log interval."""
    x, n = _pooled(c, noise)
    if (n <= 0).any() or (x <= 0).any():
        return Estimate.normal(math.nan, math.nan, ratio=True)
    xc = np.clip(x, 0.5, n)
    grad = np.broadcast_to(np.array([1 / x[0], -1 / x[1]])[:, None, None], c.n.shape)
    var = float((1 / xc - 1 / n).sum()) + pram_variance(c, noise, grad)
    return Estimate.normal(float(np.log(x[0] / n[0]) - np.log(x[1] / n[1])), math.sqrt(var), ratio=True)


def rbg_variance(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> float:
    """Robins-Breslow-Greenland (1986) variance of log(Mantel-Haenszel odds ratio) over strata of 2 x 2
    tables [[a, b], [c, d]] (a, b: the compared group's adverse and other outcomes)."""
    N = a + b + c + d
    ok = N > 0
    a, b, c, d, N = a[ok], b[ok], c[ok], d[ok], N[ok]
    P, Q, R, S = (a + d) / N, (b + c) / N, a * d / N, b * c / N
    Rs, Ss = R.sum(), S.sum()
    if Rs <= 0 or Ss <= 0:
        return math.nan
    return float((P * R).sum() / (2 * Rs**2) + (P * S + Q * R).sum() / (2 * Rs * Ss) + (Q * S).sum() / (2 * Ss**2))


def mantel_haenszel(c: Counts, noise: Randomization | None = None) -> Estimate:
    """Mantel-Haenszel odds ratio over every stratum x event type cell, RBG variance plus PRAM's."""
    x = unbiased_counts(c, noise)
    n = c.n.astype(np.float64)
    a, cc = x[0], x[1]
    b, d = n[0] - a, n[1] - cc
    N = n[0] + n[1]
    inv = np.divide(1.0, N, out=np.zeros(N.shape), where=N > 0)
    R, S = float((a * d * inv).sum()), float((b * cc * inv).sum())
    if R <= 0 or S <= 0:
        return Estimate.normal(math.nan, math.nan, ratio=True)
    ac, ccc = np.clip(a, 0, n[0]), np.clip(cc, 0, n[1])  # sampling variance at counts inside their range
    var_s = rbg_variance(ac, n[0] - ac, ccc, n[1] - ccc)
    grad = np.stack([(d / R + cc / S) * inv, -(a / R + b / S) * inv])
    var = var_s + pram_variance(c, noise, grad)
    return Estimate.normal(math.log(R / S), math.sqrt(var), ratio=True)


# --- agreement ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Agreement:
    """Whether the release reaches the original data's conclusion about one effect.

    Holds when both estimates are significant at 5% or neither is, a significant effect keeps its sign,
    and the released 95% interval covers the original estimate. ``preservation`` is the released effect
    over the original one on the working scale (difference, or log ratio): 1 = fully kept, 0.5 = halved."""

    same_sign: bool
    same_significance: bool
    covers_original: bool
    preservation: float
    original_significant: bool

    @property
    def holds(self) -> bool:
        return self.same_significance and self.covers_original and (self.same_sign or not self.original_significant)


def agreement(original: Estimate, released: Estimate) -> Agreement:
    """The released estimate judged against the original (both defined, or nothing holds)."""
    o, r = original.effect, released.effect
    defined = original.defined and released.defined
    same_sign = defined and bool(np.sign(o) == np.sign(r))
    same_sig = defined and original.significant == released.significant
    covers = defined and released.covers(original.value)
    keep = r / o if defined and o != 0 else math.nan
    return Agreement(same_sign, same_sig, covers, keep, original.significant)


def count_agreement(original: np.ndarray, released: np.ndarray,
                    tolerance: float = COUNT_TOLERANCE) -> tuple[bool, bool, float]:
    """Event counts per group x period: (exact, within tolerance, share of events that differ)."""
    diff = float(np.abs(np.asarray(released, np.float64) - np.asarray(original, np.float64)).sum())
    total = float(np.asarray(original).sum())
    share = diff / total if total else (0.0 if diff == 0 else math.inf)
    return diff == 0, share <= tolerance, share


def estimate(analysis: Analysis, c: Counts, noise: Randomization | None = None) -> Estimate:
    """The analysis's estimator on one side's counts."""
    if isinstance(analysis, AdjustedOddsRatio):
        return mantel_haenszel(c, noise)
    if isinstance(analysis, RateDisparity) and analysis.measure == "ratio":
        return rate_ratio(c, noise)
    return rate_difference(c, noise)


def measure_name(analysis: Analysis) -> str:
    if isinstance(analysis, AdjustedOddsRatio):
        return "odds ratio (Mantel-Haenszel)"
    if isinstance(analysis, EventCounts):
        return "events"
    return "rate ratio" if analysis.measure == "ratio" else "rate difference"


def as_analyses(specs: Sequence[Analysis | Mapping | str] | Analysis | Mapping | str | None) -> tuple[Analysis, ...]:
    """Declared analyses as dataclasses (one spec, a list, or None for none)."""
    if specs is None:
        return ()
    if isinstance(specs, (str, Mapping, RateDisparity, AdjustedOddsRatio, EventCounts)):
        specs = [specs]
    return tuple(parse_analysis(s) for s in specs)
