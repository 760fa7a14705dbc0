"""The advisor's interface: what it is asked (a ``Payload`` of aggregates), what it answers, what is audited.

Every provider (``rules``, ``anthropic``, ``openai``) answers the same four questions: explain a verdict or a
refusal, recommend configuration changes, draft a custom domain, and give the parameters of synthetic sample
data. A provider only ever receives a ``Payload`` built by ``personatwin.advisor.payload`` (allow-listed
aggregates), and every exchange with a remote provider is kept as an ``Exchange`` for the internal report.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

EXPLAIN, RECOMMEND, DRAFT_DOMAIN, SYNTHETIC = "explain", "recommend", "draft_domain", "synthetic_events"
TASKS = (EXPLAIN, RECOMMEND, DRAFT_DOMAIN, SYNTHETIC)

# What a recommendation may change, and in which direction only (never weaker): the engine applies a change
# only if it is at least as protective as the configuration it replaces (``schema.validate_changes``).
DATE_ORDER = ("day", "week", "month", "quarter", "year")
CHANGEABLE = {
    "k": "raise",  # larger equivalence classes
    "age_level": "raise",  # coarser age bands
    "location_level": "raise",  # coarser geography
    "date_precision": "raise",  # coarser dates (DATE_ORDER)
    "pram_p": "lower",  # stronger randomized response
    "l_diversity": "raise",
    "numeric_ranges": "set",  # attribute -> ordered range edges: a range hierarchy for a sensitive count
}


def canonical_json(value: Any) -> str:
    """The one JSON text of a value (sorted keys, no spaces): what is hashed, cached and sent."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True)
class Payload:
    """One question to an advisor: the task and its allow-listed content (JSON-able aggregates only)."""

    task: str
    content: Mapping[str, Any]

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"unknown advisor task {self.task!r}: one of {TASKS}")

    def text(self) -> str:
        return canonical_json({"task": self.task, "content": self.content})

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text().encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Exchange:
    """One request to a provider and its reply, for the audit trail (internal report only, never published)."""

    provider: str
    model: str
    at: str  # UTC, ISO 8601
    task: str
    payload_sha256: str
    payload: str  # the exact JSON sent
    reply: str  # the raw reply text ("" when none came)
    outcome: str  # "used", "cached", or "fallback: <why>" (the rule-based answer was used instead)
    seconds: float = 0.0


@dataclass(frozen=True)
class Explanation:
    """A plain-language explanation of a verdict or refusal, next to the rule-based text it explains."""

    text: str
    rule_text: str
    generated_by: str  # "rules", or "<provider>:<model>" (marked as generated wherever shown)
    note: str = ""  # e.g. why a remote answer was not used


@dataclass(frozen=True)
class Change:
    """One configuration change: a field of ``CHANGEABLE`` and its new value."""

    field: str
    value: Any


@dataclass(frozen=True)
class Recommendation:
    """Configuration changes the engine may try as one more candidate (kept only if every target holds)."""

    changes: tuple[Change, ...]
    rationale: str
    generated_by: str
    note: str = ""
    rejected: tuple[str, ...] = ()  # proposals refused by validation (e.g. a weaker setting), with the reason


@dataclass(frozen=True)
class SyntheticSpec:
    """The parameters of synthetic sample data: from a domain's vocabulary and published aggregates only."""

    n_people: int
    events_per_person: float
    event_type_shares: Mapping[str, float]
    outcome_shares: Mapping[str, Mapping[str, float]]  # event type -> outcome -> share
    generated_by: str
    note: str = ""


@dataclass(frozen=True)
class Advice:
    """What a provider answered in one call, with the exchanges it made (empty for the rule-based provider)."""

    value: Any
    exchanges: tuple[Exchange, ...] = field(default_factory=tuple)


class Advisor(Protocol):
    """A provider: each method takes a payload of its task and returns the answer with its audit trail."""

    name: str

    def explain(self, payload: Payload) -> Advice: ...  # value: Explanation

    def recommend(self, payload: Payload) -> Advice: ...  # value: Recommendation

    def draft_domain(self, payload: Payload) -> Advice: ...  # value: str (domain YAML for a person to review)

    def synthetic_spec(self, payload: Payload) -> Advice: ...  # value: SyntheticSpec
