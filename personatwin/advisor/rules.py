"""The rule-based advisor (the default provider): deterministic answers from the payload alone, no network.

``RulesAdvisor`` reads only ``payload.content`` (allow-listed aggregates built by ``personatwin.advisor.payload``)
and answers the four questions of ``personatwin.advisor.base.Advisor``:

- ``explain``: which target binds (the missed target with the largest relative excess, or for a release the
  figure closest to its limit), why in numbers, and what the risk / information-loss trade-off means;
- ``recommend``: ladder-like changes by failure kind, only fields of ``CHANGEABLE`` and only more protective;
- ``draft_domain``: a custom-domain YAML from column names, kinds and the values enough people share;
- ``synthetic_spec``: the parameters of synthetic sample data from the vocabulary and published aggregates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]  # (types-PyYAML is not a dependency)

from personatwin.advisor.base import (
    CHANGEABLE,
    DATE_ORDER,
    DRAFT_DOMAIN,
    EXPLAIN,
    RECOMMEND,
    SYNTHETIC,
    Advice,
    Change,
    Explanation,
    Payload,
    Recommendation,
    SyntheticSpec,
)
from personatwin.advisor.payload import identifier_name
from personatwin.advisor.synthetic import shares
from personatwin.ingest.identifiers import name_tokens, normalized_name
from personatwin.measure import criteria
from personatwin.measure.criteria import (
    ATTACKS,
    DIFFERENCING,
    DP_BUDGET,
    EVENTS_PRESERVED,
    K_ANONYMITY,
    L_DIVERSITY,
    LINKAGE_RISK,
    POPULATION_RISK,
    RELEASE_RISK,
    SERIES_RISK,
    SINGLE_OUT,
    T_CLOSENESS,
    UTILITY_GATES,
)

GENERATED_BY = "rules"
ALL_TARGETS: tuple[criteria.Criterion, ...] = tuple(
    {type(c): c for c in criteria.LOOP_TARGETS + criteria.VERDICT_TARGETS}.values())
MEANING = {kind: c.meaning for c in reversed(ALL_TARGETS) if (kind := c.kind)}  # the first criterion of a kind wins
# Figures met exactly by construction (every persona has >= k members, every event is kept): never "closest".
BY_CONSTRUCTION = (K_ANONYMITY, EVENTS_PRESERVED, UTILITY_GATES)
# How a failure text names its target (lower case), most specific first.
KIND_WORDS = (("population average risk", POPULATION_RISK), ("external linkage risk", LINKAGE_RISK),
              ("series single-out", SERIES_RISK), ("series risk", SERIES_RISK), ("single-out", SINGLE_OUT),
              ("k-anonymity", K_ANONYMITY), ("t-closeness", T_CLOSENESS), ("l-diversity", L_DIVERSITY),
              ("recursive c", L_DIVERSITY), ("utility gate", UTILITY_GATES), ("anonymeter", ATTACKS),
              ("differencing", DIFFERENCING), ("dp budget", DP_BUDGET), ("event counts", EVENTS_PRESERVED),
              ("release risk", RELEASE_RISK))
_FIGURE = r"(\d+(?:\.\d+)?)"
FAILURE_PATTERN = re.compile(rf"^(?P<label>.*?)\s{_FIGURE}\s(?P<op>[<>])\s(?:target|limit|cap|[a-z]=)\s?{_FIGURE}")
ATTRIBUTE_PATTERNS = (re.compile(r"t-closeness of (?P<a>[\w.\-]+)"), re.compile(r"binding (?P<a>[\w.\-]+) \(l "),
                      re.compile(r"diversity of (?P<a>[\w.\-]+)"), re.compile(r"recursive c of (?P<a>[\w.\-]+)"),
                      re.compile(r"Binding target: [\w -]+ on (?P<a>[\w.\-]+)"))
LABELS = {"k_anonymity": "k-anonymity", "l_diversity_distinct": "l-diversity", "l_diversity_entropy": "entropy "
          "l-diversity", "c_recursive": "recursive (c, l)-diversity", "t_closeness": "t-closeness",
          "persona_single_out_rate": "persona single-out rate", "anonymeter_*_risk": "Anonymeter attack risk",
          "utility_gate_failures": "failed utility gates", "events_preserved": "event conservation"}
RELEASED, REFUSED, FAILING = "released", "refused", "failing"
MAX_AGE_LEVEL = 3  # the widest age band of the default hierarchy (level 4 suppresses age)
MAX_LOCATION_LEVEL = 3  # zip5 -> zip3 -> zip1 -> *
DEFAULT_K = 5
DEFAULT_RANGE_EDGES = (1.0, 5.0)  # a skewed count as three ranges: 0, 1-4, 5 and more
STRONGER_PRAM_STEP, MIN_PRAM_P = 0.1, 0.6
DEFAULT_EVENTS_PER_PERSON = 3.0


@dataclass(frozen=True)
class Standing:
    """One target as judged from the payload: its figure, limit, relative gap and whether it is missed."""

    kind: str
    label: str
    value: float | None
    limit: float | None
    gap: float  # |value - limit| / |limit| (or the plain difference for a zero limit); 0 when unknown
    missed: bool
    text: str = ""


def _check_task(payload: Payload, task: str) -> Mapping[str, Any]:
    """The payload's content, if it asks this task."""
    if payload.task != task:
        raise ValueError(f"the rule-based advisor was given a {payload.task!r} payload where {task!r} was expected")
    return payload.content


def relative_gap(value: float, limit: float) -> float:
    """How far a figure is from its limit, relative to the limit (the plain difference for a zero limit)."""
    return abs(value - limit) / abs(limit) if limit else abs(value - limit)


def kind_of(text: str) -> str | None:
    """The target kind a failure or refusal text names, or None."""
    low = text.lower()
    return next((kind for words, kind in KIND_WORDS if words in low), None)


def attribute_of(text: str) -> str | None:
    """The attribute a failure or refusal text names as binding (l-diversity, t-closeness), or None."""
    for pattern in ATTRIBUTE_PATTERNS:
        found = pattern.search(text)
        if found:
            return found.group("a").rstrip(".,;:")
    return None


def standing_of_text(text: str) -> Standing | None:
    """A failure text read back into a standing ('population average risk 0.08 > target 0.05 (by ...)')."""
    kind = kind_of(text)
    if kind is None:
        return None
    found = FAILURE_PATTERN.search(text.strip())
    if not found:
        return Standing(kind, text.split(";")[0].split("(")[0].strip(), None, None, 0.0, True, text)
    value, limit = float(found.group(2)), float(found.group(4))
    return Standing(kind, found.group("label").strip(), value, limit, relative_gap(value, limit), True, text)


def standings(figures: Mapping[str, Any], targets: Mapping[str, Any], failures: Sequence[str]) -> list[Standing]:
    """Every target judged on the figures, plus the failures stated only as text, missed first by gap."""
    out: list[Standing] = []
    for o in criteria.judge(figures, targets, ALL_TARGETS):
        if o.value is None or o.threshold is None:
            continue
        label = LABELS.get(o.metric, o.metric.replace("_", " "))
        out.append(Standing(o.kind, label, o.value, o.threshold, relative_gap(o.value, o.threshold),
                            not o.passed, o.failure or o.verdict))
    judged = {s.kind for s in out if s.missed}
    out += [s for f in failures if (s := standing_of_text(f)) is not None and s.kind not in judged]
    return sorted(out, key=lambda s: (not s.missed, -s.gap if s.missed else s.gap, s.kind))


def binding(stood: Sequence[Standing]) -> Standing | None:
    """The missed target with the largest relative excess; with none missed, the figure closest to its limit."""
    missed = [s for s in stood if s.missed]
    if missed:
        return max(missed, key=lambda s: s.gap)
    close = [s for s in stood if s.kind not in BY_CONSTRUCTION] or list(stood)
    return min(close, key=lambda s: s.gap) if close else None


def _num(v: float | None) -> str:
    return criteria.fmt(v, 4)


def binding_sentence(s: Standing, state: str) -> str:
    """What binds, in numbers."""
    if s.value is None or s.limit is None:
        return f"Binding target: {s.kind} ({s.text.strip()[:200]})."
    if s.missed:
        side = "above" if s.value > s.limit else "below"
        return (f"Binding target: {s.label} is {_num(s.value)}, {side} its limit {_num(s.limit)} by "
                f"{_num(abs(s.value - s.limit))} ({s.gap:.0%} of the limit): of the targets missed, the furthest "
                "from its limit.")
    where = "Every target holds; closest" if state == RELEASED else "Closest"
    return (f"{where} to its limit: {s.label} {_num(s.value)} against {_num(s.limit)} (a margin of {s.gap:.0%} of "
            "the limit).")


def why_sentence(s: Standing) -> str:
    """What the binding target means."""
    meaning = MEANING.get(s.kind)
    return f"What it means: {meaning}." if meaning else ""


def risk_sentence(figures: Mapping[str, Any], targets: Mapping[str, Any]) -> str:
    """The release risk and what makes it up."""
    risk = criteria.number(figures.get("release_risk"))
    if risk is None:
        return ""
    pop, link = (criteria.number(figures.get(k)) for k in ("population_average_risk", "external_linkage_risk"))
    target = criteria.number(targets.get("target_risk"))
    parts = [f"Release risk {_num(risk)}"]
    if pop is not None and link is not None:
        parts.append(f"(the larger of population average risk {_num(pop)} and external linkage risk {_num(link)})")
    if target is not None:
        parts.append(f"{'within' if risk <= target else 'above'} the target {_num(target)}")
    return " ".join(parts) + "."


TRADEOFF_END = {
    RELEASED: "The released configuration is the one with the least information loss among those under the target "
              "line that meet every other target too.",
    REFUSED: "No configuration the privacy loop tried got under the target line with every other target met, so "
             "nothing was released.",
    FAILING: "This configuration misses a target, so the loop tries a coarser one (further right on the chart).",
}


def tradeoff_sentence(figures: Mapping[str, Any], state: str) -> str:
    """What the trade-off chart shows and where this configuration sits on it."""
    loss = criteria.number(figures.get("information_loss"))
    here = f"; here {loss:.1f}" if loss is not None else ""
    return ("The trade-off chart plots each configuration the privacy loop tried: release risk against "
            f"information loss (100 x SSE/SST of the grouping{here}). Coarser settings (a larger k, wider age bands, "
            "coarser geography and dates, stronger PRAM) move a point down and to the right: less risk, more "
            f"information lost. {TRADEOFF_END[state]}")


def explanation_text(content: Mapping[str, Any]) -> str:
    """The plain-language explanation of a verdict or refusal."""
    figures, targets = content.get("figures") or {}, content.get("targets") or {}
    failures = list(content.get("failures") or ())
    refusal = str(content.get("refusal") or "")
    if refusal:
        failures.append(refusal)
    stood = standings(figures, targets, failures)
    state = REFUSED if refusal else FAILING if any(s.missed for s in stood) else RELEASED
    bound = binding(stood)
    parts = ["Generated explanation (rule-based advisor; the rule-based verdict above is authoritative)."]
    if refusal:
        parts.append("Nothing was released: no configuration met every target.")
    if bound is not None:
        parts += [binding_sentence(bound, state), why_sentence(bound)]
        others = [s.label for s in stood if s.missed and s is not bound]
        if others:
            parts.append(f"Also missed: {', '.join(others[:5])}.")
    parts += [risk_sentence(figures, targets), tradeoff_sentence(figures, state)]
    return " ".join(p for p in parts if p)


# --- recommend -------------------------------------------------------------------------------------------------

def failure_kinds(content: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The kinds of the missed targets (by figures and by text) and the attributes the texts name as binding."""
    figures, targets = content.get("figures") or {}, dict(content.get("targets") or {})
    texts = [str(t) for t in content.get("failures") or ()] + ([str(content["refusal"])] if content.get("refusal")
                                                                 else [])
    kinds = [o.kind for o in criteria.missed(figures, targets, ALL_TARGETS)]
    kinds += [k for t in texts if (k := kind_of(t)) is not None]
    attributes = [a for t in texts if (a := attribute_of(t)) is not None]
    return list(dict.fromkeys(kinds)), list(dict.fromkeys(attributes))


def _int(value: Any, default: int) -> int:
    number = criteria.number(value)
    return int(number) if number is not None else default


def age_level_of(configuration: Mapping[str, Any]) -> int:
    """The configuration's age level (``qi_levels.age``; 0 when not stated)."""
    if "age_level" in configuration:
        return _int(configuration["age_level"], 0)
    levels = configuration.get("qi_levels")
    return _int(levels.get("age"), 0) if isinstance(levels, Mapping) else 0


def larger_k(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """Double k."""
    return {"k": 2 * max(_int(configuration.get("k"), DEFAULT_K), 1)}


def coarser_age(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """One age level up, up to the widest band."""
    level = age_level_of(configuration)
    return {"age_level": level + 1} if level < MAX_AGE_LEVEL else {}


def coarser_location(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """One location level up, up to the top."""
    level = _int(configuration.get("location_level"), 0)
    return {"location_level": level + 1} if level < MAX_LOCATION_LEVEL else {}


def coarser_dates(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """One date precision coarser (DATE_ORDER), when the current one is known."""
    current = configuration.get("date_precision")
    if current not in DATE_ORDER or current == DATE_ORDER[-1]:
        return {}
    return {"date_precision": DATE_ORDER[DATE_ORDER.index(current) + 1]}


def stronger_pram(configuration: Mapping[str, Any]) -> dict[str, Any]:
    """A lower PRAM keep probability (never below MIN_PRAM_P)."""
    p = criteria.number(configuration.get("pram_p"))
    if p is None or p <= MIN_PRAM_P:
        return {}
    return {"pram_p": round(max(MIN_PRAM_P, p - STRONGER_PRAM_STEP), 4)}


def range_edges(figures: Mapping[str, Any], attribute: str) -> list[float]:
    """Coarser range edges for a count: every other one of its current cut points (figures
    ``sensitive_cuts.<attribute>.<i>``) when the payload has them, else ``DEFAULT_RANGE_EDGES``."""
    prefix = f"sensitive_cuts.{attribute}."
    cuts = sorted({float(v) for k, v in figures.items() if str(k).startswith(prefix)
                   and criteria.number(v) is not None})
    if len(cuts) >= 2:
        return cuts[::2]
    return list(cuts or DEFAULT_RANGE_EDGES)


def count_attributes(content: Mapping[str, Any], attributes: Iterable[str]) -> list[str]:
    """The named attributes that are person-level sensitive attributes (not event types: those are outcomes)."""
    domain = content.get("domain") or {}
    sensitive, types = set(domain.get("sensitive") or ()), set(domain.get("event_types") or ())
    return [a for a in attributes if a in sensitive and a not in types]


def proposals(content: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The changes for each missed target kind (most protective value per field) and one reason each."""
    config = content.get("configuration") or {}
    figures = content.get("figures") or {}
    kinds, attributes = failure_kinds(content)
    changes: dict[str, Any] = {}
    reasons: list[str] = []
    if set(kinds) & {K_ANONYMITY, POPULATION_RISK, LINKAGE_RISK, RELEASE_RISK, SERIES_RISK, DIFFERENCING}:
        changes |= larger_k(config) | coarser_age(config)
        reasons.append("re-identification risk: larger personas (k doubled) and coarser age bands make each "
                       "published QI combination shared by more people")
    if set(kinds) & {L_DIVERSITY, T_CLOSENESS}:
        counts = count_attributes(content, attributes)
        if counts:
            changes["numeric_ranges"] = {a: range_edges(figures, a) for a in counts}
            reasons.append(f"diversity of {', '.join(counts)}: released as a few ordered ranges (a range "
                           "hierarchy), so a persona's mix is judged by ordered t-closeness over wide ranges")
        else:
            changes |= larger_k(config) if "k" not in changes else {}
            reasons.append("outcome diversity per event type: larger personas hold more distinct outcomes")
        changes |= coarser_location(config)
        reasons.append("coarser geography merges small areas, so personas mix people from more places")
    if SINGLE_OUT in kinds:
        changes |= coarser_location(config) | coarser_dates(config)
        reasons.append("single-out rate: coarser locations and dates make an attacker's known events match more "
                       "personas")
    if ATTACKS in kinds:
        changes |= stronger_pram(config) | (larger_k(config) if "k" not in changes else {})
        reasons.append("independent attacks: stronger PRAM hides more true outcomes, larger personas blur QIs")
    if UTILITY_GATES in kinds:
        reasons.append("utility gates: no configuration change is recommended (more protection only loses more "
                       "utility); review the gates or the data")
    return changes, reasons


def protective(field: str, new: Any, configuration: Mapping[str, Any]) -> bool:
    """Whether a change is in CHANGEABLE and moves its setting towards more protection."""
    if field not in CHANGEABLE:
        return False
    if field == "numeric_ranges":
        return True
    old: Any = age_level_of(configuration) if field == "age_level" else configuration.get(field)
    if field == "date_precision":
        return old in DATE_ORDER and DATE_ORDER.index(new) > DATE_ORDER.index(old)
    old_n = criteria.number(old)
    if old_n is None:
        return field == "k"  # k is raised from DEFAULT_K when the configuration does not state it
    return new < old_n if CHANGEABLE[field] == "lower" else new > old_n


def recommendation(content: Mapping[str, Any]) -> Recommendation:
    """The rule-based recommendation: protective changes in CHANGEABLE order, with the rationale."""
    config = content.get("configuration") or {}
    proposed, reasons = proposals(content)
    changes = tuple(Change(f, proposed[f]) for f in CHANGEABLE if f in proposed and protective(f, proposed[f], config))
    if not reasons:
        reasons = ["no missed target in the payload: nothing to change"]
    elif not changes:
        reasons.append("no setting can be made more protective from the stated configuration")
    return Recommendation(changes, "; ".join(reasons) + ".", GENERATED_BY)


# --- draft a domain ------------------------------------------------------------------------------------------

TYPE_TOKENS = ("event_type", "type", "kind", "category", "event", "class", "encounterclass", "activity", "action")
OUTCOME_TOKENS = ("outcome", "result", "disposition", "status", "resolution", "decision", "verdict", "coverage",
                  "response", "finding", "grade")
END_TOKENS = ("end_date", "end", "stop", "discharge", "discharged", "release", "released", "until", "close", "closed",
              "exit")
START_TOKENS = ("event_date", "event", "start", "begin", "date", "admit", "admission", "arrest", "visit", "on", "at",
                "time")
AGE_TOKENS = ("age",)
BIRTH_TOKENS = ("birth_date", "birth", "dob", "birthdate", "born", "birthday")
QI_TOKENS = {"sex": ("sex", "gender"), "race": ("race", "ethnicity", "ethnic", "ancestry"),
             "zip": ("zip", "zipcode", "zip5", "postcode", "postal", "postalcode", "plz")}
AREA_TOKENS = ("county", "state", "city", "district", "region", "borough", "tract", "municipality")
SENSITIVE_TOKENS = ("diagnosis", "dx", "icd", "condition", "charge", "offense", "offence", "prior", "priors",
                    "income", "salary", "wage", "wages", "earnings", "benefit", "benefits", "disability", "hiv",
                    "score", "count", "severity", "felony", "felonies", "misdemeanor", "drug", "substance")
PLACE_TOKENS = ("location", "place", "site", "facility", "court", "hospital", "school", *QI_TOKENS["zip"],
                *AREA_TOKENS)
VALUE_TOKENS = ("amount", "value", "cost", "bail", "fine", "paid", "price", "charge", "fee", "payment", "total")
MAX_EVENT_TYPES = 30


def _tokens(column: str) -> list[str]:
    return name_tokens(column)


def _has(column: str, words: Iterable[str]) -> bool:
    """Whether a column name has one of the words as a token (or, for words of 6+ letters, inside a token)."""
    tokens = _tokens(column)
    joined = "".join(tokens)
    return any(w in tokens or (len(w) >= 6 and w in joined) for w in words)


def is_identifier(column: str, summary: Mapping[str, Any] | None = None) -> bool:
    """Whether a column is a direct identifier: by its name, or as the payload marked it."""
    return identifier_name(column) or bool((summary or {}).get("identifier"))


def _columns(table: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return dict((table or {}).get("columns") or {})


def _common(summary: Mapping[str, Any]) -> list[str]:
    return [str(v) for v in (summary.get("common_values") or {})]


def _pick(columns: Mapping[str, Mapping[str, Any]], words: Iterable[str], kind: str | None = None,
          taken: Iterable[str] = ()) -> str | None:
    """The column named like the words: one named exactly as the first word, else the first (in table order) whose
    name has one of them; of the kind, not already taken, never an identifier."""
    words, skip = tuple(words), set(taken)
    exact = [n for n in columns if "_".join(_tokens(n)) == words[0]]
    for name, summary in [(n, columns[n]) for n in exact] + list(columns.items()):
        if name in skip or is_identifier(name) or (kind is not None and summary.get("kind") != kind):
            continue
        if _has(name, words):
            return name
    return None


def few_values_column(columns: Mapping[str, Mapping[str, Any]], taken: Iterable[str]) -> str | None:
    """The text column with the fewest (2 to MAX_EVENT_TYPES) common values, not taken, not an identifier and
    not named like a place."""
    skip = set(taken)
    texts = [(len(_common(s)), n) for n, s in columns.items() if s.get("kind") == "text" and n not in skip
             and 2 <= len(_common(s)) <= MAX_EVENT_TYPES and not is_identifier(n, s) and not _has(n, PLACE_TOKENS)]
    return min(texts)[1] if texts else None


@dataclass(frozen=True)
class Roles:
    """What each column of a new data set is for, as the heuristics read its name and summary."""

    person: str | None
    event_type: str | None
    outcome: str | None
    event_date: str | None
    end_date: str | None
    value: str | None
    location: str | None
    qis: Mapping[str, str]  # contract QI -> source column
    sensitive: Mapping[str, str]  # source column -> "categorical" | "numeric"
    identifiers: tuple[str, ...]
    unused: tuple[str, ...]


def event_roles(columns: Mapping[str, Mapping[str, Any]]) -> dict[str, str | None]:
    """The events table's type, outcome, date, value and location columns."""
    out: dict[str, str | None] = {}
    valued = {n: s for n, s in columns.items() if _common(s)}
    out["outcome"] = _pick(valued, OUTCOME_TOKENS, "text")
    out["event_type"] = _pick(valued, TYPE_TOKENS, "text", [c for c in (out["outcome"],) if c])
    if out["event_type"] is None:
        out["event_type"] = few_values_column(columns, [c for c in (out["outcome"],) if c])
    if out["outcome"] is None:
        out["outcome"] = few_values_column(columns, [c for c in (out["event_type"],) if c])
    dates = {n: s for n, s in columns.items() if s.get("kind") == "date" and not _has(n, BIRTH_TOKENS)}
    out["end_date"] = _pick(dates, END_TOKENS)
    starts = [n for n in dates if n != out["end_date"]]
    out["event_date"] = _pick({n: dates[n] for n in starts}, START_TOKENS) or (starts[0] if starts else None)
    taken = [c for c in out.values() if c]
    out["value"] = _pick(columns, VALUE_TOKENS, "number", taken)
    out["location"] = _pick(columns, PLACE_TOKENS, None, taken + [c for c in (out["value"],) if c])
    return out


def people_qis(columns: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Contract QIs found among the people columns: age (or birth date), sex, race, zip, and other areas."""
    qis: dict[str, str] = {}
    age = _pick(columns, AGE_TOKENS) or _pick(columns, BIRTH_TOKENS)
    if age is not None:
        qis["age"] = age
    for qi, words in QI_TOKENS.items():
        found = _pick(columns, words, None, qis.values())
        if found is not None:
            qis[qi] = found
    for name in columns:
        if name not in qis.values() and _has(name, AREA_TOKENS) and not is_identifier(name):
            qis[str(name)] = name
    return qis


def sensitive_columns(columns: Mapping[str, Mapping[str, Any]], taken: Iterable[str]) -> dict[str, str]:
    """Columns that look sensitive: named like a diagnosis, charge, income or count, or a person-level number."""
    skip = set(taken)
    out: dict[str, str] = {}
    for name, summary in columns.items():
        if name in skip or is_identifier(name):
            continue
        numeric = summary.get("kind") == "number"
        if _has(name, SENSITIVE_TOKENS) or numeric:
            out[name] = "numeric" if numeric else "categorical"
    return out


def roles_of(content: Mapping[str, Any]) -> Roles:
    """Every column's role in a new data set (DRAFT_DOMAIN payload content)."""
    people, events = _columns(content.get("people") or {}), _columns(content.get("events") or {})
    person = (content.get("people") or {}).get("person_column") or (content.get("events") or {}).get("person_column")
    ev = event_roles(events)
    qis = people_qis(people)
    identifiers = tuple(dict.fromkeys(n for t in (people, events) for n, s in t.items() if is_identifier(n, s)))
    sensitive = sensitive_columns(people, qis.values())
    sensitive |= {n: k for n, k in sensitive_columns(events, [c for c in ev.values() if c]).items()
                  if k == "categorical"}
    used = {c for c in [*ev.values(), *qis.values(), *sensitive, *identifiers] if c}
    unused = tuple(dict.fromkeys(n for n in [*people, *events] if n not in used))
    return Roles(person, ev["event_type"], ev["outcome"], ev["event_date"], ev["end_date"], ev["value"],
                 ev["location"], qis, sensitive, identifiers, unused)


def event_types_of(content: Mapping[str, Any], roles: Roles) -> dict[str, list[str]]:
    """Each common event type value mapped to the common outcome values (only values enough people share)."""
    events = _columns(content.get("events") or {})
    types = _common(events.get(roles.event_type) or {}) if roles.event_type else []
    outcomes = _common(events.get(roles.outcome) or {}) if roles.outcome else []
    return {t: list(outcomes) for t in types}


def column_mapping(roles: Roles) -> dict[str, str]:
    """Source column -> contract column, for every renamed column (``load_input(column_mapping=...)``)."""
    pairs = {roles.person: "person_id", roles.event_type: "event_type", roles.event_date: "event_date",
             roles.end_date: "end_date", roles.outcome: "outcome", roles.value: "value", roles.location: "location"}
    out = {str(src): dst for src, dst in pairs.items() if src and src != dst}
    for qi, src in roles.qis.items():
        target = "birth_date" if qi == "age" and _has(src, BIRTH_TOKENS) else qi
        if src != target:
            out[src] = target
    return out


def domain_spec(content: Mapping[str, Any], roles: Roles) -> dict[str, Any]:
    """The draft domain as a mapping (the keys ``personatwin.core.domains.domain_from_dict`` reads)."""
    qis = list(roles.qis)
    sensitive: list[Any] = [n if k == "categorical" else {"name": n, "type": "numeric"}
                            for n, k in roles.sensitive.items()]
    return {
        "name": "draft_custom_domain",
        "description": "DRAFT from column names and value summaries; review every line before use.",
        "event_types": event_types_of(content, roles),
        "qis": qis,
        "bias_attributes": [q for q in ("sex", "race") if q in qis],
        "sensitive": sensitive,
        "direct_identifiers": list(dict.fromkeys(normalized_name(c) for c in roles.identifiers)),
        "adverse_outcomes": [],
        "location_qi": "zip" if "zip" in qis else None,
    }


def _dump(key: str, value: Any) -> str:
    """One top-level key as YAML: block style, lists of plain values inline."""
    flow = None if isinstance(value, (Mapping, list)) else False
    return yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, default_flow_style=flow, width=110)


def _comment(lines: Iterable[str]) -> str:
    return "".join(f"# {line}\n" if line else "#\n" for line in lines)


def draft_yaml(content: Mapping[str, Any]) -> str:
    """The draft custom-domain YAML with comments saying how each part was found and what to review."""
    roles = roles_of(content)
    spec = domain_spec(content, roles)
    mapping = column_mapping(roles)
    header = [
        "DRAFT: review every line before use.",
        "Drafted by the rule-based advisor from column names, kinds and the values at least "
        f"{int(content.get('min_people') or 0)} people share (rarer values are not shown to it).",
        f"Person id column: {roles.person or 'not found'}; event type: {roles.event_type or 'not found'}; "
        f"outcome: {roles.outcome or 'not found'}; event date: {roles.event_date or 'not found'}; "
        f"end date: {roles.end_date or 'none'}.",
        "",
        "column_mapping (source column: contract column), for load_input / create_safe_personas:",
        *([f"  {src}: {dst}" for src, dst in mapping.items()] or ["  (none: the columns already have the "
                                                                   "contract's names)"]),
    ]
    if roles.unused:
        header.append("Columns not used (dropped at ingest unless mapped): " + ", ".join(roles.unused))
    body = [
        _dump("name", spec["name"]), _dump("description", spec["description"]),
        _comment(["Every common outcome is listed under every event type (the summary has no type x outcome "
                  "table):", "remove the outcomes a type cannot have."]) + _dump("event_types", spec["event_types"]),
        _comment(["Quasi-identifiers, by contract name (age from an age or birth date column)."])
        + _dump("qis", spec["qis"]) + _dump("bias_attributes", spec["bias_attributes"]),
        _comment(["Sensitive attributes: numbers are declared numeric (released as ordered ranges)."])
        + _dump("sensitive", spec["sensitive"]),
        _comment(["Direct identifiers: dropped at ingest, never released."])
        + _dump("direct_identifiers", spec["direct_identifiers"]),
        _comment(["Outcomes a bias analysis counts as adverse: name them after review."])
        + _dump("adverse_outcomes", spec["adverse_outcomes"]) + _dump("location_qi", spec["location_qi"]),
        _comment(["hierarchies: left to the defaults (age bands 5/10/20 top-coded at 90, zip5 -> zip3 -> zip1,",
                  "sex, race groups); add one for every other QI (interval, prefix, groups or mapping), e.g.",
                  "  hierarchies:", "    county: {type: groups, groups: {north: [A, B], south: [C]}}"]),
    ]
    return _comment(header) + "".join(body)


# --- synthetic sample data -------------------------------------------------------------------------------------

def synthetic_parameters(content: Mapping[str, Any]) -> SyntheticSpec:
    """Event-type and outcome shares from the aggregates where given, uniform over the vocabulary otherwise."""
    domain, aggregates = content.get("domain") or {}, content.get("aggregates") or {}
    vocabulary = {str(t): [str(o) for o in outs] for t, outs in (domain.get("event_types") or {}).items() if outs}
    type_shares, from_data = shares(aggregates.get("event_type_shares"), list(vocabulary))
    given_outcomes = aggregates.get("outcome_shares") or {}
    outcome_shares: dict[str, dict[str, float]] = {}
    for t, outs in vocabulary.items():
        outcome_shares[t], used = shares(given_outcomes.get(t), outs)
        from_data = from_data or used
    per_person = criteria.number(aggregates.get("events_per_person"))
    note = "shares from the published aggregates" if from_data else "uniform over the domain's vocabulary"
    return SyntheticSpec(int(content.get("n_people") or 0), per_person if per_person and per_person > 0 else
                         DEFAULT_EVENTS_PER_PERSON, type_shares, outcome_shares, GENERATED_BY, note)


class RulesAdvisor:
    """The default provider: deterministic, no network; reads only the payload's content."""

    name = GENERATED_BY

    def explain(self, payload: Payload) -> Advice:
        """A plain-language explanation of the verdict or refusal in the payload."""
        content = _check_task(payload, EXPLAIN)
        rule_text = str(content.get("refusal") or "") or str(content.get("verdict") or "")
        return Advice(Explanation(explanation_text(content), rule_text, GENERATED_BY), ())

    def recommend(self, payload: Payload) -> Advice:
        """Protective configuration changes for the missed targets in the payload."""
        return Advice(recommendation(_check_task(payload, RECOMMEND)), ())

    def draft_domain(self, payload: Payload) -> Advice:
        """A draft custom-domain YAML for a person to review."""
        return Advice(draft_yaml(_check_task(payload, DRAFT_DOMAIN)), ())

    def synthetic_spec(self, payload: Payload) -> Advice:
        """The parameters of synthetic sample data for the payload's domain."""
        return Advice(synthetic_parameters(_check_task(payload, SYNTHETIC)), ())
