"""THE EGRESS FUZZ TEST (issue 17 item 3): data with planted unique values (names, ids, rare categories, exact
dates, amounts) goes through every kind of advisor payload, and no planted value ever appears in one.

Each example plants values drawn by Hypothesis into generated people-events data, runs a real release (or a
refusal) on it, and builds every payload ``personatwin.advisor.payload`` makes: a draft-domain payload of the raw
tables (and of the same tables read without their header row), explain and recommend payloads from the release's
figures, policy, failures, verdict or refusal, and a synthetic-data payload from aggregates. Every planted value,
as text and in the usual renderings of dates and numbers, must be absent from each payload's JSON and from the
rule-based advisor's answers to it.
"""

from __future__ import annotations

import io
import json
import os
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import personatwin as pt
from personatwin.advisor.base import Payload
from personatwin.advisor.drafts import published_aggregates
from personatwin.advisor.payload import (
    WITHHELD,
    draft_domain_payload,
    explain_payload,
    recommend_payload,
    synthetic_payload,
)
from personatwin.advisor.rules import RulesAdvisor
from personatwin.core.domains import BUILTIN_DOMAINS, SPEC_DIR, get_domain
from personatwin.ingest.synth import RACES, generate
from personatwin.publish.report import verdict

SCALE = max(1, int(os.environ.get("PERSONATWIN_EXAMPLES_SCALE", "1")))
KEY = "egress-test-key-" + "k" * 16
DIAGNOSES = ("asthma", "diabetes", "hypertension", "none")
CHARGE_CODES = ("theft", "assault", "fraud", "traffic")
SPEC = {**yaml.safe_load((SPEC_DIR / "criminal_justice.yaml").read_text()),
        "sensitive": ["diagnosis", {"name": "prior_offenses", "type": "numeric"}]}
DOMAIN = get_domain(SPEC)
KNOWN = json.dumps([SPEC, RACES, DIAGNOSES, CHARGE_CODES])  # words that are not planted values
ADVISOR = RulesAdvisor()


@dataclass(frozen=True)
class Planted:
    """Values each held by one person (or one event), to be planted into generated data."""

    names: list[str]
    ids: list[str]
    categories: list[str]
    event_dates: list[date]
    birth_dates: list[date]
    amounts: list[float]
    seed: int
    refuse: bool

    def renderings(self) -> list[str]:
        """Every planted value as text, dates and numbers in their usual renderings."""
        out = [*self.names, *self.ids, *self.categories]
        for d in self.event_dates + self.birth_dates:
            out += [d.isoformat(), d.strftime("%Y%m%d"), d.strftime("%m/%d/%Y"), d.strftime("%d.%m.%Y"),
                    d.strftime("%Y/%m/%d")]
        for x in self.amounts:
            out += [repr(x), f"{x:.2f}", f"{x:,.2f}", str(int(x)), f"{x:g}", json.dumps(x)]
        return out


def _unknown(text: str) -> bool:
    return text not in KNOWN


@st.composite
def planted(draw) -> Planted:
    """Hypothesis: a few unique names, ids, rare categories, dates and amounts, and a seed."""
    def unique(strategy, low: int = 2, high: int = 4):
        return draw(st.lists(strategy, min_size=low, max_size=high, unique=True))

    return Planted(
        names=unique(st.from_regex(r"[A-Z][a-z]{3,8} [A-Z][a-z]{4,10}", fullmatch=True).filter(_unknown)),
        ids=unique(st.from_regex(r"[A-Z]{2}[0-9]{6,9}", fullmatch=True)),
        categories=unique(st.from_regex(r"[a-z]{3,6}[0-9]{2}_[a-z]{3,6}", fullmatch=True).filter(_unknown), 3, 6),
        event_dates=unique(st.dates(date(2022, 1, 1), date(2023, 12, 31))),
        birth_dates=unique(st.dates(date(1940, 1, 1), date(2004, 12, 31)), 1, 3),
        amounts=unique(st.integers(10_000_001, 999_999_999).filter(lambda c: c % 10 != 0).map(lambda c: c / 100)),
        seed=draw(st.integers(0, 2**16)),
        refuse=draw(st.booleans()),
    )


def planted_data(p: Planted) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generated court data with identifier columns, a diagnosis, an income and a charge code, and the planted
    values put into single rows: names, person ids, rare categories (diagnosis, race, outcome, charge code),
    exact event and birth dates, amounts (bail values and incomes)."""
    d = generate("criminal_justice", n_people=220, events_per_person=3, start="2022-01-01", end="2023-12-31",
                 seed=p.seed, sensitive_counts={"prior_offenses": 0.4})
    people, events = d.people.copy(), d.events.copy()
    rng = np.random.default_rng(p.seed)
    n, m = len(people), len(events)
    people["full_name"] = [f"Generated{i} Person" for i in range(n)]
    people["ssn"] = [f"9{i:02d}-{i % 97:02d}-{i:04d}" for i in range(n)]
    people["diagnosis"] = np.asarray(DIAGNOSES, dtype=object)[rng.integers(0, len(DIAGNOSES), n)]
    people["monthly_income"] = np.round(rng.lognormal(8, 0.5, n), 2)
    events["charge_code"] = np.asarray(CHARGE_CODES, dtype=object)[rng.integers(0, len(CHARGE_CODES), m)]
    events["case_number"] = [f"CN{i:06d}" for i in range(m)]

    rows = rng.permutation(n)
    names, ids, cats = len(p.names), len(p.ids), len(p.categories)
    people.loc[rows[:names], "full_name"] = p.names
    renamed = dict(zip(people["person_id"].iloc[rows[names:names + ids]], p.ids))
    people["person_id"] = people["person_id"].replace(renamed)
    events["person_id"] = events["person_id"].replace(renamed)
    at = rows[names + ids:names + ids + cats]
    people.loc[at, "diagnosis"] = p.categories
    people.loc[rows[-1], "race"] = p.categories[0]
    people.loc[rows[-len(p.birth_dates):], "birth_date"] = pd.to_datetime(p.birth_dates).to_numpy()
    people.loc[rows[-2:-2 - len(p.amounts):-1], "monthly_income"] = p.amounts
    ev = rng.permutation(m)
    events.loc[ev[:cats], "charge_code"] = p.categories
    events.loc[ev[cats], "outcome"] = p.categories[-1]
    events.loc[ev[cats + 1:cats + 1 + len(p.event_dates)], "event_date"] = pd.to_datetime(p.event_dates).to_numpy()
    events.loc[ev[-len(p.amounts):], "value"] = p.amounts
    return people, events


def headerless(table: pd.DataFrame) -> pd.DataFrame:
    """The table as a CSV file without its header row would be read: named by its first row."""
    buffer = io.StringIO()
    table.to_csv(buffer, header=False, index=False)
    buffer.seek(0)
    return pd.read_csv(buffer, dtype=str)


def release_payloads(people: pd.DataFrame, events: pd.DataFrame, refuse: bool) -> list[Payload]:
    """Explain and recommend payloads from a real release (or refusal) of the data, one per iteration too, and a
    synthetic payload from the release's published aggregates (or, refused, from the raw events' aggregates)."""
    targets = {"target_risk": 0.5, "max_t_closeness": 0.05, "max_iterations": 3} if refuse else {}
    try:
        release = pt.create_safe_personas(people=people, events=events, domain=SPEC, key=KEY,
                                          column_mapping={"case_number": "drop"}, **targets)
    except pt.PersonaTwinError as exc:
        best = getattr(exc, "best", None)
        refusal = exc.refusal.text() if getattr(exc, "refusal", None) is not None else str(exc)
        figures = best.figures() if best is not None else {}
        policy = best.policy.parameters() if best is not None else {}
        failures = list(best.failures()) if best is not None else []
        history = getattr(exc, "history", ())
        return [explain_payload(figures, policy, failures + [str(exc)], "", DOMAIN, refusal),
                recommend_payload(figures, policy, failures, DOMAIN, refusal),
                *[recommend_payload(it.risk | it.utility, it.parameters, list(it.failures), DOMAIN)
                  for it in history],
                synthetic_payload(DOMAIN, published_aggregates(events, len(people)), "2024-06", 100)]
    metrics, policy = release.metrics(), release.policy.parameters()
    v = verdict(metrics, policy)
    text = f"{v.code}: " + " ".join(v.problems + v.reasons)
    n_people = int(release.personas.to_dataframe()["size"].sum())
    return [explain_payload(metrics, policy, [], text, DOMAIN),
            recommend_payload(metrics, policy, [], DOMAIN),
            *[explain_payload(it.risk | it.utility, it.parameters, list(it.failures), "", DOMAIN)
              for it in release.history],
            synthetic_payload(DOMAIN, published_aggregates(release.events, n_people), "2024-06", 100),
            synthetic_payload(DOMAIN, published_aggregates(events, len(people)), "2024-06", 100)]


def answers(payload: Payload) -> str:
    """The rule-based advisor's answer to a payload, as text."""
    method = {"explain": ADVISOR.explain, "recommend": ADVISOR.recommend, "draft_domain": ADVISOR.draft_domain,
              "synthetic_events": ADVISOR.synthetic_spec}[payload.task]
    return repr(method(payload).value)


def assert_nothing_planted(payloads: list[Payload], values: list[str]) -> None:
    for payload in payloads:
        text, reply = payload.text(), answers(payload)
        leaked = [v for v in values if v in text or v in reply]
        assert not leaked, f"{payload.task} payload holds planted values {leaked}"


@settings(max_examples=8 * SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(p=planted())
def test_no_planted_value_ever_appears_in_a_payload(p: Planted):
    people, events = planted_data(p)
    raw = people.to_csv() + events.to_csv()
    assert all(v in raw for v in p.names + p.ids + p.categories + [d.isoformat() for d in p.event_dates])
    assert people["monthly_income"].isin(p.amounts).sum() == events["value"].isin(p.amounts).sum() == len(p.amounts)
    tables = [draft_domain_payload(people, events, "person_id", BUILTIN_DOMAINS),
              draft_domain_payload(headerless(people), headerless(events), None, BUILTIN_DOMAINS),
              draft_domain_payload(people, events, None, BUILTIN_DOMAINS, min_people=2),
              draft_domain_payload(people, events.drop(columns="person_id"), None, BUILTIN_DOMAINS, min_people=2)]
    values = p.renderings() + list(people["ssn"]) + list(events["case_number"]) + list(people["person_id"])
    assert_nothing_planted(tables, values)  # even at a threshold of 2 people, and with the join key guessed
    assert_nothing_planted(release_payloads(people, events, p.refuse), values)


def test_a_refusal_that_quotes_a_rare_value_has_it_withheld():
    """The leak this test found: a refusal names the most common value of the binding attribute ("0% of people
    share the value 'X' of diagnosis"), which is one person's value when every value is unique. Payloads now keep
    a quoted literal only when it is a word of the domain or of the policy."""
    d = generate("criminal_justice", n_people=200, events_per_person=3, seed=3)
    people = d.people.assign(diagnosis=[f"UNIQ{i:05d}X" for i in range(len(d.people))])
    spec = {**SPEC, "sensitive": ["diagnosis"]}
    with pytest.raises(pt.PrivacyTargetError) as caught:
        pt.create_safe_personas(people=people, events=d.events, domain=spec, key=KEY, max_iterations=3,
                                target_risk=0.5, max_t_closeness=0.5, preserve_for_analysis=[])
    refusal = caught.value.refusal.text()
    assert "UNIQ00000X" in refusal  # the engine's own message (it stays with the data steward)
    domain = get_domain(spec)
    for payload in (explain_payload({}, {}, [str(caught.value)], "", domain, refusal),
                    recommend_payload({}, {}, [str(caught.value)], domain, refusal)):
        assert "UNIQ" not in payload.text() and WITHHELD in payload.text()
        assert "diagnosis" in payload.content["refusal"]  # the attribute (a column name) is kept
