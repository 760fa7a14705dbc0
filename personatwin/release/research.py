"""Research validation (issue 13, item 5): does the release answer the questions it was made for?

Each declared analysis (``personatwin.measure.analyses``) runs twice: on the original data (people's
own groups and true outcomes) and on the release (the group each persona publishes, its published
age band and sex, the PRAM-randomized outcomes, unbiased with the published p and pi). The result
says whether the release reaches the original conclusion, and if not, why.

Groups are exact in a release: a persona publishes a bias attribute's value only if every member
has it (``protect.personas.persona_attributes``; the merge stratifies on bias attributes first, so
personas rarely need to generalize them), so a released group is a subset of the original group,
never a mix. Its share of the group's events is the coverage (``measure.utility.group_rates``);
members of personas that publish a broader label drop out of the released group.

Cost: one ``bincount`` over the events per bias attribute and side (group x stratum x type x
outcome), plus one per attribute with event-count analyses; every analysis then works on those
small tables. The original side's strata use the released policy's age band width and the
person's own sex.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from personatwin.core.domains import Domain
from personatwin.core.errors import ResearchValidationError
from personatwin.core.policy import PrivacyPolicy
from personatwin.core.schema import EVENT_DATE, EVENT_TYPE, OUTCOME, PERSONA_ID, PERSONA_SIZE
from personatwin.measure.analyses import (
    COUNT_TOLERANCE,
    MIN_EVENTS,
    MIN_OUTCOMES,
    AdjustedOddsRatio,
    Agreement,
    Analysis,
    Counts,
    Estimate,
    EventCounts,
    Randomization,
    RateDisparity,
    agreement,
    as_analyses,
    count_agreement,
    estimate,
    measure_name,
    unbiased_counts,
)
from personatwin.protect.merge import factorize
from personatwin.protect.noise import PramMatrix, period_label, period_start
from personatwin.protect.personas import generalized_codes, start_level
from personatwin.protect.prepared import PreparedData

NOT_REPRODUCED = "the release does not reproduce the conclusion of the source data (reason in the internal report)"
COUNTS_DIFFER = "released event counts per group and period differ from the source data (reason in the internal report)"


@dataclass(frozen=True)
class DomainDefaults:
    """The domain's default analyses (its YAML ``analyses``), each kept only where its attribute and
    named groups are published by the release and its outcomes occur in the data's vocabulary."""


Declared = Sequence[Analysis | Mapping | str] | DomainDefaults  # what a release is asked to validate


# --- results --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class AnalysisResult:
    """One declared analysis on the original data and on the release, and whether the release holds.

    ``reason`` (internal) says why it is not supported and may cite original-data figures;
    ``published_reason`` cites the release only (too few events, a group not published), else a
    sentence without figures. ``groups``: per compared group its events and people on both sides and
    its coverage (internal); ``counts``: event counts per group x period (event-count analyses)."""

    analysis: Analysis
    original: Estimate | None
    released: Estimate | None
    supported: bool
    reason: str = ""
    published_reason: str = ""
    agreement: Agreement | None = None
    groups: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)
    counts: pd.DataFrame | None = field(default=None, repr=False)
    declared: str = ""  # the label as declared (one declaration can give several analyses: one per outcome)

    @property
    def name(self) -> str:
        return self.analysis.label

    @property
    def question(self) -> str:
        return self.analysis.question

    @property
    def measure(self) -> str:
        return measure_name(self.analysis)

    @property
    def preservation(self) -> float:
        """Released effect / original effect (difference, or log ratio; event counts: released / original)."""
        if self.agreement is not None:
            return self.agreement.preservation
        if isinstance(self.analysis, EventCounts) and self.original is not None and self.released is not None:
            return self.released.value / self.original.value if self.original.value else math.nan
        return math.nan

    def row(self) -> dict:
        """Every figure of the result as one flat record (internal: original figures included)."""
        a = self.analysis
        groups = tuple(a.groups or ())
        g = self.groups.set_index("group") if len(self.groups) else pd.DataFrame()

        def fig(group: str | None, col: str):
            return g.at[group, col] if group is not None and group in g.index else math.nan

        first = groups[0] if groups and not isinstance(a, EventCounts) else None
        ref = groups[1] if len(groups) > 1 and not isinstance(a, EventCounts) else None
        o, r, ag = self.original, self.released, self.agreement
        return {
            "name": self.name, "question": self.question, "kind": a.kind, "measure": self.measure,
            "attribute": a.attribute, "group": first if first is not None else ", ".join(groups),
            "reference": ref or "", "event_types": ", ".join(getattr(a, "event_types", ())),
            "outcomes": ", ".join(a.outcomes),
            "adjusted_for": ", ".join(c for c in getattr(a, "adjust_for", ()) if c != a.attribute),
            "original_estimate": o.value if o else math.nan, "original_ci_low": o.ci_low if o else math.nan,
            "original_ci_high": o.ci_high if o else math.nan, "released_estimate": r.value if r else math.nan,
            "released_ci_low": r.ci_low if r else math.nan, "released_ci_high": r.ci_high if r else math.nan,
            "events_group_original": fig(first, "events_original"),
            "events_reference_original": fig(ref, "events_original"),
            "events_group_released": fig(first, "events_released") if first is not None
            else float(self.groups["events_released"].sum()) if len(self.groups) else math.nan,
            "events_reference_released": fig(ref, "events_released"),
            "people_group_original": fig(first, "people_original") if first is not None
            else _smallest(self.groups, "people_original"),
            "people_reference_original": fig(ref, "people_original"),
            "people_group_released": fig(first, "people_released") if first is not None
            else _smallest(self.groups, "people_released"),
            "people_reference_released": fig(ref, "people_released"),
            "coverage_group": fig(first, "coverage"), "coverage_reference": fig(ref, "coverage"),
            "same_sign": ag.same_sign if ag else None, "same_significance": ag.same_significance if ag else None,
            "covers_original": ag.covers_original if ag else None, "preservation": self.preservation,
            "supported": self.supported, "reason": self.reason, "published_reason": self.published_reason,
        }


def _smallest(groups: pd.DataFrame, column: str) -> float:
    """The fewest people of any group that has some (a group of none discloses nothing)."""
    v = groups[column][groups[column] > 0] if len(groups) else pd.Series(dtype=float)
    return float(v.min()) if len(v) else math.nan


RESEARCH_COLUMNS = ("name", "question", "kind", "measure", "attribute", "group", "reference", "event_types", "outcomes",
                    "adjusted_for", "original_estimate", "original_ci_low", "original_ci_high", "released_estimate",
                    "released_ci_low", "released_ci_high", "events_group_original", "events_reference_original",
                    "events_group_released", "events_reference_released", "people_group_original",
                    "people_reference_original", "people_group_released", "people_reference_released",
                    "coverage_group", "coverage_reference", "same_sign", "same_significance", "covers_original",
                    "preservation", "supported", "reason", "published_reason")


@dataclass(frozen=True, eq=False)
class ResearchValidation:
    """Every declared analysis of a release, run on the original data and on the release."""

    analyses: tuple[AnalysisResult, ...] = ()

    @property
    def supported_questions(self) -> tuple[str, ...]:
        """The questions (``AnalysisResult.question``) the release answers as the original data do."""
        return tuple(r.question for r in self.analyses if r.supported)

    @property
    def supported_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.analyses if r.supported)

    @property
    def unsupported(self) -> tuple[AnalysisResult, ...]:
        return tuple(r for r in self.analyses if not r.supported)

    @property
    def all_supported(self) -> bool:
        return all(r.supported for r in self.analyses)

    def __getitem__(self, name: str) -> AnalysisResult:
        """The result of an analysis by its name, its question, or the declaration that gave only it."""
        for r in self.analyses:
            if r.name == name or r.question == name:
                return r
        found = [r for r in self.analyses if r.declared == name]
        if len(found) == 1:
            return found[0]
        raise KeyError(f"{name!r}" + (f" gave {len(found)} analyses: {[r.name for r in found]}" if found else ""))

    def __len__(self) -> int:
        return len(self.analyses)

    def table(self) -> pd.DataFrame:
        """One row per analysis with every figure (internal: original estimates included)."""
        out = pd.DataFrame([r.row() for r in self.analyses], columns=list(RESEARCH_COLUMNS))
        for col in ("same_sign", "same_significance", "covers_original"):
            out[col] = out[col].astype("boolean")
        out["supported"] = out["supported"].astype(bool)
        for col in RESEARCH_COLUMNS[10:26] + ("preservation",):
            out[col] = out[col].astype(np.float64)
        return out

    def metrics(self) -> dict[str, float]:
        return {"research_analyses": float(len(self.analyses)),
                "research_supported": float(sum(r.supported for r in self.analyses))}

    def failure_message(self) -> str:
        bad = self.unsupported
        return (f"{len(bad)} of {len(self.analyses)} declared analyses do not hold on the release, so nothing is "
                "released: " + "; ".join(f"'{r.name}': {r.reason}" for r in bad))

    def check(self, history: tuple = ()) -> None:
        """Raise ``ResearchValidationError`` naming every analysis that does not hold."""
        if not self.all_supported:
            raise ResearchValidationError(self.failure_message(), self, history)

    def summary_lines(self) -> list[str]:
        lines = [f"Research validation: {len(self.supported_names)} of {len(self.analyses)} declared analyses hold"]
        for r in self.analyses:
            shown = ""
            if r.released is not None and r.original is not None and r.released.defined:
                shown = (f" released {_fmt(r.released)}" + (f", original {_fmt(r.original)}" if r.original.defined
                                                             else ""))
            lines.append(f"  [{'holds' if r.supported else 'NO'}] {r.name}:{shown}"
                         + (f" - {r.reason}" if r.reason else ""))
        return lines


def _fmt(e: Estimate) -> str:
    if e.se == 0:
        return f"{e.value:,.0f}"
    return f"{e.value:.4g} [{e.ci_low:.4g}, {e.ci_high:.4g}]"


# --- the two sides as codes -----------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Side:
    """The original data or the release as integer codes: units (people, or personas), their events."""

    units: pd.DataFrame  # one row per unit: the people table, or the personas table
    unit: np.ndarray  # per event: its unit
    type_codes: np.ndarray  # per event: index into the data's type names
    outcome_codes: np.ndarray  # per event: index into the data's outcome names
    people: np.ndarray  # per unit: people it stands for
    day: np.ndarray  # per event: its (released) date, datetime64[D]
    levels: Mapping[str, int] = field(default_factory=dict)  # original side: stratum columns' generalization level
    domain: Domain | None = None

    def codes(self, column: str, stratum: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Code per unit and labels of a column: as published on the release; on the original data the
        person's own value (groups) or its value at the released policy's level (strata)."""
        values = self.units[column]
        if stratum and self.domain is not None:
            return generalized_codes(values, self.domain.hierarchy(column), self.levels.get(column, 0))
        codes, names = factorize(values.astype(str))
        return codes, np.asarray(names, dtype=object)

    def presence(self, n_types: int) -> np.ndarray:
        """(units, types): whether a unit holds an event of each type."""
        has = np.zeros(len(self.units) * n_types, dtype=bool)
        has[self.unit * n_types + self.type_codes] = True
        return has.reshape(len(self.units), n_types)


def original_side(data: PreparedData, policy: PrivacyPolicy) -> Side:
    """The prepared data: people with their own values, true outcomes, true dates."""
    levels = {c: start_level(data.domain, policy, c) for c in data.people.columns if c in data.domain.qis}
    return Side(data.people, data.event_person, data.type_codes, data.outcome_codes,
                np.ones(data.n_people, dtype=np.int64), data.event_day, levels, data.domain)


def _recode(values: pd.Series, names: Sequence[str] | np.ndarray) -> np.ndarray:
    """Codes of a released column into the data's vocabulary (-1 for a value outside it)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        lut = pd.Index(np.asarray(names, dtype=object)).get_indexer(values.cat.categories.astype(str))
        codes = values.cat.codes.to_numpy()
        return np.where(codes >= 0, lut[np.clip(codes, 0, None)], -1).astype(np.int64)
    return pd.Index(np.asarray(names, dtype=object)).get_indexer(values.astype(str)).astype(np.int64)


def released_side(personas: pd.DataFrame, events: pd.DataFrame, type_names: Sequence[str],
                  outcome_names: Sequence[str]) -> Side:
    """The released tables as an analyst reads them: events joined to their persona's published values."""
    unit = _recode(events[PERSONA_ID], personas[PERSONA_ID].astype(str).to_numpy(dtype=object))
    types, outcomes = _recode(events[EVENT_TYPE], type_names), _recode(events[OUTCOME], outcome_names)
    ok = (unit >= 0) & (types >= 0) & (outcomes >= 0)
    day = events[EVENT_DATE].to_numpy().astype("datetime64[D]")
    if not ok.all():
        unit, types, outcomes, day = unit[ok], types[ok], outcomes[ok], day[ok]
    return Side(personas.reset_index(drop=True), unit, types, outcomes,
                personas[PERSONA_SIZE].to_numpy(dtype=np.int64), day)


# --- resolving what was declared ------------------------------------------------------------------

def _types_of(outcomes: tuple[str, ...], domain: Domain, type_names: Sequence[str]) -> tuple[str, ...]:
    """Event types whose vocabulary holds one of the outcomes (every type when the domain names none)."""
    found = tuple(t for t in type_names if set(domain.event_types.get(t, ())) & set(outcomes))
    return found or tuple(type_names)


def check_analyses(analyses: Sequence[Analysis], domain: Domain, columns: Sequence[str]) -> None:
    """Reject analyses that cannot be run at all (unknown attribute, outcome, event type or adjustment)."""
    outcomes, types = set(domain.outcomes), set(domain.event_types)
    for a in analyses:
        if a.attribute not in columns or a.attribute not in domain.qis:
            qis = ", ".join(q for q in domain.qis if q in columns)
            raise ValueError(f"analysis '{a.label}': {a.attribute!r} is not a quasi-identifier column of the people "
                             f"table, so personas do not publish it (QIs: {qis})")
        unknown = [o for o in a.outcomes if o not in outcomes]
        if unknown:
            raise ValueError(f"analysis '{a.label}': outcome(s) {unknown} are not in the {domain.name} vocabulary")
        bad_types = [t for t in getattr(a, "event_types", ()) if t not in types]
        if bad_types:
            raise ValueError(f"analysis '{a.label}': event type(s) {bad_types} are not in the {domain.name} vocabulary")
        for c in getattr(a, "adjust_for", ()):
            if c != a.attribute and (c not in columns or c not in domain.qis):
                raise ValueError(f"analysis '{a.label}': cannot adjust for {c!r}, not a quasi-identifier column of the "
                                 "people table (personas publish only those)")
        if not a.outcomes and not isinstance(a, EventCounts) and not domain.adverse_outcomes:
            raise ValueError(f"analysis '{a.label}': name its outcome (the {domain.name} domain declares no "
                             "adverse outcomes)")


def _expand(a: Analysis, domain: Domain, data: PreparedData,
            released_events: dict[str, pd.DataFrame]) -> list[Analysis]:
    """A declared analysis made concrete: one per adverse outcome when none is named, event types filled in,
    and (groups not named) every other group with at least MIN_EVENTS released events against the largest
    (groups: published values of the attribute, not a broader label such as "*")."""
    if isinstance(a, EventCounts):
        return [a]
    out: list[Analysis] = []
    outcome_sets = [a.outcomes] if a.outcomes else [(o,) for o in domain.adverse_outcomes
                                                    if o in data.outcome_names]
    for outs in outcome_sets:
        types = a.event_types or _types_of(outs, domain, data.type_names)
        b = replace(a, outcomes=outs, event_types=types)
        if a.groups is not None:
            out.append(b)
            continue
        counts = released_events[a.attribute]
        values = set(data.people[a.attribute].astype(str).unique())
        counts = counts[[str(g) in values for g in counts.index]]
        sizes = counts[list(types)].sum(axis=1).sort_values(ascending=False, kind="stable")
        if len(sizes) < 2:
            continue
        ref = str(sizes.index[0])
        out += [replace(b, groups=(str(g), ref)) for g, v in sizes.iloc[1:].items() if v >= MIN_EVENTS]
    return out


def resolve(analyses: Declared, data: PreparedData, released: Side) -> list[tuple[Analysis, str]]:
    """The concrete analyses to run: declared ones (strictly checked) or the domain's defaults (kept
    where the release publishes their groups)."""
    domain = data.domain
    defaults = isinstance(analyses, DomainDefaults)
    specs = as_analyses(domain.analyses if isinstance(analyses, DomainDefaults) else analyses)
    columns = list(data.people.columns)
    if defaults:
        qis = [c for c in columns if c in domain.qis and c in released.units.columns]
        specs = tuple(a for a in specs if a.attribute in qis
                      and all(c in qis for c in getattr(a, "adjust_for", ()) if c != a.attribute)
                      and all(o in data.outcome_names for o in a.outcomes))
    check_analyses(specs, domain, columns)
    T = len(data.type_names)
    per_attr: dict[str, pd.DataFrame] = {}
    for attr in sorted({a.attribute for a in specs}):
        if attr not in released.units.columns:
            continue
        codes, names = released.codes(attr)
        table = np.bincount(codes[released.unit] * T + released.type_codes,
                            minlength=len(names) * T).reshape(len(names), T)
        per_attr[attr] = pd.DataFrame(table, index=names, columns=list(data.type_names))
    out: list[tuple[Analysis, str]] = []
    for a in specs:
        if a.attribute not in per_attr:  # the release does not publish the attribute at all
            out.append((a, a.label))
            continue
        for b in _expand(a, domain, data, per_attr):
            published = set(per_attr[b.attribute].index[per_attr[b.attribute].sum(axis=1) > 0])
            if defaults and not set(b.groups or ()) <= published:
                continue
            if b not in [c for c, _ in out]:
                out.append((b, a.label))
    return out


# --- tables ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tables:
    """One side's events for one attribute: counts by group x stratum columns x type x outcome, and what
    counting a group's people needs."""

    counts: np.ndarray  # (G, S_1, ..., S_k, T, n_out)
    groups: np.ndarray  # group labels
    strata: tuple[str, ...]  # stratum columns, in axis order
    presence: np.ndarray  # (units, T): whether a unit holds an event of each type
    group_of_unit: np.ndarray
    unit_people: np.ndarray


def _tables(side: Side, attribute: str, strata: tuple[str, ...], T: int, n_out: int, presence: np.ndarray) -> _Tables:
    """One bincount over the side's events: group x strata x type x outcome."""
    g, names = side.codes(attribute)
    key = g.astype(np.int64)
    sizes = []
    for c in strata:
        s, labels = side.codes(c, stratum=True)
        key = key * len(labels) + s
        sizes.append(len(labels))
    n_keys = len(names) * int(np.prod(sizes, dtype=np.int64))
    ev = key[side.unit] * T + side.type_codes
    ev = ev * n_out + side.outcome_codes
    counts = np.bincount(ev, minlength=n_keys * T * n_out).reshape(len(names), *sizes, T, n_out)
    return _Tables(counts, names, strata, presence, g, side.people)


def _counts(t: _Tables, groups: tuple[str, ...], adjust: tuple[str, ...], types: np.ndarray,
            adverse: np.ndarray) -> Counts:
    """The (2, S, T) table of one analysis: its groups, its adjustment strata, its types and outcomes."""
    drop = tuple(1 + i for i, c in enumerate(t.strata) if c not in adjust)
    c = t.counts.sum(axis=drop) if drop else t.counts
    G, T, n_out = c.shape[0], c.shape[-2], c.shape[-1]
    c = c.reshape(G, -1, T, n_out)[:, :, types, :]
    index = {str(n): i for i, n in enumerate(t.groups)}
    rows = [c[index[g]] if g in index else np.zeros(c.shape[1:], dtype=c.dtype) for g in groups]
    sel = np.stack(rows)
    return Counts(sel.sum(axis=-1), sel[..., adverse].sum(axis=-1), c.sum(axis=(0, 1, 3)),
                  c[..., adverse].sum(axis=(0, 1, 3)))


def _people(t: _Tables, group: str, types: np.ndarray) -> float:
    """People of a group holding an event of one of the types (persona members on the release)."""
    index = {str(n): i for i, n in enumerate(t.groups)}
    if group not in index:
        return 0.0
    has = t.presence[:, types].any(axis=1) & (t.group_of_unit == index[group])
    return float(t.unit_people[has].sum())


# --- running one analysis -------------------------------------------------------------------------

def _group_frame(groups: Sequence[str], orig: _Tables, rel: _Tables, n_o: np.ndarray, n_r: np.ndarray,
                 types: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({
        "group": list(groups), "events_original": n_o.astype(np.float64), "events_released": n_r.astype(np.float64),
        "people_original": [_people(orig, g, types) for g in groups],
        "people_released": [_people(rel, g, types) for g in groups],
        "coverage": np.divide(n_r, n_o, out=np.full(len(groups), np.nan), where=n_o > 0)})


def _too_few(a: Analysis, groups: pd.DataFrame, x_rel: np.ndarray, what: str, min_people: int) -> str:
    """Why the release cannot support the analysis, from the release alone ("" when it can)."""
    for i, r in enumerate(groups.itertuples(index=False)):
        who = f"{a.attribute}={r.group}"
        if r.events_released == 0:
            return (f"{who} is not published by any persona (its people are in personas that publish a broader "
                    f"{a.attribute}, or it has no {what} events)")
        if r.people_released < min_people:
            return f"{who} has fewer than {min_people} people with {what} events in the release"
        if isinstance(a, EventCounts):
            continue
        if r.events_released < MIN_EVENTS:
            return (f"{who} has {int(r.events_released):,} {what} events in the release: too few for the analysis "
                    f"(at least {MIN_EVENTS} per group)")
        x = float(x_rel[i])
        if min(x, r.events_released - x) < MIN_OUTCOMES:
            return (f"{who} has about {max(x, 0):,.0f} {' or '.join(a.outcomes)} and "
                    f"{max(r.events_released - x, 0):,.0f} other outcomes among its {what} events in the release "
                    f"(PRAM-unbiased): too few for the analysis (at least {MIN_OUTCOMES} of each per group)")
    return ""


def _not_reproduced(ag: Agreement, o: Estimate, r: Estimate) -> str:
    parts = []
    if not ag.same_significance:
        parts.append(f"the original estimate {_fmt(o)} is {'' if o.significant else 'not '}significant at 5% and "
                     f"the released {_fmt(r)} is {'' if r.significant else 'not '}")
    if ag.original_significant and not ag.same_sign:
        parts.append(f"the released estimate {_fmt(r)} has the opposite sign of the original {_fmt(o)}")
    if not ag.covers_original:
        parts.append(f"the released 95% CI [{r.ci_low:.4g}, {r.ci_high:.4g}] does not cover the original estimate "
                     f"{o.value:.4g}")
    return "; ".join(parts)


def run_comparison(a: RateDisparity | AdjustedOddsRatio, orig: _Tables, rel: _Tables, types: np.ndarray,
                   adverse: np.ndarray, noise: Randomization, min_people: int) -> AnalysisResult:
    """A disparity or odds ratio on both sides, judged."""
    groups = tuple(a.groups or ())
    adjust = tuple(c for c in getattr(a, "adjust_for", ()) if c != a.attribute)
    co = _counts(orig, groups, adjust, types, adverse)
    cr = _counts(rel, groups, adjust, types, adverse)
    frame = _group_frame(groups, orig, rel, co.events, cr.events, types)
    what = "/".join(a.event_types)
    x_rel = unbiased_counts(cr, noise).sum(axis=(1, 2))
    o_est = estimate(a, co) if (co.events > 0).all() else None
    r_est = estimate(a, cr, noise) if (cr.events > 0).all() else None
    why = _too_few(a, frame, x_rel, what, min_people)
    if not why and (o_est is None or r_est is None or not r_est.defined):
        why = (f"the {measure_name(a)} is not defined on the release (no stratum holds both groups with both "
               "outcomes)")
    if why:
        return AnalysisResult(a, o_est, r_est, False, why, why, None, frame)
    assert o_est is not None and r_est is not None
    ag = agreement(o_est, r_est)
    if ag.holds:
        return AnalysisResult(a, o_est, r_est, True, "", "", ag, frame)
    return AnalysisResult(a, o_est, r_est, False, _not_reproduced(ag, o_est, r_est), NOT_REPRODUCED, ag, frame)


def run_counts(a: EventCounts, orig: Side, rel: Side, types: np.ndarray, precision: str, min_people: int,
               presence: tuple[np.ndarray, np.ndarray]) -> AnalysisResult:
    """Events per group x period on both sides (the group each side gives the unit), compared."""
    g_o, names_o = orig.codes(a.attribute)
    g_r, names_r = rel.codes(a.attribute)
    # every group: those the release publishes that are values of the original attribute (not "*" or a
    # broader label the hierarchy made)
    groups = tuple(a.groups) or tuple(sorted(set(map(str, names_r)) & set(map(str, names_o))))
    sel_o, sel_r = np.isin(orig.type_codes, types), np.isin(rel.type_codes, types)
    days_o = period_start(orig.day[sel_o], precision).view(np.int64)
    days_r = period_start(rel.day[sel_r], precision).view(np.int64)
    periods = np.union1d(days_o, days_r)
    P = len(periods)

    def table(side: Side, g: np.ndarray, names: np.ndarray, sel: np.ndarray, days: np.ndarray) -> np.ndarray:
        lut = np.array([groups.index(str(n)) if str(n) in groups else -1 for n in names], dtype=np.int64)
        row = lut[g[side.unit[sel]]] if len(lut) else np.zeros(int(sel.sum()), np.int64)
        keep = row >= 0
        key = row[keep] * P + np.searchsorted(periods, days[keep])
        return np.bincount(key, minlength=len(groups) * P).reshape(len(groups), P)

    to, tr = table(orig, g_o, names_o, sel_o, days_o), table(rel, g_r, names_r, sel_r, days_r)
    labels = period_label(periods.astype("datetime64[D]"), precision)
    gi, pi = np.nonzero((to + tr) > 0)
    counts = pd.DataFrame({"group": np.asarray(groups, dtype=object)[gi], "period": labels[pi],
                           "original": to[gi, pi], "released": tr[gi, pi]})
    t_o = _Tables(np.zeros(0), names_o, (), presence[0], g_o, orig.people)
    t_r = _Tables(np.zeros(0), names_r, (), presence[1], g_r, rel.people)
    frame = _group_frame(groups, t_o, t_r, to.sum(axis=1), tr.sum(axis=1), types)
    total_o, total_r = float(to.sum()), float(tr.sum())
    o_est, r_est = Estimate(total_o, total_o, total_o, 0.0), Estimate(total_r, total_r, total_r, 0.0)
    what = "/".join(a.event_types) or "any"
    why = _too_few(a, frame, np.zeros(len(groups)), what, min_people)
    if why:
        return AnalysisResult(a, o_est, r_est, False, why, why, None, frame, counts)
    _, within, share = count_agreement(to, tr)
    if within:
        return AnalysisResult(a, o_est, r_est, True, "", "", None, frame, counts)
    cells = int(((to != tr) & ((to + tr) > 0)).sum())
    why = (f"released counts differ from the original in {cells} of {len(counts)} group x period cells "
           f"({share:.1%} of the events; at most {COUNT_TOLERANCE:.0%} may): personas that publish a broader "
           f"{a.attribute}, or shifted dates")
    return AnalysisResult(a, o_est, r_est, False, why, COUNTS_DIFFER, None, frame, counts)


def _published_pi(pram: PramMatrix, data: PreparedData, adverse: np.ndarray) -> np.ndarray:
    """Per event type of the data: the published share of the adverse outcomes among its released events."""
    rows = pd.Index(pram.type_names).get_indexer(list(data.type_names))
    cols = pd.Index(pram.outcome_names).get_indexer(list(np.asarray(data.outcome_names, dtype=object)[adverse]))
    share = pram.matrix[:, cols[cols >= 0]].sum(axis=1) if len(pram.matrix) else np.zeros(0)
    return np.where(rows >= 0, share[np.clip(rows, 0, None)] if len(share) else 0.0, 0.0)


def validate_analyses(data: PreparedData, personas: pd.DataFrame, events: pd.DataFrame, pram: PramMatrix,
                      policy: PrivacyPolicy, analyses: Declared) -> ResearchValidation:
    """Run every declared analysis (a list of specs, or ``DomainDefaults()``) on the original data and on
    the release (``personas``, ``events`` and the published ``pram``), and judge each."""
    rel = released_side(personas, events, data.type_names, data.outcome_names)
    concrete = resolve(analyses, data, rel)
    if not concrete:
        return ResearchValidation(())
    orig = original_side(data, policy)
    T, n_out = len(data.type_names), len(data.outcome_names)
    presence = (orig.presence(T), rel.presence(T))
    strata: dict[str, set[str]] = {}
    for a, _ in concrete:
        strata.setdefault(a.attribute, set()).update(c for c in getattr(a, "adjust_for", ()) if c != a.attribute)
    tables: dict[str, tuple[_Tables, _Tables]] = {}
    results = []
    for a, _ in concrete:
        types = np.flatnonzero(np.isin(np.asarray(data.type_names, dtype=object), a.event_types)) \
            if getattr(a, "event_types", ()) else np.arange(T)
        if a.attribute not in rel.units.columns:
            why = f"the release does not publish {a.attribute}"
            results.append(AnalysisResult(a, None, None, False, why, why))
            continue
        if isinstance(a, EventCounts):
            results.append(run_counts(a, orig, rel, types, policy.date_precision, policy.small_cell_people, presence))
            continue
        if a.attribute not in tables:
            cols = tuple(sorted(strata[a.attribute]))
            tables[a.attribute] = (_tables(orig, a.attribute, cols, T, n_out, presence[0]),
                                   _tables(rel, a.attribute, cols, T, n_out, presence[1]))
        adverse = np.isin(np.asarray(data.outcome_names, dtype=object), a.outcomes)
        noise = Randomization(pram.p, _published_pi(pram, data, adverse)[types])
        results.append(run_comparison(a, *tables[a.attribute], types, adverse, noise, policy.small_cell_people))
    return ResearchValidation(tuple(replace(r, declared=d) for r, (_, d) in zip(results, concrete)))


def release_estimate(analysis: Analysis | Mapping | str, personas: pd.DataFrame, events: pd.DataFrame, p: float,
                     pi: Mapping[str, float]) -> Estimate:
    """A concrete analysis (groups, outcomes and event types named, e.g. a name from a manifest) on released
    files alone: the personas and events tables and PRAM's published p and pi ("event_type/outcome" -> share),
    as any recipient of the release can compute it (the published figures are reproducible from the folder)."""
    a = as_analyses(analysis)[0]
    types = tuple(pd.unique(events[EVENT_TYPE].astype(str)))
    outcomes = tuple(pd.unique(events[OUTCOME].astype(str)))
    rel = released_side(personas, events, types, outcomes)
    chosen = np.flatnonzero(np.isin(np.asarray(types, dtype=object), a.event_types)) if getattr(a, "event_types", ()) \
        else np.arange(len(types))
    if isinstance(a, EventCounts):
        g, names = rel.codes(a.attribute)
        keep = np.isin(names.astype(str), list(a.groups)) if a.groups else np.ones(len(names), bool)
        total = float((keep[g[rel.unit]] & np.isin(rel.type_codes, chosen)).sum())
        return Estimate(total, total, total, 0.0)
    adverse = np.isin(np.asarray(outcomes, dtype=object), a.outcomes)
    share = np.array([sum(float(pi.get(f"{t}/{o}", 0.0)) for o in a.outcomes) for t in types])
    adjust = tuple(c for c in getattr(a, "adjust_for", ()) if c != a.attribute)
    t = _tables(rel, a.attribute, adjust, len(types), len(outcomes), rel.presence(len(types)))
    return estimate(a, _counts(t, tuple(a.groups or ()), adjust, chosen, adverse), Randomization(p, share[chosen]))
