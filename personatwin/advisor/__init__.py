"""The advisor: explanations and recommendations from rules or an LLM that only ever sees aggregates."""
