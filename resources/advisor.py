"""The advisor of the pipeline (``PERSONATWIN_ADVISOR``: none by default, rules, anthropic or openai)."""

from __future__ import annotations

import dagster as dg

from personatwin.advisor.base import Advisor


class AdvisorResource(dg.ConfigurableResource):
    """Which advisor explains each release and recommends a change after a refusal ("" or "none": no advisor).

    A remote provider is configured by the ``PERSONATWIN_ADVISOR_*`` variables (model, key variable's name, base
    URL, timeout, cache): the key itself is read at each request, never held in Dagster config."""

    provider: str = ""

    @property
    def enabled(self) -> bool:
        return self.provider.strip().lower() not in ("", "none")

    def advisor(self) -> Advisor:
        from personatwin.advisor.config import get_advisor

        return get_advisor(self.provider.strip().lower())
