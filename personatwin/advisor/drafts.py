"""The user-facing helpers of issue 17 item 2: draft a custom domain, make synthetic sample data.

Both build their question with ``personatwin.advisor.payload`` (the only way data reaches an advisor), ask the
advisor (the rule-based one unless another is given) and return its answer:

    yaml_text = draft_domain(people, events, "person_id")          # a draft for a person to review
    people, events = synthetic_sample("custom.yaml", published_aggregates(release.events, n), "2024-06", 500)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from personatwin.advisor.base import Advisor, SyntheticSpec
from personatwin.advisor.payload import MIN_PEOPLE, draft_domain_payload, synthetic_payload
from personatwin.advisor.rules import RulesAdvisor
from personatwin.advisor.synthetic import synthetic_events
from personatwin.core import schema
from personatwin.core.domains import BUILTIN_DOMAINS, Domain, get_domain

SHARE_DIGITS = 4


def draft_domain(people: pd.DataFrame, events: pd.DataFrame, person_column: str | None = schema.PERSON_ID,
                 advisor: Advisor | None = None, *, min_people: int = MIN_PEOPLE) -> str:
    """A draft custom-domain YAML for a new data set, from column summaries only (values at least ``min_people``
    people share); review every line before use."""
    payload = draft_domain_payload(people, events, person_column, BUILTIN_DOMAINS, min_people)
    return str((advisor or RulesAdvisor()).draft_domain(payload).value)


def published_aggregates(events: pd.DataFrame, n_people: int | None = None) -> dict[str, Any]:
    """Event-type shares, outcome shares per type and events per person of PUBLISHED events (a release's events
    table, outcomes as released), rounded: what ``synthetic_sample`` may be given."""
    types = events[schema.EVENT_TYPE].astype("string")
    type_counts = types.value_counts(sort=False)
    total = int(type_counts.sum())
    pairs = pd.DataFrame({"t": types, "o": events[schema.OUTCOME].astype("string")}).value_counts(sort=False)
    outcome_shares: dict[str, dict[str, float]] = {}
    for (t, o), n in sorted(pairs.items()):
        outcome_shares.setdefault(str(t), {})[str(o)] = round(int(n) / int(type_counts[t]), SHARE_DIGITS)
    out: dict[str, Any] = {
        "event_type_shares": {str(t): round(int(n) / total, SHARE_DIGITS) for t, n in sorted(type_counts.items())
                              if total},
        "outcome_shares": outcome_shares,
    }
    if n_people:
        out["events_per_person"] = round(total / int(n_people), 2)
    return out


def synthetic_spec(domain: Domain, aggregates: Mapping[str, Any], period: str, n_people: int,
                   advisor: Advisor | None = None) -> SyntheticSpec:
    """The advisor's parameters for synthetic data of a domain (vocabulary and published aggregates only)."""
    payload = synthetic_payload(domain, aggregates, period, n_people)
    spec = (advisor or RulesAdvisor()).synthetic_spec(payload).value
    if not isinstance(spec, SyntheticSpec):
        raise TypeError(f"the advisor answered {type(spec).__name__}, not a SyntheticSpec")
    return replace(spec, n_people=int(n_people))  # the number asked for, whatever the advisor said


def synthetic_sample(domain: str | Domain | Mapping | Path, aggregates: Mapping[str, Any] | None, period: str,
                     n_people: int, advisor: Advisor | None = None, seed: int = 0,
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Synthetic (people, events) for a (custom) domain: from its vocabulary and published aggregates only, every
    row flagged ``synthetic``, dated inside ``period`` and validated against the domain."""
    dom = get_domain(domain)
    spec = synthetic_spec(dom, aggregates or {}, period, n_people, advisor)
    return synthetic_events(dom, spec, period, seed)
