"""Independent attack evaluation with Anonymeter: singling out, linkability and inference (issue #6).

Anonymeter (Giomi et al., PETS 2023) measures how much a released data set helps an attacker beyond
what the attacker would learn about people who are *not* in it. It needs three tables with the same
columns: ``ori``, originals of the people the release was made from; ``syn``, the release itself;
``control``, originals of people held out of the release. The risk of each attack is its success
on ``ori`` in excess of its success on ``control``, normalized: ``(attack - control) / (1 - control)``,
with a Wilson-score confidence interval.

How a persona release becomes those tables (``flatten``):

* **Held-out control.** People are split with the release key (``ReleaseKey.rng``, purpose
  ``anonymeter-split``; never a public seed) into a control set and the rest. The control set is
  the larger of 20% of the people and half of them up to 2,000 (``AnonymeterOptions.n_control``),
  at most 5,000: small partitions hold out half, because the precision of every risk is set by the
  smaller of the two groups. An *evaluation release* is made from the rest only, by the same merge
  and noise stages at the released policy, with its own salt: the control people are in no persona
  of it, as Anonymeter requires. (The published release contains everyone, so its own members
  cannot serve as control; the share held out here changes nothing in the published release.)
  Partitions of fewer than ``min_people`` (1,000) people are not evaluated: the evaluation fails,
  and at a gated policy nothing is released.
* **One row per person.** Every member of a persona gets that persona's published attributes: the
  generalized QIs (age band, sex, race, location prefix...), released events per member of each
  event type, the first and last released period, the persona's most frequent released (PRAM)
  outcome per event type, and the most frequent released value of each person-level sensitive
  attribute.
* **Originals in the same form.** An original row holds the person's own values, made comparable:
  QIs generalized to the released policy's starting level (the finest label the release ever
  publishes, which an attacker computes from the published hierarchy), the person's own event
  counts, first and last period at the policy's date precision, own most frequent outcome per type
  and own sensitive values. Raw values would be unfair the other way: no query or distance could
  ever match ``34`` to ``30-39``, and every attack would fail by construction. A persona that
  publishes a coarser label than the starting level (e.g. ``*``) matches no original at that column,
  as it tells an attacker nothing more.

**Engines** (``AnonymeterOptions.engine``). ``"sampled"`` (default) runs the same attacks, formulas and gate in
this process on keyed, stratified samples of targets with an exact blocked nearest-row search
(``personatwin.measure.attack_sample``: cost bounded by the samples, not the partition); ``"anonymeter"`` runs
stock Anonymeter on every member, the independent reference (about n^1.8). ``AnonymeterEvaluation.engine``
says which ran. Attacks (stock: run by ``personatwin/measure/_anonymeter_runner.py`` inside the Anonymeter
virtual environment):

* singling out, univariate and multivariate (``n_cols`` attributes per query): does the release
  yield predicates that isolate exactly one original person? Anonymeter corrects for members and
  held-out people differing in distinct rows by a curve fitted on random subsets of at least 1,000
  rows; its subsets are drawn from the run's seed (reruns give the same figures), and below 1,000
  distinct held-out rows, where that fit is degenerate, both sides are cut to equally many distinct
  rows instead;
* linkability: the attacker holds the demographic QIs in one source and the event history (counts
  and periods) in another and links them through each one's nearest release row;
* inference: knowing QIs and event history, guess each secret (the most frequent outcome per event
  type, each sensitive attribute) from the nearest release row. Every member and every held-out
  person is a target of every secret; the guesses are also pooled over the secrets (one attack per
  person and secret) into one risk with Anonymeter's formula and Wilson interval on the summed
  counts, each side's counts divided by its design effect, as the guesses about one person are
  correlated.

Every nearest-neighbour search of a run scales numeric columns by one range (over the release, the
members and the held-out people). Anonymeter scales by the range of each search's own queries, so
the attack on members and the attack on held-out people would measure distance differently (one
held-out person with many events shrinks every count of the control attack), and their difference,
the risk, would partly measure the scale. On 30,000 generated people at k = 10, per-search scaling
gave a pooled inference risk of 0.012 to 0.021 when 5,000 members were attacked and 0.000 to 0.006
when all 25,000 were; with one scale both give 0.016 to 0.018.

**Headline risks and the gate.** The headline risk of singling out is its larger mode, of
linkability its one evaluator, of inference the pooled risk (the maximum of five noisy per-secret
estimates is biased upward: at about 1,250 held-out people each has a 95% interval of about
+-0.04 to +-0.1, the pooled one about +-0.035). A policy with ``anonymeter_max_risk`` (HIGH and
MAXIMUM: 0.05) refuses a release when any headline risk (its point estimate) is above the limit,
or when a single secret's inference risk is above the limit even at the lower bound of its 95%
interval (a leak of one secret that pooling would dilute). ``personatwin.release.release`` runs the
evaluation after the privacy loop and, on a failure, doubles k and reruns the loop (at most three
times) before refusing. Every figure is reported with its interval, the per-secret ones as detail.

Inputs go to a private temporary folder (mode 0700) deleted afterwards (and, should a run be
killed, at the start of the next one); no value of the data reaches a log line or an error message.
"""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from personatwin.core.errors import AnonymeterError, AnonymeterUnavailableError, AttackRiskError
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import PrivacyPolicy
from personatwin.core.processes import process_alive
from personatwin.measure.attack_sample import SampledConfig, evaluate_sampled, targets_for
from personatwin.measure.criteria import GATE_RULE, exceeds
from personatwin.protect.noise import period_start
from personatwin.protect.personas import generalized_codes, start_level
from personatwin.protect.prepared import PassContext, PreparedData, prepare
from personatwin.protect.stages import merge_stage, noise_codes, sensitive_coded

PYTHON_ENV = "PERSONATWIN_ANONYMETER_PYTHON"  # the Anonymeter environment's python, if not the default
VENV_DIR = ".venv-anonymeter"
RUNNER = Path(__file__).with_name("_anonymeter_runner.py")
SETUP_HINT = "run scripts/setup-anonymeter (or scripts/setup) to create it"
ATTACKS = ("singling_out", "linkability", "inference")
POOLED = "all secrets (pooled)"  # variant of the pooled inference row (the headline inference risk)
SINGLING_OUT_EQUAL_SIZES_BELOW = 1000  # Anonymeter's size correction fits on subsets of >= 1,000 distinct rows
MISSING = "none"  # the value of an outcome column for people (personas) without an event of that type
ENGINES = ("sampled", "anonymeter")


@dataclass(frozen=True)
class AnonymeterOptions:
    """How the evaluation is run: attack counts, the control split and the environment."""

    n_attacks: int = 1000  # singling-out queries per mode, linkability targets (at most the control size)
    attacks: tuple[str, ...] = ATTACKS  # which evaluators to run (all three for a gated release)
    control_share: float = 0.2  # share of the people held out ...
    half_control_up_to: int = 2000  # ... but at least half of them, up to this many (small partitions)
    max_control: int = 5000
    min_people: int = 1000  # fewer people than this: too few to measure, so the evaluation fails
    fixed_ranges: bool = True  # one numeric scale for every nearest-neighbour search (False: Anonymeter's per search)
    shared_neighbours: bool = True  # inference: one nearest-row search for all secrets (needs fixed_ranges)
    singling_out_modes: tuple[str, ...] = ("univariate", "multivariate")
    n_cols: int = 3  # attributes per multivariate singling-out query
    max_attempts: int = 200_000  # query generation attempts (Anonymeter's cap)
    confidence_level: float = 0.95
    # "sampled": the attacks on keyed samples of targets, in this process (personatwin.measure.attack_sample);
    # "anonymeter": stock Anonymeter on every member, in its own environment (the reference; n^1.8)
    engine: str = "sampled"
    half_width: float = 0.01  # sampled: worst-case 95% half-width per side that sizes the samples ...
    max_targets: int = 20_000  # ... at most this many targets (and singling-out queries) per side
    timeout_seconds: float = 1800.0
    # the Anonymeter environment's python; default: $PERSONATWIN_ANONYMETER_PYTHON or .venv-anonymeter
    python: str | None = None

    def __post_init__(self) -> None:
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if not 0 < self.half_width < 0.5:
            raise ValueError(f"half_width must be in (0, 0.5), got {self.half_width}")

    def n_targets(self) -> int:
        """Sampled engine: targets per side (and singling-out queries) for ``half_width`` at p = 0.5."""
        return targets_for(self.half_width, self.confidence_level, self.max_targets)

    def n_control(self, n_people: int) -> int:
        """Held-out people: the larger of ``control_share`` of them and half of them up to
        ``half_control_up_to``, at most ``max_control``."""
        half = min(n_people // 2, self.half_control_up_to)
        return min(max(int(round(self.control_share * n_people)), half), self.max_control)


@dataclass(frozen=True)
class AttackRisk:
    """One Anonymeter evaluator's result: the risk with its confidence interval and the underlying rates."""

    attack: str  # singling_out | linkability | inference
    variant: str  # univariate / multivariate; the two sources; the secret column
    risk: float
    ci_low: float
    ci_high: float
    attack_rate: float
    baseline_rate: float
    control_rate: float
    n_attacks: int  # attacks on members (pooled: members x secrets)
    n_success: float
    n_baseline: float
    n_control: float  # successful attacks on held-out people
    n_attacks_control: float = float("nan")  # attacks on held-out people, where it differs from n_attacks
    design_effect: float = float("nan")  # pooled inference: variance inflation from guesses about one person

    def row(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class AnonymeterEvaluation:
    """Anonymeter's verdict on one release: every evaluator, the headline risk per attack, the gate."""

    results: tuple[AttackRisk, ...]
    n_people: int
    n_train: int
    n_control: int
    confidence_level: float
    max_risk: float | None  # the policy's limit (None: reported, not gated)
    columns: dict = field(default_factory=dict)  # column roles, for the report
    versions: dict = field(default_factory=dict)
    seconds: float = 0.0  # wall time of the whole evaluation (flattening, environment start, every attack)
    attack_seconds: dict = field(default_factory=dict)  # wall time per evaluator inside the runner
    work: dict = field(default_factory=dict)  # sampled engine: targets, queries and distances counted (not timed)

    @property
    def engine(self) -> str:
        """Which engine ran: "sampled" or "anonymeter" (stock)."""
        return str(self.versions.get("engine", "anonymeter"))

    def headline(self, attack: str) -> AttackRisk:
        """The figure reported and gated for one attack (see ``headline_row``)."""
        rows = [r for r in self.results if r.attack == attack]
        if not rows:
            raise KeyError(attack)
        return headline_row(rows)

    @property
    def singling_out(self) -> AttackRisk:
        return self.headline("singling_out")

    @property
    def linkability(self) -> AttackRisk:
        return self.headline("linkability")

    @property
    def inference(self) -> AttackRisk:
        return self.headline("inference")

    def failures(self) -> tuple[str, ...]:
        """Why the release fails the gate (``exceeds``), each with the figure; empty: it passes."""
        if self.max_risk is None:
            return ()
        out = []
        for attack in ATTACKS:
            rows = [r for r in self.results if r.attack == attack]
            name = attack.replace("_", " ")
            if not rows:
                out.append(f"Anonymeter {name} risk was not evaluated")
                continue
            head = headline_row(rows)
            for r in rows:
                if not exceeds(r.risk, r.ci_low, self.max_risk, headline=r is head):
                    continue
                ci = f"95% CI {r.ci_low:.4f} to {r.ci_high:.4f}"
                if r is head:
                    out.append(f"Anonymeter {name} risk {r.risk:.4f} ({r.variant}; {ci}) > limit {self.max_risk} "
                               f"(by {r.risk - self.max_risk:.4f})")
                else:
                    out.append(f"Anonymeter {name} risk of {r.variant} {r.risk:.4f} ({ci}): even the lower bound is "
                               f"above the limit {self.max_risk}")
        return tuple(out)

    @property
    def passed(self) -> bool:
        return not self.failures()

    def metrics(self) -> dict[str, float]:
        """Headline figures as floats (release metrics, manifest, Dagster metadata)."""
        out: dict[str, float] = {}
        for attack in ATTACKS:
            h = self.headline(attack)
            p = f"anonymeter_{attack}"
            out.update({f"{p}_risk": h.risk, f"{p}_ci_low": h.ci_low, f"{p}_ci_high": h.ci_high})
        out["anonymeter_n_attacks"] = float(max(r.n_attacks for r in self.results if r.variant != POOLED))
        out["anonymeter_control_people"] = float(self.n_control)
        out["anonymeter_gate_failures"] = float(len(self.failures()))
        return out

    def table(self) -> pd.DataFrame:
        """One row per evaluator (the release table ``anonymeter``), with the run's parameters repeated."""
        df = pd.DataFrame([r.row() for r in self.results])
        df["headline"] = [self.headline(r.attack) is r for r in self.results]
        df["n_people"] = self.n_people
        df["n_train"] = self.n_train
        df["n_control_people"] = self.n_control
        df["confidence_level"] = self.confidence_level
        df["max_risk"] = np.nan if self.max_risk is None else float(self.max_risk)
        df["columns"] = json.dumps(self.columns, sort_keys=True)
        df["versions"] = json.dumps(self.versions, sort_keys=True)
        return df

    def as_dict(self) -> dict:
        """JSON-friendly form (the manifest's ``anonymeter`` section)."""
        return summary_from_table(self.table())


def headline_row(rows):
    """The headline of one attack's evaluator rows: the pooled inference row where there is one, else
    the largest risk (singling out: the stronger of its two modes)."""
    pooled = [r for r in rows if r.variant == POOLED]
    return pooled[0] if pooled else max(rows, key=lambda r: (r.risk, r.ci_high))



def summary_from_table(table: pd.DataFrame) -> dict:
    """The manifest section of an ``anonymeter`` release table: headline risks, the gate and every evaluator."""
    first = table.iloc[0]
    limit = None if pd.isna(first["max_risk"]) else float(first["max_risk"])
    evaluators = []
    for r in table.itertuples(index=False):
        evaluators.append({**{k: _plain(v) for k, v in r._asdict().items() if k in AttackRisk.__dataclass_fields__},
                           "headline": bool(r.headline)})
    heads = {}
    against = counts_against(table)
    for r in table[table["headline"].astype(bool)].itertuples(index=False):
        mine = (table["attack"] == r.attack).to_numpy()
        heads[r.attack] = {"risk": float(r.risk), "ci_low": float(r.ci_low), "ci_high": float(r.ci_high),
                           "variant": r.variant, "passed": None if limit is None else not bool(against[mine].any())}
    return {
        "tool": "anonymeter", "versions": json.loads(first["versions"]), "max_risk": limit,
        "gate": GATE_RULE,
        "passed": None if limit is None else all(h["passed"] for h in heads.values()),
        "people": int(first["n_people"]), "train_people": int(first["n_train"]),
        "control_people": int(first["n_control_people"]), "confidence_level": float(first["confidence_level"]),
        "columns": json.loads(first["columns"]), "risks": heads, "evaluators": evaluators,
    }


def _plain(value):
    """A JSON value: numpy scalars as Python ones, NaN (a figure that does not apply) as None."""
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and value != value else value


def counts_against(table: pd.DataFrame) -> np.ndarray:
    """Per row of an ``anonymeter`` release table: does this figure fail the gate (``exceeds``)?"""
    limit = None if pd.isna(table["max_risk"].iloc[0]) else float(table["max_risk"].iloc[0])
    return np.array([exceeds(r.risk, r.ci_low, limit, headline=bool(r.headline))
                     for r in table.itertuples(index=False)], dtype=bool)


# --- the split and the flattened tables ----------------------------------------------------------

def split_control(n_people: int, key: ReleaseKey, salt: str,
                  options: AnonymeterOptions = AnonymeterOptions()) -> np.ndarray:
    """Boolean mask of the held-out control people, drawn with the release key (same key, same split)."""
    if n_people < options.min_people:
        raise AnonymeterError(
            f"{n_people} people are too few for the Anonymeter evaluation (at least {options.min_people:,}): with "
            f"{options.n_control(n_people)} held out its risk estimates are too imprecise to hold a release to "
            "the limit")
    n_control = options.n_control(n_people)
    mask = np.zeros(n_people, dtype=bool)
    mask[key.rng(salt, "anonymeter-split").permutation(n_people)[:n_control]] = True
    return mask


def subset_prepared(data: PreparedData, keep: np.ndarray) -> PreparedData:
    """The prepared data of the people where ``keep`` is true (and their events), in the same canonical order."""
    new_index = np.cumsum(keep) - 1
    ev = keep[data.event_person]
    opt = lambda a: None if a is None else a[ev]  # noqa: E731
    return PreparedData(
        people=data.people.loc[keep].reset_index(drop=True), event_person=new_index[data.event_person[ev]],
        event_day=data.event_day[ev], type_codes=data.type_codes[ev], type_names=data.type_names,
        outcome_codes=data.outcome_codes[ev], outcome_names=data.outcome_names, domain=data.domain,
        features=data.features[keep], end_day=opt(data.end_day), location_codes=opt(data.location_codes),
        location_names=data.location_names, values=opt(data.values))


def _safe_names(names, prefix: str, taken: set) -> list[str]:
    out = []
    for name in names:
        base = prefix + (re.sub(r"\W+", "_", str(name)).strip("_").lower() or "x")
        col, i = base, 2
        while col in taken:
            col, i = f"{base}_{i}", i + 1
        taken.add(col)
        out.append(col)
    return out


@dataclass(frozen=True)
class Columns:
    """The flattened table's columns by role."""

    qis: tuple[str, ...]
    counts: tuple[str, ...]
    periods: tuple[str, ...]
    outcomes: tuple[str, ...]
    sensitive: tuple[str, ...]
    qi_sources: tuple[str, ...]  # people columns behind ``qis``
    sensitive_sources: tuple[str, ...]

    @property
    def secrets(self) -> tuple[str, ...]:
        return self.outcomes + self.sensitive

    @property
    def all(self) -> tuple[str, ...]:
        return self.qis + self.counts + self.periods + self.outcomes + self.sensitive

    def as_dict(self) -> dict:
        return {"demographics": list(self.qis), "event_counts": list(self.counts), "periods": list(self.periods),
                "secrets": list(self.secrets)}


def columns_of(data: PreparedData) -> Columns:
    domain = data.domain
    qi_src = tuple(q for q in domain.qis if q in data.people.columns)
    taken: set = set()
    qis = _safe_names(qi_src, "", taken)
    counts = _safe_names(data.type_names, "events_", taken)
    periods = _safe_names(("first", "last"), "period_", taken)
    outcomes = _safe_names(data.type_names, "outcome_", taken)
    sens_src = tuple(c for c in domain.sensitive if c in data.people.columns)
    sensitive = _safe_names(sens_src, "secret_", taken)
    return Columns(tuple(qis), tuple(counts), tuple(periods), tuple(outcomes), tuple(sensitive), qi_src, sens_src)


def _mode(group: np.ndarray, codes: np.ndarray, n_groups: int, n_codes: int, names,
          missing: str = MISSING) -> np.ndarray:
    """Most frequent code per group (ties: the first code), as labels; ``missing`` for empty groups."""
    counts = np.bincount(group * n_codes + codes, minlength=n_groups * n_codes).reshape(n_groups, n_codes)
    labels = (np.asarray(list(names), dtype=object)[counts.argmax(axis=1)] if n_codes
              else np.full(n_groups, missing, object))
    labels[counts.sum(axis=1) == 0] = missing
    return labels


def _event_columns(cols: Columns, data: PreparedData, group: np.ndarray, n_groups: int, outcomes: np.ndarray,
                   periods: np.ndarray, per: np.ndarray) -> dict[str, np.ndarray]:
    """Counts per type (divided by ``per``), first/last period and the most frequent outcome per type, by group."""
    T, n_out = len(data.type_names), len(data.outcome_names)
    out: dict[str, np.ndarray] = {}
    counts = np.bincount(group * T + data.type_codes, minlength=n_groups * T).reshape(n_groups, T)
    for t, col in enumerate(cols.counts):
        out[col] = np.round(counts[:, t] / per, 2)
    days = periods.astype("datetime64[D]").astype(np.int64)
    first = np.full(n_groups, np.iinfo(np.int64).max)
    last = np.full(n_groups, np.iinfo(np.int64).min)
    np.minimum.at(first, group, days)
    np.maximum.at(last, group, days)
    none = counts.sum(axis=1) == 0
    out[cols.periods[0]] = np.where(none, np.nan, first).astype(np.float64)
    out[cols.periods[1]] = np.where(none, np.nan, last).astype(np.float64)
    for t, col in enumerate(cols.outcomes):
        sel = data.type_codes == t
        out[col] = _mode(group[sel], outcomes[sel], n_groups, n_out, data.outcome_names)
    return out


def original_frame(data: PreparedData, policy: PrivacyPolicy, cols: Columns | None = None) -> pd.DataFrame:
    """One row per person of ``data``: the person's own values, in the form the release publishes them."""
    cols = cols or columns_of(data)
    n = data.n_people
    out: dict[str, np.ndarray] = {}
    for qi, col in zip(cols.qi_sources, cols.qis):
        codes, labels = generalized_codes(data.people[qi], data.domain.hierarchy(qi),
                                          start_level(data.domain, policy, qi))
        out[col] = _labels_at(labels, codes)
    periods = period_start(data.event_day, policy.date_precision)
    out.update(_event_columns(cols, data, data.event_person, n, data.outcome_codes, periods, np.ones(n)))
    for src, col in zip(cols.sensitive_sources, cols.sensitive):  # at the release's precision (numeric: ranges)
        codes, labels = sensitive_coded(data.people[src], data.domain.sensitive_attribute(src))
        out[col] = _labels_at(labels, codes)
    return _typed(out, cols)


def _labels_at(labels, codes: np.ndarray) -> np.ndarray:
    """``labels[codes]`` as text in an object array that shares one string per label (not one per person:
    creating 1M strings per column, then hashing each again to encode it, was most of this frame's cost)."""
    return np.asarray([str(v) for v in labels], dtype=object)[codes]


def release_frame(ctx: PassContext,
                  cols: Columns | None = None) -> pd.DataFrame:
    """Make a release of ``data`` (merge and noise stages at ``policy``) and flatten it to one row per
    person: each member gets the persona's published attributes."""
    personas, member = release_personas(ctx, cols)
    return personas.iloc[member].reset_index(drop=True)


def release_personas(ctx: PassContext, cols: Columns | None = None) -> tuple[pd.DataFrame, np.ndarray]:
    """Make a release of ``data`` (merge and noise stages at ``policy``): one row per persona with its
    published attributes, and the persona of every person (``release_frame`` gives each member its row)."""
    data = ctx.data
    cols = cols or columns_of(data)
    merged = merge_stage(ctx)
    noised = noise_codes(ctx, merged)  # the draws of the noise stage, without building its tables
    attrs = merged.attributes
    P = len(attrs.table)
    size = attrs.table["size"].to_numpy()
    per_persona: dict[str, np.ndarray] = {}
    for qi, col in zip(cols.qi_sources, cols.qis):
        per_persona[col] = attrs.table[qi].astype(str).to_numpy(dtype=object)
    per_persona.update(_event_columns(cols, data, noised.ev_persona, P, noised.outcomes, noised.starts, size))
    for (codes, n_values), src, col in zip(noised.sensitive_codes, cols.sensitive_sources, cols.sensitive):
        _, cats = sensitive_coded(data.people[src], data.domain.sensitive_attribute(src))
        per_persona[col] = _mode(merged.person_persona, codes, P, n_values, [str(c) for c in cats])
    return _typed(per_persona, cols), np.asarray(merged.person_persona)


def _typed(columns: dict[str, np.ndarray], cols: Columns) -> pd.DataFrame:
    """The frame in plain numpy dtypes both environments read alike: object strings and float64 numbers (each
    column made in its dtype: pandas would otherwise infer its string dtype for 1M object cells, then convert
    them back)."""
    text = set(cols.qis + cols.outcomes + cols.sensitive)
    dtypes = {c: object if c in text else np.float64 for c in cols.all}
    return pd.DataFrame({c: pd.Series(np.asarray(columns[c], dtype=dtypes[c]), dtype=dtypes[c], copy=False)
                         for c in cols.all}, columns=list(cols.all))


@dataclass(frozen=True)
class Flattened:
    """The three Anonymeter tables of one evaluation (sensitive: kept in memory or a private folder only)."""

    ori: pd.DataFrame
    syn: pd.DataFrame
    control: pd.DataFrame
    columns: Columns

    def __repr__(self) -> str:
        return f"Flattened(ori={len(self.ori)}, syn={len(self.syn)}, control={len(self.control)})"


@dataclass(frozen=True)
class FlattenedPersonas:
    """The evaluation tables with the release kept at one row per persona (the sampled engine's input):
    ``ori`` and ``control`` as in ``Flattened``; ``member[i]`` is the persona (row of ``personas``) of ``ori`` row i."""

    ori: pd.DataFrame
    personas: pd.DataFrame
    member: np.ndarray
    control: pd.DataFrame
    columns: Columns

    def __repr__(self) -> str:
        return f"FlattenedPersonas(ori={len(self.ori)}, personas={len(self.personas)}, control={len(self.control)})"

    def expanded(self) -> Flattened:
        """One release row per member (Anonymeter's ``syn``), in the members' row order."""
        return Flattened(self.ori, self.personas.iloc[self.member].reset_index(drop=True), self.control, self.columns)


def flatten_personas(ctx: PassContext, options: AnonymeterOptions = AnonymeterOptions()) -> FlattenedPersonas:
    """Split off the control people, release the rest at ``policy``; originals one row per person, the
    evaluation release one row per persona."""
    data, policy, key, salt = ctx.data, ctx.policy, ctx.key, ctx.salt
    control_mask = split_control(data.n_people, key, salt, options)
    cols = columns_of(data)
    train = subset_prepared(data, ~control_mask)
    originals = original_frame(data, policy, cols)
    personas, member = release_personas(PassContext(train, policy, key, f"{salt}\x1fanonymeter"), cols)
    # rows in a keyed random order: the row order of none of the tables follows person ids or personas
    order_rng = ctx.rng("anonymeter-order")
    ori = originals.loc[~control_mask].reset_index(drop=True)
    perm = order_rng.permutation(len(ori))
    ori, member = ori.iloc[perm].reset_index(drop=True), member[perm]
    control = originals.loc[control_mask].reset_index(drop=True)
    control = control.iloc[order_rng.permutation(len(control))].reset_index(drop=True)
    return FlattenedPersonas(ori, personas, member, control, cols)


def flatten(ctx: PassContext,
            options: AnonymeterOptions = AnonymeterOptions()) -> Flattened:
    """Split off the control people, release the rest at ``policy`` and flatten everything to one row per person."""
    return flatten_personas(ctx, options).expanded()


# --- running Anonymeter --------------------------------------------------------------------------

def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def anonymeter_python(options: AnonymeterOptions = AnonymeterOptions()) -> Path:
    """The Anonymeter environment's python; raises ``AnonymeterUnavailableError`` if it is missing."""
    given = options.python or os.environ.get(PYTHON_ENV)
    path = Path(given) if given else project_root() / VENV_DIR / "bin" / "python"
    if not path.exists():
        where = f"${PYTHON_ENV} = {given}" if given else str(path.parent.parent)
        raise AnonymeterUnavailableError(
            f"the Anonymeter environment is missing ({where}): the attack evaluation cannot run and the release is "
            f"not made without it; {SETUP_HINT}")
    return path


def _seeds(key: ReleaseKey, salt: str) -> dict[str, int]:
    names = ("singling_out_univariate", "singling_out_multivariate", "linkability", "linkability_baseline", "inference")
    return {n: int(key.rng(salt, "anonymeter-attack", n).integers(0, 2**31 - 1)) for n in names}


def run_anonymeter(flat: Flattened, seeds: dict[str, int], options: AnonymeterOptions = AnonymeterOptions()) -> dict:
    """Run the three evaluators in the Anonymeter environment; the raw results as a dict.

    The tables go to a private folder (0700) removed afterwards, whatever happens; the runner's own
    output is discarded, and failures are reported by exception type only."""
    python = anonymeter_python(options)
    cols = flat.columns
    n_link = min(options.n_attacks, len(flat.control), len(flat.ori))
    config = {
        "seeds": seeds, "confidence_level": options.confidence_level, "n_jobs": 1, "fixed_ranges": options.fixed_ranges,
        "singling_out": {"modes": list(options.singling_out_modes) if "singling_out" in options.attacks else [],
                         "n_attacks": options.n_attacks, "equal_sizes_below": SINGLING_OUT_EQUAL_SIZES_BELOW,
                         "n_cols": options.n_cols, "max_attempts": options.max_attempts},
        "linkability": {"n_attacks": n_link if "linkability" in options.attacks else 0, "n_neighbors": 1,
                        "aux_cols": [list(cols.qis), list(cols.counts + cols.periods)]},
        # inference is cheap (one row per persona to search): every person of ori and of control is a
        # target of every secret, and the secrets are also pooled into one estimate, for precision
        "inference": {"n_attacks": len(flat.ori), "aux_cols": list(cols.qis + cols.counts + cols.periods),
                      "secrets": list(cols.secrets) if "inference" in options.attacks else [], "pooled": True,
                      "shared_neighbours": options.fixed_ranges and options.shared_neighbours},
    }
    remove_stale_folders()
    folder = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{os.getpid()}-"))  # mode 0700
    try:
        os.chmod(folder, 0o700)
        flat.ori.to_parquet(folder / "ori.parquet", index=False)
        flat.syn.to_parquet(folder / "syn.parquet", index=False)
        flat.control.to_parquet(folder / "control.parquet", index=False)
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
        cache = python.parent.parent / "numba-cache"  # compiled kernels only, never data
        env.update({"NUMBA_CACHE_DIR": str(cache if os.access(python.parent.parent, os.W_OK) else folder / "numba"),
                    "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0", "TMPDIR": str(folder)})
        config["numba_cache"] = True
        (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
        try:
            proc = subprocess.run([str(python), "-I", str(RUNNER), str(folder), str(os.getpid())],
                                  stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  env=env, timeout=options.timeout_seconds, check=False)
        except subprocess.TimeoutExpired:
            raise AnonymeterError(
                f"the Anonymeter evaluation did not finish within {options.timeout_seconds:.0f} s") from None
        result_file = folder / "results.json"
        payload = json.loads(result_file.read_text(encoding="utf-8")) if result_file.exists() else {}
        if proc.returncode != 0 or "results" not in payload:
            what = f"{payload.get('error')} in {payload.get('stage')}" if "error" in payload else \
                f"exit code {proc.returncode}, no results"
            raise AnonymeterError(f"the Anonymeter evaluation failed ({what}); check its environment with "
                                  "scripts/setup-anonymeter")
        return payload
    finally:
        shutil.rmtree(folder, ignore_errors=True)


TMP_PREFIX = "personatwin-anonymeter-"


def remove_stale_folders() -> list[str]:
    """Remove the private folders of evaluations whose process is gone (a run killed before its cleanup)."""
    removed = []
    for path in Path(tempfile.gettempdir()).glob(f"{TMP_PREFIX}*"):
        try:
            pid = int(path.name[len(TMP_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if path.is_dir() and path.stat().st_uid == os.getuid() and not process_alive(pid):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path.name)
    return removed


def _attack_risk(raw: dict) -> AttackRisk:
    ctrl = raw.get("control_rate") or {"value": float("nan")}
    return AttackRisk(attack=raw["attack"], variant=raw["variant"], risk=raw["risk"], ci_low=raw["ci_low"],
                      ci_high=raw["ci_high"], attack_rate=raw["attack_rate"]["value"],
                      baseline_rate=raw["baseline_rate"]["value"], control_rate=ctrl["value"],
                      n_attacks=int(raw["n_attacks"]), n_success=float(raw["n_success"]),
                      n_baseline=float(raw["n_baseline"]),
                      n_control=float("nan") if raw.get("n_control") is None else float(raw["n_control"]),
                      n_attacks_control=float(raw.get("n_attacks_control", raw["n_attacks"])),
                      design_effect=float(raw.get("design_effect", float("nan"))))


# An evaluation started ahead of need, on an otherwise idle core (the pipeline starts one for the configuration
# the release will most likely have, while the other stages run): (context, options, future). It is used for that
# very context only (``PassContext.same_as``: the same prepared data object, policy, key and salt); the evaluation
# is a function of those alone, so the result is the one a call at that time would give.
_AHEAD: list = []


def evaluate_prepared_ahead(ctx: PassContext, options: AnonymeterOptions,
                            submit: Callable[..., Future]) -> None:
    """Start ``evaluate_prepared(ctx, options)`` with ``submit`` (an executor's); a later call for the same context
    and options waits for it instead of evaluating again."""
    if _AHEAD:
        _AHEAD.pop()[2].cancel()  # an earlier one not started yet (its release never came) is dropped
    _AHEAD.append((ctx, options, submit(evaluate_prepared_now, ctx, options)))


def evaluate_prepared(ctx: PassContext,
                      options: AnonymeterOptions = AnonymeterOptions()) -> AnonymeterEvaluation:
    """Anonymeter's three risks for releases made at ``policy`` from this data (see the module text), by the
    engine ``options.engine`` chooses (default: the sampled one); the one started ahead for this very context,
    if any (``evaluate_prepared_ahead``)."""
    if _AHEAD:
        ahead_ctx, ahead_options, future = _AHEAD.pop()
        if ctx.same_as(ahead_ctx) and options == ahead_options:
            return future.result()
        if not future.cancel():  # another configuration, already running: let it finish first, so two
            wait([future])  # evaluations never hold their memory at once
    return evaluate_prepared_now(ctx, options)


def evaluate_prepared_now(ctx: PassContext,
                          options: AnonymeterOptions = AnonymeterOptions()) -> AnonymeterEvaluation:
    """``evaluate_prepared`` computed in this call."""
    if options.engine == "sampled":
        return evaluate_prepared_sampled(ctx, options)
    data, policy, key, salt = ctx.data, ctx.policy, ctx.key, ctx.salt
    t0 = time.perf_counter()
    anonymeter_python(options)  # fail before any work when the environment is missing
    flat = flatten(ctx, options)
    raw = run_anonymeter(flat, _seeds(key, salt), options)
    results = tuple(_attack_risk(r) for r in raw["results"])
    return AnonymeterEvaluation(results=results, n_people=data.n_people, n_train=len(flat.ori),
                                n_control=len(flat.control), confidence_level=options.confidence_level,
                                max_risk=policy.anonymeter_max_risk, columns=flat.columns.as_dict(),
                                versions=raw.get("versions", {}), seconds=time.perf_counter() - t0,
                                attack_seconds={k: round(float(v), 3) for k, v in raw.get("seconds", {}).items()})


def sampled_config(cols: Columns, options: AnonymeterOptions) -> SampledConfig:
    return SampledConfig(qis=cols.qis, events=cols.counts + cols.periods,
                         secrets=cols.secrets if "inference" in options.attacks else (), attacks=options.attacks,
                         singling_out_modes=options.singling_out_modes, n_attacks=options.n_attacks,
                         n_cols=options.n_cols, max_attempts=options.max_attempts, n_targets=options.n_targets(),
                         confidence_level=options.confidence_level)


def evaluate_prepared_sampled(ctx: PassContext,
                              options: AnonymeterOptions = AnonymeterOptions()) -> AnonymeterEvaluation:
    """The three risks by the sampled engine (``personatwin.measure.attack_sample``): same tables, split, formulas
    and gate as the stock run, targets drawn with the release key, cost bounded by the sample sizes."""
    t0 = time.perf_counter()
    flat = flatten_personas(ctx, options)
    t1 = time.perf_counter()
    cols = flat.columns
    numeric = {c: c in cols.counts + cols.periods for c in cols.all}
    raw, work = evaluate_sampled(flat.ori, flat.personas, flat.member, flat.control, numeric,
                                 sampled_config(cols, options),
                                 lambda *purpose: ctx.key.rng(ctx.salt, "anonymeter-targets", *purpose))
    results = tuple(_attack_risk(r) for r in raw)
    versions = {"engine": "sampled", "anonymeter": "formulas (sampled engine)", "numpy": np.__version__,
                "pandas": pd.__version__}
    seconds = {"flatten": round(t1 - t0, 3), "attacks": round(time.perf_counter() - t1, 3)}
    return AnonymeterEvaluation(results=results, n_people=ctx.data.n_people, n_train=len(flat.ori),
                                n_control=len(flat.control), confidence_level=options.confidence_level,
                                max_risk=ctx.policy.anonymeter_max_risk, columns=cols.as_dict(), versions=versions,
                                seconds=time.perf_counter() - t0, attack_seconds=seconds, work=work)


def evaluate(people: pd.DataFrame, events: pd.DataFrame, domain, policy: PrivacyPolicy, key: ReleaseKey,
             salt: str = "", options: AnonymeterOptions = AnonymeterOptions()) -> AnonymeterEvaluation:
    """Anonymeter's risks for releases made at ``policy`` from validated people and events tables
    (``personatwin.validate.validation``); e.g.
    ``evaluate(checked.people, checked.events, domain, release.policy, key)``."""
    return evaluate_prepared(PassContext(prepare(people, events, domain), policy, key, salt), options)


def check(evaluation: AnonymeterEvaluation) -> None:
    """Refuse the release (``AttackRiskError``) when the evaluation fails the gate (``exceeds``)."""
    failures = evaluation.failures()
    if failures:
        raise AttackRiskError("the independent attack evaluation (Anonymeter) refuses the release, so nothing is "
                              "released: " + "; ".join(failures), evaluation)
