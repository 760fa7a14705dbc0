"""Which advisor answers: the rule-based one (default) or a remote provider, chosen by environment variables.

``PERSONATWIN_ADVISOR`` names the provider (``rules``, ``anthropic`` or ``openai``). A remote provider needs
``PERSONATWIN_ADVISOR_MODEL`` (there is no default model) and the API key in the variable named by
``PERSONATWIN_ADVISOR_API_KEY_ENV`` (default ``ANTHROPIC_API_KEY`` / ``OPENAI_API_KEY``): the configuration
holds that variable's name, never the key, which is read when a request is made. ``PERSONATWIN_ADVISOR_BASE_URL``
(default: the provider's public API), ``PERSONATWIN_ADVISOR_TIMEOUT`` (seconds, default 30),
``PERSONATWIN_ADVISOR_MAX_RETRIES`` (default 2) and ``PERSONATWIN_ADVISOR_CACHE`` (a folder for the reply cache)
complete it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from personatwin.advisor.base import Advisor
from personatwin.core.errors import PersonaTwinError

RULES, ANTHROPIC, OPENAI = "rules", "anthropic", "openai"
PROVIDERS = (RULES, ANTHROPIC, OPENAI)
REMOTE = (ANTHROPIC, OPENAI)
DEFAULT_KEY_ENV = {ANTHROPIC: "ANTHROPIC_API_KEY", OPENAI: "OPENAI_API_KEY"}
DEFAULT_BASE_URL = {ANTHROPIC: "https://api.anthropic.com", OPENAI: "https://api.openai.com/v1"}
ADVISOR_ENV = "PERSONATWIN_ADVISOR"
MODEL_ENV = "PERSONATWIN_ADVISOR_MODEL"
KEY_ENV_ENV = "PERSONATWIN_ADVISOR_API_KEY_ENV"
BASE_URL_ENV = "PERSONATWIN_ADVISOR_BASE_URL"
TIMEOUT_ENV = "PERSONATWIN_ADVISOR_TIMEOUT"
RETRIES_ENV = "PERSONATWIN_ADVISOR_MAX_RETRIES"
CACHE_ENV = "PERSONATWIN_ADVISOR_CACHE"
ADVISOR_METHODS = ("explain", "recommend", "draft_domain", "synthetic_spec")


class AdvisorConfigError(PersonaTwinError, ValueError):
    """The advisor's settings cannot be used; the message names the setting (never an API key)."""


class AdvisorUnavailableError(PersonaTwinError, ImportError):
    """A remote provider's SDK is not installed (``pip install 'personatwin[llm]'``)."""


@dataclass(frozen=True)
class AdvisorConfig:
    """A remote provider's settings. ``api_key_env`` is the NAME of the variable holding the key, never the key."""

    provider: str
    model: str
    api_key_env: str = ""  # "" = the provider's usual variable (DEFAULT_KEY_ENV)
    base_url: str | None = None  # None = the provider's public API (DEFAULT_BASE_URL), never a variable of its SDK
    timeout_seconds: float = 30.0
    max_retries: int = 2  # the SDK's own retries, with backoff, on connection errors, timeouts, 408/409/429/5xx
    cache_dir: Path | None = None
    max_tokens: int = 4096

    def __post_init__(self) -> None:
        if self.provider not in REMOTE:
            raise AdvisorConfigError(f"advisor provider must be one of {', '.join(REMOTE)}, got {self.provider!r}")
        if not self.model.strip():
            raise AdvisorConfigError(f"the {self.provider} advisor needs a model ({MODEL_ENV})")
        if not self.timeout_seconds > 0:
            raise AdvisorConfigError(f"the advisor timeout must be > 0 seconds, got {self.timeout_seconds}")
        if self.max_retries < 0 or self.max_tokens < 1:
            raise AdvisorConfigError("the advisor's max_retries must be >= 0 and max_tokens >= 1")
        object.__setattr__(self, "api_key_env", self.api_key_env or DEFAULT_KEY_ENV[self.provider])
        object.__setattr__(self, "base_url", self.base_url or DEFAULT_BASE_URL[self.provider])
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))

    @property
    def label(self) -> str:
        """``provider:model``: how a generated answer is marked."""
        return f"{self.provider}:{self.model}"


def config_from_env(environ: Mapping[str, str] = os.environ, provider: str | None = None) -> AdvisorConfig:
    """A remote provider's settings from ``PERSONATWIN_ADVISOR_*`` (``provider`` overrides the variable)."""
    name = provider or _get(environ, ADVISOR_ENV) or RULES
    if name not in REMOTE:
        raise AdvisorConfigError(f"{ADVISOR_ENV}={name!r} is not a remote provider ({', '.join(REMOTE)})")
    model = _get(environ, MODEL_ENV)
    if not model:
        raise AdvisorConfigError(f"{ADVISOR_ENV}={name} needs {MODEL_ENV}: the model to ask (there is no default)")
    cache = _get(environ, CACHE_ENV)
    return AdvisorConfig(provider=name, model=model, api_key_env=_get(environ, KEY_ENV_ENV),
                         base_url=_get(environ, BASE_URL_ENV) or None,
                         timeout_seconds=_number(environ, TIMEOUT_ENV, 30.0, float),
                         max_retries=int(_number(environ, RETRIES_ENV, 2, int)),
                         cache_dir=Path(cache) if cache else None)


def _get(environ: Mapping[str, str], name: str) -> str:
    return environ.get(name, "").strip()


def _number(environ: Mapping[str, str], name: str, default: float, kind: type) -> float:
    """A numeric variable (default when unset), or an error naming it."""
    text = _get(environ, name)
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        value = -1
    if not math.isfinite(value) or value < 0 or (kind is float and value == 0):
        raise AdvisorConfigError(f"{name} must be a {'number of seconds > 0' if kind is float else 'whole number >= 0'}"
                                 f", got {text!r}")
    return value


def advisor_from_env(environ: Mapping[str, str] = os.environ) -> Advisor:
    """The advisor ``PERSONATWIN_ADVISOR`` names (``rules`` when unset); a remote one needs its model and key."""
    name = _get(environ, ADVISOR_ENV) or RULES
    if name not in PROVIDERS:
        raise AdvisorConfigError(f"{ADVISOR_ENV} must be one of {', '.join(PROVIDERS)}, got {name!r}")
    return rules_advisor() if name == RULES else remote_advisor(config_from_env(environ), environ)


def rules_advisor() -> Advisor:
    """The rule-based advisor (deterministic, no network)."""
    from personatwin.advisor.rules import RulesAdvisor

    return RulesAdvisor()


def remote_advisor(config: AdvisorConfig, environ: Mapping[str, str] = os.environ) -> Advisor:
    """The SDK advisor of a configuration; its API key variable must be set (the key is read at each request)."""
    if not _get(environ, config.api_key_env):
        raise AdvisorConfigError(f"the {config.provider} advisor reads its API key from {config.api_key_env}, "
                                 f"which is not set ({KEY_ENV_ENV} names another variable)")
    from personatwin.advisor.llm import AnthropicAdvisor, OpenAIAdvisor

    kind = AnthropicAdvisor if config.provider == ANTHROPIC else OpenAIAdvisor
    return kind(config, environ=environ)


def get_advisor(advisor: str | Advisor | AdvisorConfig | None = RULES,
                environ: Mapping[str, str] = os.environ) -> Advisor:
    """An advisor from a provider name (a remote one configured by the environment), a configuration, an
    advisor instance (returned as is), or None (``advisor_from_env``)."""
    if advisor is None:
        return advisor_from_env(environ)
    if isinstance(advisor, AdvisorConfig):
        return remote_advisor(advisor, environ)
    if isinstance(advisor, str):
        if advisor not in PROVIDERS:
            raise AdvisorConfigError(f"advisor must be one of {', '.join(PROVIDERS)} or an Advisor, got {advisor!r}")
        return rules_advisor() if advisor == RULES else remote_advisor(config_from_env(environ, advisor), environ)
    missing = [m for m in ("name", *ADVISOR_METHODS) if not hasattr(advisor, m)]
    if missing:
        raise AdvisorConfigError(f"{type(advisor).__name__} is not an advisor: it has no {', '.join(missing)}")
    return advisor
