"""The advisor: explanations and recommendations from rules or an LLM that only ever sees aggregates.

The rule-based provider and the data helpers are importable from here; the SDK providers
(``personatwin.advisor.llm``) are imported only where they are used.
"""

from personatwin.advisor.base import Advice, Advisor, Change, Explanation, Payload, Recommendation, SyntheticSpec
from personatwin.advisor.drafts import draft_domain, published_aggregates, synthetic_sample
from personatwin.advisor.rules import RulesAdvisor
from personatwin.advisor.synthetic import SyntheticDataError, synthetic_events

__all__ = ["Advice", "Advisor", "Change", "draft_domain", "Explanation", "Payload", "published_aggregates",
           "Recommendation", "RulesAdvisor", "synthetic_events", "synthetic_sample", "SyntheticDataError",
           "SyntheticSpec"]
