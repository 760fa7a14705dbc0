"""The SDK advisors (Anthropic Messages, OpenAI Chat Completions) against a local stub of each API.

No network: every request goes to ``StubServer`` on 127.0.0.1. For both providers: a reply is used and marked
generated, with the exchange (payload, hash, reply) kept; malformed or off-schema JSON, an HTTP error and a
timeout give the rule-based answer with a note; 429 / 500 are retried by the SDK with backoff; a proposal to
weaken a target is rejected; the cache answers a rerun without a request; the API key is only ever in the
Authorization header. Also: the environment settings, and ``validate_changes`` (with Hypothesis).
"""

from __future__ import annotations

import json
import logging
import socket
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from personatwin.advisor.base import CHANGEABLE, DATE_ORDER, Change, Explanation, Recommendation, SyntheticSpec
from personatwin.advisor.config import (
    AdvisorConfig,
    AdvisorConfigError,
    AdvisorUnavailableError,
    advisor_from_env,
    get_advisor,
)
from personatwin.advisor.llm import AnthropicAdvisor, OpenAIAdvisor, system_prompt
from personatwin.advisor.payload import draft_domain_payload, explain_payload, recommend_payload, synthetic_payload
from personatwin.advisor.rules import RulesAdvisor
from personatwin.advisor.schema import parse_reply, prompt_schema, validate_changes
from personatwin.core.domains import get_domain
from tests.advisor.stub_server import ANTHROPIC_PATH, OPENAI_PATH, BrokenBody, Delay, Reply, Status, StubServer

KEY = "sk-stub-4f1d9c2e-never-in-an-exchange"
MODEL = "stub-model-1"
DOMAIN = get_domain("criminal_justice")
POLICY = {"k": 10, "target_risk": 0.09, "max_t_closeness": 0.8, "small_cell_people": 11, "l_diversity": 1,
          "date_precision": "month", "location_level": 1, "qi_levels": {"age": 1}, "pram_p": 0.9, "level": "high"}
FAILURES = ["linkage risk 0.12 is above the target 0.09"]
EXPLAIN = explain_payload({"linkage_risk": 0.12, "information_loss": 31.5}, POLICY, FAILURES,
                          "refused: linkage risk 0.12 above 0.09", DOMAIN)
OTHER_EXPLAIN = explain_payload({"linkage_risk": 0.3}, POLICY, FAILURES, "refused", DOMAIN)
RECOMMEND = recommend_payload({"linkage_risk": 0.12}, POLICY, FAILURES, DOMAIN)
WEAKEN = {"changes": [{"field": "target_risk", "value": 0.2}, {"field": "k", "value": 2},
                      {"field": "skip_anonymeter", "value": True}, {"field": "k", "value": 20}],
          "rationale": "Relax the target and raise k."}


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server


@pytest.fixture(params=["anthropic", "openai"])
def provider(request) -> str:
    return request.param


def advisor(provider: str, stub: StubServer, **settings):
    """The provider's SDK advisor aimed at the stub, the key in a private environment."""
    base = stub.url if provider == "anthropic" else stub.openai_base_url
    options = {"timeout_seconds": 5.0, "max_retries": 2, **settings}
    config = AdvisorConfig(provider=provider, model=MODEL, base_url=base, **options)
    return get_advisor(config, environ={config.api_key_env: KEY})


def path_of(provider: str) -> str:
    return ANTHROPIC_PATH if provider == "anthropic" else OPENAI_PATH


def sent_messages(provider: str, body: dict) -> tuple[str, str]:
    """The system text and the user message of a request body."""
    if provider == "anthropic":
        assert [m["role"] for m in body["messages"]] == ["user"]
        return body["system"], body["messages"][0]["content"]
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    return body["messages"][0]["content"], body["messages"][1]["content"]


# --- success ---------------------------------------------------------------------------------------

def test_a_reply_is_used_marked_generated_and_audited(provider, stub):
    """The explanation is the provider's, marked ``provider:model``, next to the rule text; the exchange holds
    the payload sent, its hash and the raw reply; the request is the fixed system text and exactly the payload."""
    reply = json.dumps({"text": "The release was refused: one person in eight could be re-identified."})
    stub.script(Reply(reply))
    advice = advisor(provider, stub).explain(EXPLAIN)
    value = advice.value
    assert isinstance(value, Explanation)
    assert value.text == "The release was refused: one person in eight could be re-identified."
    assert value.generated_by == f"{provider}:{MODEL}" and value.note == ""
    assert value.rule_text == RulesAdvisor().explain(EXPLAIN).value.rule_text
    (exchange,) = advice.exchanges
    assert (exchange.provider, exchange.model, exchange.task, exchange.outcome) == (provider, MODEL, "explain", "used")
    assert exchange.payload == EXPLAIN.text() and exchange.payload_sha256 == EXPLAIN.sha256
    assert exchange.reply == reply and exchange.at.endswith("+00:00") and exchange.seconds >= 0
    (request,) = stub.requests
    assert request.path == path_of(provider) and request.body["model"] == MODEL
    system, user = sent_messages(provider, request.body)
    assert user == EXPLAIN.text()
    assert system == system_prompt("explain") and json.dumps(prompt_schema("explain"), sort_keys=True,
                                                               separators=(",", ":")) in system


def test_sampling_temperature_0_for_openai_none_for_anthropic(provider, stub):
    """OpenAI is asked for temperature 0 and JSON mode; Anthropic's API version 2026-10-21 (SDK 2) has no
    sampling parameters and refuses them with HTTP 400, so none is sent (the cache makes reruns reproducible)."""
    stub.script(Reply(json.dumps({"text": "ok"})))
    advisor(provider, stub).explain(EXPLAIN)
    body = stub.requests[0].body
    if provider == "openai":
        assert body["temperature"] == 0 and body["response_format"] == {"type": "json_object"}
        assert body["max_completion_tokens"] == 4096
    else:
        assert not {"temperature", "top_p", "top_k"} & set(body) and body["max_tokens"] == 4096
        assert stub.requests[0].headers["anthropic-version"] == "2026-10-21"
    assert set(body) <= {"model", "messages", "system", "max_tokens", "temperature", "max_completion_tokens",
                         "response_format"}


def test_a_fenced_json_reply_is_read(provider, stub):
    """A reply wrapped in one Markdown code fence is still the JSON object."""
    stub.script(Reply('```json\n{"text": "fenced"}\n```'))
    assert advisor(provider, stub).explain(EXPLAIN).value.text == "fenced"


# --- fallbacks -------------------------------------------------------------------------------------

def assert_fallback(advice, provider: str, why: str, rules_value) -> None:
    """The rule-based answer with the note, and the exchange marked ``fallback: <why>``."""
    note = f"{provider}:{MODEL} {why}; the rule-based answer is used"
    assert advice.value == replace(rules_value, note=note), advice.value
    assert advice.value.generated_by == "rules"
    (exchange,) = advice.exchanges
    assert exchange.outcome == f"fallback: {why}"
    assert exchange.payload == EXPLAIN.text() and exchange.payload_sha256 == EXPLAIN.sha256


def test_malformed_json_gives_the_rule_based_answer_with_a_note(provider, stub):
    stub.script(Reply('{"text": "unfinished'))
    advice = advisor(provider, stub).explain(EXPLAIN)
    assert_fallback(advice, provider, "replied malformed JSON", RulesAdvisor().explain(EXPLAIN).value)
    assert advice.exchanges[0].reply == '{"text": "unfinished'
    assert len(stub.requests) == 1  # a reply is not retried


@pytest.mark.parametrize("reply, why", [
    ('{"answer": "no text key"}', "replied off-schema JSON ($ has no 'text')"),
    ('["text"]', "replied off-schema JSON (not one JSON object)"),
    ('{"text": ""}', "replied off-schema JSON ($.text is empty)"),
    ('{"text": NaN}', "replied malformed JSON"),
])
def test_off_schema_json_gives_the_rule_based_answer(provider, stub, reply, why):
    stub.script(Reply(reply))
    assert_fallback(advisor(provider, stub).explain(EXPLAIN), provider, why, RulesAdvisor().explain(EXPLAIN).value)


def test_a_body_that_is_not_json_gives_the_rule_based_answer(provider, stub):
    """A broken HTTP body (a proxy's HTML page) is no answer either."""
    stub.script(BrokenBody())
    advice = advisor(provider, stub).explain(EXPLAIN)
    assert advice.value.generated_by == "rules" and advice.exchanges[0].outcome.startswith("fallback: ")


def test_a_cut_reply_is_not_used(provider, stub):
    stop = {"anthropic": "max_tokens", "openai": "length"}[provider]
    stub.script(Reply('{"text": "cut', stop=stop))
    advice = advisor(provider, stub).explain(EXPLAIN)
    assert advice.value.generated_by == "rules" and "before the reply was complete" in advice.value.note
    assert advice.exchanges[0].reply == '{"text": "cut'


@pytest.mark.parametrize("code", [429, 500, 503])
def test_429_or_5xx_then_success_is_retried_once_with_backoff(provider, stub, code):
    """The SDK retries (retry-after 0: its own exponential backoff, about half a second) and the answer is used."""
    stub.script(Status(code), Reply(json.dumps({"text": "after a retry"})))
    advice = advisor(provider, stub).explain(EXPLAIN)
    assert advice.value.text == "after a retry" and advice.exchanges[0].outcome == "used"
    assert len(stub.requests) == 2
    assert [r.headers["x-stainless-retry-count"] for r in stub.requests] == ["0", "1"]
    assert stub.requests[1].at - stub.requests[0].at >= 0.3  # backoff, not an immediate retry
    assert stub.requests[0].body == stub.requests[1].body


def test_errors_past_the_retries_give_the_rule_based_answer(provider, stub):
    stub.script(Status(500), Status(500))
    advice = advisor(provider, stub, max_retries=1).explain(EXPLAIN)
    assert_fallback(advice, provider, "answered HTTP 500", RulesAdvisor().explain(EXPLAIN).value)
    assert len(stub.requests) == 2


def test_a_client_error_is_not_retried(provider, stub):
    stub.script(Status(400, {}))
    advice = advisor(provider, stub).explain(EXPLAIN)
    assert advice.value.note.startswith(f"{provider}:{MODEL} answered HTTP 400;") and len(stub.requests) == 1


def test_a_timeout_gives_the_rule_based_answer_with_a_note(provider, stub):
    """A reply slower than the client's timeout (1 s): the rule-based answer, without waiting for the reply."""
    stub.script(Delay(4))
    start = time.monotonic()
    advice = advisor(provider, stub, timeout_seconds=1.0, max_retries=0).explain(EXPLAIN)
    assert time.monotonic() - start < 3
    assert_fallback(advice, provider, "timed out (1 s per attempt, 0 retries)", RulesAdvisor().explain(EXPLAIN).value)
    assert advice.exchanges[0].reply == ""


def test_a_timeout_is_retried_by_the_sdk(provider, stub):
    stub.script(Delay(4), Reply(json.dumps({"text": "second try"})))
    advice = advisor(provider, stub, timeout_seconds=1.0, max_retries=1).explain(EXPLAIN)
    assert advice.value.text == "second try" and len(stub.requests) == 2


def test_an_unreachable_server_gives_the_rule_based_answer(provider):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}" + ("/v1" if provider == "openai" else "")
    config = AdvisorConfig(provider, MODEL, base_url=base, timeout_seconds=2, max_retries=0)
    advice = get_advisor(config, environ={config.api_key_env: KEY}).explain(EXPLAIN)
    assert advice.value.note == f"{provider}:{MODEL} could not be reached at {base}; the rule-based answer is used"


# --- recommendations -------------------------------------------------------------------------------

def test_a_proposal_to_weaken_a_target_is_rejected(provider, stub):
    """target_risk, a lower k and skipping a check are rejected with the reason; k = 20 (from 10) is kept."""
    stub.script(Reply(json.dumps(WEAKEN)))
    advice = advisor(provider, stub).recommend(RECOMMEND)
    value = advice.value
    assert isinstance(value, Recommendation) and value.generated_by == f"{provider}:{MODEL}"
    assert value.changes == (Change("k", 20),)
    assert len(value.rejected) == 3 and all(r.startswith("would weaken") for r in value.rejected)
    assert "'target_risk'" in value.rejected[0] and "k: 2 is below the current 10" in value.rejected[1]
    assert "'skip_anonymeter'" in value.rejected[2]
    assert value.note == "3 proposed change(s) rejected" and advice.exchanges[0].outcome == "used"
    system, _ = sent_messages(provider, stub.requests[0].body)
    assert "targets may never be lowered" in system


def test_only_weakening_proposals_give_the_rule_based_recommendation(provider, stub):
    reply = {"changes": [{"field": "target_risk", "value": 0.5}, {"field": "pram_p", "value": 1.0}],
             "rationale": "Accept more risk."}
    stub.script(Reply(json.dumps(reply)))
    advice = advisor(provider, stub).recommend(RECOMMEND)
    rules = RulesAdvisor().recommend(RECOMMEND).value
    assert advice.value.generated_by == "rules" and advice.value.changes == rules.changes
    assert len(advice.value.rejected) == len(rules.rejected) + 2
    assert advice.value.note.endswith(
        f"{provider}:{MODEL} proposed no change that passes validation (2 rejected); the rule-based answer is used")
    assert advice.exchanges[0].outcome == "fallback: proposed no change that passes validation (2 rejected)"


# --- draft domain and synthetic parameters ----------------------------------------------------------

def draft_payload():
    import pandas as pd

    people = pd.DataFrame({"pid": range(60), "sex": ["F", "M"] * 30})
    events = pd.DataFrame({"pid": list(range(60)) * 2, "kind": ["visit"] * 120, "result": ["seen", "sent"] * 60})
    return draft_domain_payload(people, events, "pid", ["healthcare"])


def test_a_drafted_domain_is_used_if_it_loads(provider, stub):
    draft = "name: clinic\nevent_types:\n  visit: [seen, sent]\nqis: [sex]\nsensitive: []\n"
    stub.script(Reply(json.dumps({"yaml": draft})), Reply(json.dumps({"yaml": "name: x\nevent_type: [a]\n"})))
    helper = advisor(provider, stub)
    payload = draft_payload()
    text = helper.draft_domain(payload).value
    assert text.startswith(f"# generated by {provider}:{MODEL} from aggregates") and draft.strip() in text
    other = replace(payload, content={**payload.content, "min_people": 12})  # another payload: no cache hit
    advice = helper.draft_domain(other)
    assert advice.value.startswith(f"# note: {provider}:{MODEL} drafted a domain that does not load")
    assert advice.value.endswith(RulesAdvisor().draft_domain(other).value)


def test_synthetic_parameters_in_the_domains_vocabulary(provider, stub):
    payload = synthetic_payload(DOMAIN, {"event_type_shares": {"arrest": 0.6, "charge": 0.4}}, "2026-11", 500)
    good = {"n_people": 900, "events_per_person": 3.5, "event_type_shares": {"arrest": 0.62, "charge": 0.4},
            "outcome_shares": {"arrest": {"booked": 0.5, "cited": 0.5}}}
    bad = {**good, "event_type_shares": {"arrest": 0.5, "jaywalking": 0.5}}
    stub.script(Reply(json.dumps(good)), Reply(json.dumps(bad)))
    helper = advisor(provider, stub)
    spec = helper.synthetic_spec(payload).value
    assert isinstance(spec, SyntheticSpec) and spec.generated_by == f"{provider}:{MODEL}"
    assert spec.n_people == 500  # the size asked for, not the model's
    assert spec.event_type_shares == {"arrest": pytest.approx(0.607843), "charge": pytest.approx(0.392157)}
    other = synthetic_payload(DOMAIN, {}, "2026-12", 500)
    fallback = helper.synthetic_spec(other).value
    assert fallback.generated_by == "rules" and "named event types outside the domain: jaywalking" in fallback.note


# --- cache -----------------------------------------------------------------------------------------

def test_a_second_identical_call_is_answered_from_the_cache(provider, stub):
    stub.script(Reply(json.dumps({"text": "once"})))
    helper = advisor(provider, stub)
    first, second = helper.explain(EXPLAIN), helper.explain(EXPLAIN)
    assert len(stub.requests) == 1
    assert first.value == second.value and second.exchanges[0].outcome == "cached"
    assert second.exchanges[0].reply == first.exchanges[0].reply
    assert second.exchanges[0].payload_sha256 == EXPLAIN.sha256


def test_the_cache_folder_makes_a_rerun_reproducible(provider, stub, tmp_path):
    """A new process (a new advisor) with the same cache folder gets the same answer without a request; another
    model does not share it; malformed replies are not cached."""
    stub.script(Reply("not json"), Reply(json.dumps({"text": "kept"})))
    assert advisor(provider, stub, cache_dir=tmp_path).explain(EXPLAIN).value.generated_by == "rules"
    assert advisor(provider, stub, cache_dir=tmp_path).explain(EXPLAIN).value.text == "kept"
    (entry,) = tmp_path.glob("*.json")
    assert entry.name == f"{provider}-{MODEL}-{EXPLAIN.sha256}.json"
    rerun = advisor(provider, stub, cache_dir=tmp_path).explain(EXPLAIN)
    assert rerun.value.text == "kept" and rerun.exchanges[0].outcome == "cached" and len(stub.requests) == 2
    stub.script(Reply(json.dumps({"text": "other model"})))
    other = replace(advisor(provider, stub, cache_dir=tmp_path).config, model="stub-model-2")
    assert get_advisor(other, environ={other.api_key_env: KEY}).explain(EXPLAIN).value.text == "other model"
    assert len(stub.requests) == 3


# --- the API key -----------------------------------------------------------------------------------

def test_the_api_key_is_only_in_the_authorization_header(provider, stub, tmp_path, caplog):
    """Not in a request body, an exchange, a note, a value, a cache file or any log line (the SDKs' debug
    logs included); the configuration holds the variable's name only."""
    caplog.set_level(logging.DEBUG)
    stub.script(Reply(json.dumps({"text": "fine"})), Reply("broken"), Status(429), Reply(json.dumps(WEAKEN)))
    helper = advisor(provider, stub, cache_dir=tmp_path)
    answers = [helper.explain(EXPLAIN), helper.explain(EXPLAIN), helper.recommend(RECOMMEND)]
    answers.append(helper.explain(OTHER_EXPLAIN))
    assert KEY not in repr(answers) and KEY not in caplog.text and KEY not in repr(helper.config)
    assert helper.config.api_key_env == ("ANTHROPIC_API_KEY" if provider == "anthropic" else "OPENAI_API_KEY")
    assert all(KEY not in f.read_text() for f in tmp_path.iterdir())
    assert stub.requests
    for request in stub.requests:
        assert KEY not in request.raw
        assert [k for k, v in request.headers.items() if KEY in v] == ["authorization"]
        assert request.headers["authorization"] == f"Bearer {KEY}"


def test_the_key_is_read_at_each_request(provider, stub):
    """Set after the advisor was made, the key is used; removed, the call falls back without a request."""
    base = stub.url if provider == "anthropic" else stub.openai_base_url
    config = AdvisorConfig(provider, MODEL, api_key_env="MY_LLM_KEY", base_url=base, max_retries=0)
    environ = {"MY_LLM_KEY": "first"}
    helper = get_advisor(config, environ=environ)
    environ["MY_LLM_KEY"] = KEY
    stub.script(Reply(json.dumps({"text": "yes"})))
    assert helper.explain(EXPLAIN).value.text == "yes"
    assert stub.requests[0].headers["authorization"] == f"Bearer {KEY}"
    del environ["MY_LLM_KEY"]
    advice = helper.explain(OTHER_EXPLAIN)
    assert advice.value.note.startswith(f"{provider}:{MODEL} has no API key (MY_LLM_KEY is not set)")
    assert len(stub.requests) == 1



def test_a_payload_outside_the_allow_list_is_never_sent(provider, stub):
    from personatwin.advisor.base import Payload

    leaky = Payload("explain", {**EXPLAIN.content, "rows": [{"name": "Jane Doe"}]})
    with pytest.raises(ValueError, match="outside its allow-list"):
        advisor(provider, stub).explain(leaky)
    with pytest.raises(ValueError, match="takes a 'recommend' payload"):
        advisor(provider, stub).recommend(EXPLAIN)
    assert stub.requests == []


# --- settings from the environment -----------------------------------------------------------------

def test_rules_is_the_default_advisor():
    assert isinstance(advisor_from_env({}), RulesAdvisor)
    assert isinstance(get_advisor("rules", environ={"PERSONATWIN_ADVISOR": "openai"}), RulesAdvisor)
    own = RulesAdvisor()
    assert get_advisor(own) is own


def test_a_remote_advisor_from_the_environment(tmp_path):
    env = {"PERSONATWIN_ADVISOR": "openai", "PERSONATWIN_ADVISOR_MODEL": "gpt-x", "OPENAI_API_KEY": KEY,
           "PERSONATWIN_ADVISOR_BASE_URL": "http://127.0.0.1:9/v1", "PERSONATWIN_ADVISOR_TIMEOUT": "12.5",
           "PERSONATWIN_ADVISOR_MAX_RETRIES": "4", "PERSONATWIN_ADVISOR_CACHE": str(tmp_path)}
    helper = advisor_from_env(env)
    assert isinstance(helper, OpenAIAdvisor)
    assert helper.config == AdvisorConfig("openai", "gpt-x", "OPENAI_API_KEY", "http://127.0.0.1:9/v1", 12.5, 4,
                                          Path(tmp_path))
    anthropic = get_advisor("anthropic", environ={"PERSONATWIN_ADVISOR_MODEL": "claude-x", "OTHER_KEY": KEY,
                                                  "PERSONATWIN_ADVISOR_API_KEY_ENV": "OTHER_KEY"})
    assert isinstance(anthropic, AnthropicAdvisor)
    assert anthropic.config.base_url == "https://api.anthropic.com" and anthropic.config.timeout_seconds == 30
    assert anthropic.config.api_key_env == "OTHER_KEY" and anthropic.config.label == "anthropic:claude-x"


@pytest.mark.parametrize("env, message", [
    ({"PERSONATWIN_ADVISOR": "anthropic", "ANTHROPIC_API_KEY": KEY}, "needs PERSONATWIN_ADVISOR_MODEL"),
    ({"PERSONATWIN_ADVISOR": "gemini"}, "PERSONATWIN_ADVISOR must be one of rules, anthropic, openai"),
    ({"PERSONATWIN_ADVISOR": "openai", "PERSONATWIN_ADVISOR_MODEL": "m"}, "reads its API key from OPENAI_API_KEY"),
    ({"PERSONATWIN_ADVISOR": "openai", "PERSONATWIN_ADVISOR_MODEL": "m", "OPENAI_API_KEY": KEY,
      "PERSONATWIN_ADVISOR_TIMEOUT": "soon"}, "PERSONATWIN_ADVISOR_TIMEOUT must be a number of seconds > 0"),
    ({"PERSONATWIN_ADVISOR": "openai", "PERSONATWIN_ADVISOR_MODEL": "m", "OPENAI_API_KEY": KEY,
      "PERSONATWIN_ADVISOR_MAX_RETRIES": "-1"}, "PERSONATWIN_ADVISOR_MAX_RETRIES must be a whole number >= 0"),
])
def test_bad_settings_name_the_variable(env, message):
    with pytest.raises(AdvisorConfigError, match=message) as err:
        advisor_from_env(env)
    assert KEY not in str(err.value)


def test_bad_advisor_arguments():
    with pytest.raises(AdvisorConfigError, match="got 'gpt'"):
        get_advisor("gpt")
    with pytest.raises(AdvisorConfigError, match="is not an advisor: it has no"):
        get_advisor(object())  # type: ignore[arg-type]


def test_a_missing_sdk_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "anthropic", None)  # import anthropic -> ImportError
    config = AdvisorConfig("anthropic", MODEL)
    with pytest.raises(AdvisorUnavailableError, match=r"pip install 'personatwin\[llm\]'"):
        get_advisor(config, environ={"ANTHROPIC_API_KEY": KEY})


# --- validate_changes ------------------------------------------------------------------------------

CONFIG = {"k": 10, "date_precision": "month", "location_level": 1, "qi_levels": {"age": 1}, "pram_p": 0.9,
          "l_diversity": 2}


@pytest.mark.parametrize("field, value", [
    ("k", 20), ("k", 11.0), ("age_level", 2), ("location_level", 3), ("l_diversity", 3),
    ("date_precision", "quarter"), ("date_precision", "year"), ("pram_p", 0.8), ("pram_p", 0.51),
    ("numeric_ranges", {"prior_offences": [1, 3, 10]}),
])
def test_a_more_protective_change_is_accepted(field, value):
    accepted, rejected = validate_changes([{"field": field, "value": value}], CONFIG)
    assert rejected == () and len(accepted) == 1 and accepted[0].field == field


@pytest.mark.parametrize("field, value, reason", [
    ("k", 2, "would weaken k: 2 is below the current 10"),
    ("age_level", 0, "would weaken age_level: 0 is below the current 1"),
    ("location_level", 0, "would weaken location_level"),
    ("l_diversity", 1, "would weaken l_diversity"),
    ("date_precision", "week", "would weaken date_precision: week is finer than the current month"),
    ("pram_p", 0.95, "would weaken pram_p: 0.95 keeps more true values than the current 0.9"),
    ("target_risk", 0.2, "would weaken the release's protection: 'target_risk' is not a setting"),
    ("max_t_closeness", 1.0, "would weaken the release's protection: 'max_t_closeness'"),
    ("small_cell_people", 5, "would weaken the release's protection: 'small_cell_people'"),
    ("anonymeter_max_risk", None, "would weaken the release's protection: 'anonymeter_max_risk'"),
    ("skip_checks", True, "targets and checks are never changed or skipped"),
    ("k", 10, "k is already 10: no change"),
    ("k", True, "k must be a whole number of at least 2"),
    ("k", 12.5, "k must be a whole number of at least 2"),
    ("pram_p", 0.5, "pram_p must be a number in (0.5, 1]"),
    ("pram_p", 0.4, "pram_p must be a number in (0.5, 1]"),
    ("date_precision", "decade", "date_precision must be one of day, week, month, quarter, year"),
    ("numeric_ranges", {"prior": [3, 1]}, "must be strictly increasing numbers"),
    ("numeric_ranges", {"prior": []}, "must be strictly increasing numbers"),
    ("numeric_ranges", [1, 2], "must map each attribute to its range edges"),
])
def test_a_weaker_or_invalid_change_is_rejected_with_the_reason(field, value, reason):
    accepted, rejected = validate_changes([Change(field, value)], CONFIG)
    assert accepted == () and len(rejected) == 1 and reason in rejected[0], rejected


def test_validate_changes_normalizes_and_keeps_the_first_of_a_field():
    accepted, rejected = validate_changes(
        [{"field": "k", "value": 20.0}, {"field": "k", "value": 30}, "k=40", {"field": "age_level"},
         {"field": "numeric_ranges", "value": {"amount": [0, 100.5]}}], CONFIG)
    assert accepted == (Change("k", 20), Change("numeric_ranges", {"amount": (0.0, 100.5)}))
    assert rejected[0] == "k is proposed more than once: the first proposal is kept"
    assert rejected[1].startswith("not a change") and rejected[2].startswith("not a change")


def test_an_unknown_current_value_is_not_judged_protective():
    accepted, rejected = validate_changes([Change("k", 50), Change("age_level", 3)], {})
    assert accepted == () and all("current value is not known" in r for r in rejected)
    assert validate_changes([Change("age_level", 1)], {"qi_levels": {}})[0] == (Change("age_level", 1),)


_values = st.one_of(st.none(), st.booleans(), st.integers(-5, 200), st.floats(allow_nan=True),
                    st.sampled_from([*DATE_ORDER, "decade"]), st.text(max_size=5),
                    st.lists(st.floats(-10, 10), max_size=4))
_fields = st.one_of(st.sampled_from(sorted(CHANGEABLE)),
                    st.sampled_from(["target_risk", "max_t_closeness", "small_cell_people", "anonymeter_max_risk",
                                     "max_single_out_rate", "skip_anonymeter", "qi_levels", "attacker_knowledge"]),
                    st.text(max_size=12))
_configs = st.fixed_dictionaries({}, optional={
    "k": st.integers(2, 100), "date_precision": st.sampled_from(DATE_ORDER), "location_level": st.integers(0, 4),
    "qi_levels": st.fixed_dictionaries({}, optional={"age": st.integers(0, 4)}), "pram_p": st.floats(0.51, 1.0),
    "l_diversity": st.integers(1, 5)})


@given(st.lists(st.tuples(_fields, _values), max_size=6), _configs)
def test_no_accepted_change_is_ever_weaker(proposals, configuration):
    """Whatever is proposed: every change is accepted or rejected with a reason; an accepted one is a
    CHANGEABLE field, at most once, strictly more protective than the configuration."""
    accepted, rejected = validate_changes([Change(f, v) for f, v in proposals], configuration)
    assert len(accepted) + len(rejected) == len(proposals)
    assert len({c.field for c in accepted}) == len(accepted)
    for change in accepted:
        assert change.field in CHANGEABLE
        if change.field == "numeric_ranges":
            continue
        current = (configuration.get("qi_levels") or {}).get("age", 0) if change.field == "age_level" \
            else configuration[change.field]
        if change.field == "date_precision":
            assert DATE_ORDER.index(change.value) > DATE_ORDER.index(current)
        elif change.field == "pram_p":
            assert 0.5 < change.value < current
        else:
            assert isinstance(change.value, int) and change.value > current
    for field, _ in proposals:
        if field not in CHANGEABLE:
            assert all(c.field != field for c in accepted)


@given(st.text(max_size=60))
def test_parse_reply_never_raises(text):
    obj, problem = parse_reply("recommend", text)
    assert (obj is None) == bool(problem)
