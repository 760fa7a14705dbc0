"""Remote advisors through the providers' official SDKs: Anthropic's Messages API and OpenAI's Chat Completions.

A request holds a fixed system text for the task (the data are aggregates only; reply with one JSON object of
the task's schema; targets are never lowered) and, as the one user message, exactly ``payload.text()``:
nothing else from the process is sent. The API key is read from the configured variable at each request and
is never kept in the configuration, an exchange, a note or a log. The SDKs retry connection errors, timeouts,
408/409/429 and 5xx with exponential backoff (``max_retries``). When no usable answer comes (a timeout, a
connection or API error, malformed or off-schema JSON, a refusal, only rejected changes), the rule-based
answer is returned with a note saying why, and the exchange is recorded as ``fallback: <why>``. Replies are
cached by provider, model and payload hash (in memory and, with ``cache_dir``, as JSON files), so a rerun
with the same payload gets the same answer without a request (outcome ``cached``).

Sampling: OpenAI is asked for temperature 0 and JSON mode. Anthropic's SDK 2 sends API version 2026-10-21,
which has no sampling parameters (``temperature`` is refused with HTTP 400 even at its default), so nothing
is sent there: its reruns are reproducible through the cache.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, fields, is_dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]  # (types-PyYAML is not a dependency)

from personatwin.advisor.base import (
    DRAFT_DOMAIN,
    EXPLAIN,
    RECOMMEND,
    SYNTHETIC,
    Advice,
    Advisor,
    Exchange,
    Explanation,
    Payload,
    Recommendation,
    SyntheticSpec,
    canonical_json,
)
from personatwin.advisor.config import ANTHROPIC, OPENAI, AdvisorConfig, AdvisorConfigError, AdvisorUnavailableError
from personatwin.advisor.payload import checked
from personatwin.advisor.schema import parse_reply, prompt_schema, validate_changes
from personatwin.core.domains import get_domain

log = logging.getLogger(__name__)

SYSTEM = (
    "You advise PersonaTwin, a tool that releases privacy-protected personas built from sensitive people-events "
    "data. The user message is one JSON object: the task and its content. The content holds aggregates only "
    "(release-level figures, the privacy targets, the configuration, the domain's vocabulary, and values shared "
    "by many people); you never see a person's record, and you must not invent data about any person. Answer "
    "in plain, factual language for a data steward. Reply with exactly one JSON object of the JSON schema "
    "below: no Markdown, no code fence, no text before or after it."
)
TASK_TEXT = {
    EXPLAIN: "Task: explain the verdict or refusal in 'content' in plain language: what failed, by how much "
             "against which target, and what that means. Do not contradict the figures.",
    RECOMMEND: "Task: recommend configuration changes that can make every target hold. Propose only fields "
               "listed in 'changeable', each only in its direction ('raise': a higher level or coarser "
               "precision; 'lower': a lower value). The privacy targets may never be lowered or relaxed, and "
               "no check may be skipped: such a proposal is rejected. Give the rationale in one paragraph.",
    DRAFT_DOMAIN: "Task: draft a PersonaTwin domain as YAML for a person to review (keys: name, description, "
                  "event_types mapping each event type to its outcomes, qis, sensitive, direct_identifiers, "
                  "bias_attributes, adverse_outcomes, default_level), using only the column names and the values "
                  "listed in 'content'.",
    SYNTHETIC: "Task: give the parameters of synthetic sample data for the domain in 'content', consistent with "
               "its vocabulary and the published aggregates: shares are fractions in [0, 1] that sum to 1, "
               "keyed by the domain's event types and, per event type, its outcomes.",
}
METHODS = {EXPLAIN: "explain", RECOMMEND: "recommend", DRAFT_DOMAIN: "draft_domain", SYNTHETIC: "synthetic_spec"}
SUM_TOLERANCE = 0.1  # shares must sum to 1 within this (a model's rounding), then are rescaled to 1


class _Unusable(Exception):
    """A reply that is valid JSON of its schema but cannot be used; ``rejected``: changes refused on the way."""

    def __init__(self, why: str, rejected: tuple[str, ...] = ()):
        super().__init__(why)
        self.why = why
        self.rejected = rejected


def system_prompt(task: str) -> str:
    """The fixed system text of a task: the rules of the exchange and the reply's JSON schema."""
    return f"{SYSTEM}\n\n{TASK_TEXT[task]}\n\nJSON schema of the reply:\n{canonical_json(prompt_schema(task))}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class LLMAdvisor:
    """An advisor answered by a remote model through its SDK, falling back on the rule-based advisor."""

    name = ""  # the provider, also the SDK's package name
    rules: Advisor

    def __init__(self, config: AdvisorConfig, *, environ: Mapping[str, str] = os.environ,
                 rules: Advisor | None = None):
        if config.provider != self.name:
            raise AdvisorConfigError(f"{type(self).__name__} takes a {self.name} configuration, not {config.provider}")
        self.config = config
        self.sdk = _import_sdk(self.name)
        self._environ = environ  # the key is read from it at each request, never copied
        self._memory: dict[str, str] = {}
        if rules is None:
            from personatwin.advisor.rules import RulesAdvisor

            rules = RulesAdvisor()
        self.rules = rules

    def explain(self, payload: Payload) -> Advice:
        """A plain-language explanation (marked generated), or the rule-based one with a note."""
        return self._advise(payload, EXPLAIN)

    def recommend(self, payload: Payload) -> Advice:
        """The proposed changes that pass ``validate_changes`` (the others listed as rejected)."""
        return self._advise(payload, RECOMMEND)

    def draft_domain(self, payload: Payload) -> Advice:
        """A domain YAML draft for a person to review (it must load as a domain), headed by its origin."""
        return self._advise(payload, DRAFT_DOMAIN)

    def synthetic_spec(self, payload: Payload) -> Advice:
        """Synthetic data parameters in the domain's vocabulary."""
        return self._advise(payload, SYNTHETIC)

    # --- one call ----------------------------------------------------------------------------------

    def _advise(self, payload: Payload, task: str) -> Advice:
        """The cached or requested reply, used if it parses and passes its checks, else the rule-based answer."""
        if payload.task != task:
            raise ValueError(f"{METHODS[task]} takes a {task!r} payload, got {payload.task!r}")
        checked(payload)  # the egress allow-list, again at the point of sending
        cached = self._cached(payload)
        if cached is not None and parse_reply(task, cached)[0] is not None:
            return self._use(payload, cached, self._exchange(payload, _now(), cached, "cached", 0.0))
        at, start = _now(), time.monotonic()
        reply, failure = self._ask(payload)
        seconds = round(time.monotonic() - start, 3)
        if failure:
            return self._fallback(payload, self._exchange(payload, at, reply, "", seconds), failure)
        exchange = self._exchange(payload, at, reply, "used", seconds)
        if parse_reply(task, reply)[0] is not None:
            self._store(payload, reply)
        return self._use(payload, reply, exchange)

    def _use(self, payload: Payload, reply: str, exchange: Exchange) -> Advice:
        """The answer built from a reply, or the fallback when it is unusable."""
        obj, problem = parse_reply(payload.task, reply)
        try:
            if obj is None:
                raise _Unusable(f"replied {problem}")
            value = BUILDERS[payload.task](self, payload, obj)
        except _Unusable as unusable:
            return self._fallback(payload, exchange, unusable.why, unusable.rejected)
        self._log(exchange)
        return Advice(value, (exchange,))

    def _fallback(self, payload: Payload, exchange: Exchange, why: str, rejected: tuple[str, ...] = ()) -> Advice:
        """The rule-based answer, with a note saying why the provider's was not used."""
        why = self._scrub(why)
        exchange = replace(exchange, outcome=f"fallback: {why}")
        self._log(exchange)
        advice = getattr(self.rules, METHODS[payload.task])(payload)
        note = f"{self.config.label} {why}; the rule-based answer is used"
        return Advice(_with_note(advice.value, note, rejected), (*advice.exchanges, exchange))

    def _ask(self, payload: Payload) -> tuple[str, str]:
        """The reply text and ``""``, or ``""`` and why no reply came (the SDK's retries already spent)."""
        key = self._environ.get(self.config.api_key_env, "").strip()
        if not key:
            return "", f"has no API key ({self.config.api_key_env} is not set)"
        try:
            text, problem = self._request(payload, key)
            return self._scrub(text), problem
        except self.sdk.APITimeoutError:
            return "", f"timed out ({self.config.timeout_seconds:g} s per attempt, {self.config.max_retries} retries)"
        except self.sdk.APIConnectionError:
            return "", f"could not be reached at {self.config.base_url}"
        except self.sdk.APIStatusError as err:
            return "", f"answered HTTP {err.status_code}"
        except self._sdk_error() as err:
            return "", f"failed ({type(err).__name__})"
        except ValueError:  # a body that is not JSON (the SDKs let the decoder's error through)
            return "", "replied a response that is not JSON"

    def _request(self, payload: Payload, key: str) -> tuple[str, str]:
        """One request through the SDK: the reply's text, and why it is not an answer ("" when it is one)."""
        raise NotImplementedError

    def _sdk_error(self) -> type[Exception]:
        """The SDK's base exception class."""
        raise NotImplementedError

    def _client_options(self, key: str) -> dict[str, Any]:
        """The SDK client's settings: the key, the configured base URL, timeout and retries."""
        return {"api_key": key, "base_url": self.config.base_url, "timeout": self.config.timeout_seconds,
                "max_retries": self.config.max_retries}

    def _scrub(self, text: str) -> str:
        """A text without the API key (should a server ever echo it)."""
        key = self._environ.get(self.config.api_key_env, "").strip()
        return text.replace(key, "[api key]") if key else text

    # --- audit and cache ---------------------------------------------------------------------------

    def _exchange(self, payload: Payload, at: str, reply: str, outcome: str, seconds: float) -> Exchange:
        return Exchange(provider=self.config.provider, model=self.config.model, at=at, task=payload.task,
                        payload_sha256=payload.sha256, payload=payload.text(), reply=reply, outcome=outcome,
                        seconds=seconds)

    def _log(self, exchange: Exchange) -> None:
        log.info("advisor %s:%s %s, payload %s: %s (%.2f s)", exchange.provider, exchange.model, exchange.task,
                 exchange.payload_sha256[:12], exchange.outcome, exchange.seconds)
        log.debug("advisor exchange (payload and reply): %s", canonical_json(asdict(exchange)))

    def _cache_key(self, payload: Payload) -> str:
        return f"{self.config.provider}:{self.config.model}:{payload.sha256}"

    def _cache_file(self, payload: Payload) -> Path | None:
        if self.config.cache_dir is None:
            return None
        model = re.sub(r"[^A-Za-z0-9._-]", "_", self.config.model)
        return self.config.cache_dir / f"{self.config.provider}-{model}-{payload.sha256}.json"

    def _cached(self, payload: Payload) -> str | None:
        """The reply cached for this provider, model and payload, in memory or in the cache folder."""
        if (hit := self._memory.get(self._cache_key(payload))) is not None:
            return hit
        path = self._cache_file(payload)
        if path is None or not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        same = (entry.get("provider"), entry.get("model"), entry.get("payload")) == (
            self.config.provider, self.config.model, payload.text())
        return entry.get("reply") if same and isinstance(entry.get("reply"), str) else None

    def _store(self, payload: Payload, reply: str) -> None:
        """Keep a reply of the task's schema (in memory, and as a JSON file when there is a cache folder)."""
        self._memory[self._cache_key(payload)] = reply
        path = self._cache_file(payload)
        if path is None:
            return
        entry = {"provider": self.config.provider, "model": self.config.model, "task": payload.task,
                 "payload_sha256": payload.sha256, "payload": payload.text(), "reply": reply, "at": _now()}
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entry, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)


class AnthropicAdvisor(LLMAdvisor):
    """Anthropic's Messages API (``client.messages.create``)."""

    name = ANTHROPIC

    def _request(self, payload: Payload, key: str) -> tuple[str, str]:
        """One message: the system text and the payload; the text blocks of the reply."""
        with self.sdk.Anthropic(**self._client_options(key)) as client:
            message = client.messages.create(model=self.config.model, max_tokens=self.config.max_tokens,
                                             system=system_prompt(payload.task),
                                             messages=[{"role": "user", "content": payload.text()}])
        text = "".join(block.text for block in message.content if block.type == "text")
        if message.stop_reason == "refusal":
            return text, "refused to answer"
        if message.stop_reason == "max_tokens":
            return text, f"stopped at max_tokens ({self.config.max_tokens}) before the reply was complete"
        return text, ""

    def _sdk_error(self) -> type[Exception]:
        return self.sdk.AnthropicError


class OpenAIAdvisor(LLMAdvisor):
    """OpenAI's Chat Completions API (``client.chat.completions.create``), temperature 0, JSON mode."""

    name = OPENAI

    def _request(self, payload: Payload, key: str) -> tuple[str, str]:
        """One completion: the system text and the payload; the first choice's content."""
        with self.sdk.OpenAI(**self._client_options(key)) as client:
            completion = client.chat.completions.create(
                model=self.config.model, temperature=0, max_completion_tokens=self.config.max_tokens,
                response_format={"type": "json_object"},
                messages=[{"role": "system", "content": system_prompt(payload.task)},
                          {"role": "user", "content": payload.text()}])
        if not completion.choices:
            return "", "returned no choice"
        choice = completion.choices[0]
        text = choice.message.content or ""
        if getattr(choice.message, "refusal", None):
            return text, "refused to answer"
        if choice.finish_reason == "length":
            return text, f"stopped at max_completion_tokens ({self.config.max_tokens}) before the reply was complete"
        return text, ""

    def _sdk_error(self) -> type[Exception]:
        return self.sdk.OpenAIError


def _import_sdk(name: str) -> ModuleType:
    """A provider's SDK, or a clear error saying how to install it."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise AdvisorUnavailableError(f"the {name} advisor needs the {name} package: pip install "
                                      "'personatwin[llm]'") from None


def _with_note(value: Any, note: str, rejected: tuple[str, ...] = ()) -> Any:
    """A rule-based answer carrying the note (a YAML draft: as a comment line on top) and any rejected changes."""
    if isinstance(value, str):
        return f"# note: {note}\n{value}"
    if not is_dataclass(value) or isinstance(value, type):
        return value
    names = {f.name for f in fields(value)}
    changes: dict[str, Any] = {"note": "; ".join(t for t in (getattr(value, "note", ""), note) if t)}
    if "rejected" in names:
        changes["rejected"] = (*getattr(value, "rejected", ()), *rejected)
    return replace(value, **{k: v for k, v in changes.items() if k in names})


# --- replies into answers ----------------------------------------------------------------------------

def _explanation(advisor: LLMAdvisor, payload: Payload, reply: Mapping[str, Any]) -> Explanation:
    """The provider's text next to the rule-based text it explains."""
    rule_text = advisor.rules.explain(payload).value.rule_text
    return Explanation(text=reply["text"].strip(), rule_text=rule_text, generated_by=advisor.config.label)


def _recommendation(advisor: LLMAdvisor, payload: Payload, reply: Mapping[str, Any]) -> Recommendation:
    """The proposed changes at least as protective as the configuration; none at all is unusable."""
    accepted, rejected = validate_changes(reply["changes"], payload.content.get("configuration") or {})
    if not accepted:
        raise _Unusable(f"proposed no change that passes validation ({len(rejected)} rejected)", rejected)
    note = f"{len(rejected)} proposed change(s) rejected" if rejected else ""
    return Recommendation(changes=accepted, rationale=reply["rationale"].strip(), generated_by=advisor.config.label,
                          note=note, rejected=rejected)


def _domain_draft(advisor: LLMAdvisor, payload: Payload, reply: Mapping[str, Any]) -> str:
    """The drafted YAML, if it loads as a domain, headed by a comment saying it is generated."""
    text = reply["yaml"].strip()
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError:
        raise _Unusable("drafted YAML that does not parse") from None
    if not isinstance(spec, Mapping):
        raise _Unusable("drafted YAML that is not a mapping")
    try:
        get_domain(spec)
    except (ValueError, TypeError, KeyError) as err:
        raise _Unusable(f"drafted a domain that does not load ({str(err)[:200]})") from None
    return f"# generated by {advisor.config.label} from aggregates: review every line before use\n{text}\n"


def _synthetic(advisor: LLMAdvisor, payload: Payload, reply: Mapping[str, Any]) -> SyntheticSpec:
    """Shares in the domain's vocabulary, rescaled to sum to 1; the requested number of people."""
    vocabulary = (payload.content.get("domain") or {}).get("event_types") or {}
    types = _shares(reply["event_type_shares"], vocabulary, "event types")
    _known(reply["outcome_shares"], vocabulary, "event types")
    outcomes = {t: _shares(o, vocabulary.get(t, ()), f"outcomes of {t}") for t, o in reply["outcome_shares"].items()}
    n_people = int(payload.content.get("n_people") or reply["n_people"])  # the size asked for, not the model's
    return SyntheticSpec(n_people=n_people, events_per_person=float(reply["events_per_person"]),
                         event_type_shares=types, outcome_shares=outcomes, generated_by=advisor.config.label)


def _shares(shares: Mapping[str, float], allowed: Any, what: str) -> dict[str, float]:
    """Shares keyed by known names only, summing to 1 within ``SUM_TOLERANCE`` (then rescaled)."""
    _known(shares, allowed, what)
    total = sum(shares.values())
    if abs(total - 1) > SUM_TOLERANCE:
        raise _Unusable(f"gave {what} shares that sum to {total:g}, not 1")
    return {str(k): round(float(v) / total, 6) for k, v in shares.items()}


def _known(names: Any, allowed: Any, what: str) -> None:
    """Every name is one of the domain's (when the payload gives its vocabulary)."""
    unknown = sorted(set(names) - set(allowed)) if allowed else []
    if unknown:
        raise _Unusable(f"named {what} outside the domain: {', '.join(unknown)[:200]}")


BUILDERS: dict[str, Callable[[LLMAdvisor, Payload, Mapping[str, Any]], Any]] = {
    EXPLAIN: _explanation, RECOMMEND: _recommendation, DRAFT_DOMAIN: _domain_draft, SYNTHETIC: _synthetic}
