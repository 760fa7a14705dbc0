"""Domains: the vocabulary and the privacy-relevant roles of columns for one kind of data.

A domain names the event types and their outcomes, the quasi-identifiers (QIs), the sensitive
attributes, the direct identifiers, the generalization hierarchies and the default policy level.
Built-in domains live as YAML in ``domain_specs/``; custom ones come from YAML or Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]  # (types-PyYAML is not a dependency)

from personatwin.core.hierarchy import FlatHierarchy, Hierarchy, hierarchy_from_spec
from personatwin.core.sensitive import SensitiveAttribute, parse_sensitive

SPEC_DIR = Path(__file__).with_name("domain_specs")
BUILTIN_DOMAINS = ("criminal_justice", "healthcare", "education", "social_services", "employment")


@dataclass(frozen=True)
class Domain:
    """What the columns of one kind of people-events data mean for privacy."""

    name: str
    event_types: Mapping[str, tuple[str, ...]]
    qis: tuple[str, ...] = ("age", "sex", "race", "zip")
    bias_attributes: tuple[str, ...] = ("sex", "race")
    sensitive: tuple[str, ...] = ()
    direct_identifiers: tuple[str, ...] = ()
    hierarchies: Mapping[str, Hierarchy] = field(default_factory=dict)
    adverse_outcomes: tuple[str, ...] = ()
    default_level: str = "medium"
    description: str = ""
    location_qi: str | None = "zip"
    # Event columns whose value depends on the outcome (an end date means detention, an amount means
    # bail or a fine): released jointly with the outcome, so they never tell the true outcome apart
    # from a randomized one. Conservative default: both; a domain may name fewer (or location).
    outcome_dependent: tuple[str, ...] = ("end_date", "value")
    # Typed sensitive columns (numeric ones are released as ordered ranges); undeclared: categorical.
    sensitive_types: Mapping[str, SensitiveAttribute] = field(default_factory=dict)
    # Analyses a release is checked against when the user declares none (issue 13, item 5): dicts or
    # strings read by personatwin.measure.analyses.parse_analysis.
    analyses: tuple = ()

    def sensitive_attribute(self, column: str) -> SensitiveAttribute:
        """How a sensitive column is coded and judged (categorical unless declared otherwise)."""
        return self.sensitive_types.get(column) or SensitiveAttribute(column)

    @property
    def outcomes(self) -> tuple[str, ...]:
        """All outcome values across event types, in declaration order."""
        seen: dict[str, None] = {}
        for outs in self.event_types.values():
            for o in outs:
                seen.setdefault(o, None)
        return tuple(seen)

    def hierarchy(self, column: str) -> Hierarchy:
        return self.hierarchies.get(column, FlatHierarchy())

    def with_overrides(self, **changes: Any) -> Domain:
        return replace(self, **changes)


def _merge(base: Mapping, own: Mapping) -> dict:
    out = dict(base)
    for key, value in own.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def domain_from_dict(spec: Mapping, base_dir: Path | None = None) -> Domain:
    """Build a domain from its dict/YAML form; unknown keys are an error, not ignored."""
    allowed = {
        "name", "description", "event_types", "qis", "bias_attributes", "sensitive",
        "direct_identifiers", "hierarchies", "adverse_outcomes", "default_level", "location_qi", "outcome_dependent",
        "analyses",
    }
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"domain spec has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    if "name" not in spec:
        raise ValueError("domain spec needs a 'name'")
    raw_types = spec.get("event_types") or {}
    if isinstance(raw_types, (list, tuple)):
        raise ValueError("domain 'event_types' must map each event type to its list of outcomes")
    event_types = {str(t): tuple(str(o) for o in (outs or ())) for t, outs in raw_types.items()}
    hierarchies = {str(c): hierarchy_from_spec(s, base_dir) for c, s in (spec.get("hierarchies") or {}).items()}
    qis = tuple(spec.get("qis", ("age", "sex", "race", "zip")))
    location = spec.get("location_qi", "zip" if "zip" in qis else None)
    sensitive, sensitive_types = parse_sensitive(spec.get("sensitive", ()))
    return Domain(
        name=str(spec["name"]),
        description=str(spec.get("description", "")),
        event_types=event_types,
        qis=qis,
        bias_attributes=tuple(spec.get("bias_attributes", ())),
        sensitive=sensitive,
        sensitive_types=sensitive_types,
        direct_identifiers=tuple(str(c).lower() for c in spec.get("direct_identifiers", ())),
        hierarchies=hierarchies,
        adverse_outcomes=tuple(spec.get("adverse_outcomes", ())),
        default_level=str(spec.get("default_level", "medium")),
        location_qi=location,
        outcome_dependent=tuple(str(c) for c in spec.get("outcome_dependent", ("end_date", "value"))),
        analyses=tuple(spec.get("analyses") or ()),
    )


def load_domain_yaml(path: str | Path, *, inherit_common: bool = True) -> Domain:
    """Load a custom domain from a YAML file; built-in QIs and hierarchies are the base unless
    ``inherit_common`` is false."""
    path = Path(path)
    try:
        own = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})") from None
    base = yaml.safe_load((SPEC_DIR / "_common.yaml").read_text()) if inherit_common else {}
    return domain_from_dict(_merge(base, own), base_dir=path.parent)


def get_domain(domain: str | Domain | Mapping | Path) -> Domain:
    """Resolve a domain given by built-in name, YAML path, dict spec or Domain object."""
    if isinstance(domain, Domain):
        return domain
    if isinstance(domain, Mapping):
        base = yaml.safe_load((SPEC_DIR / "_common.yaml").read_text())
        return domain_from_dict(_merge(base, domain))
    name = str(domain)
    if name in BUILTIN_DOMAINS or name == "custom":
        if name == "custom":
            raise ValueError("a custom domain is given as a YAML path, a dict or a Domain object")
        return load_domain_yaml(SPEC_DIR / f"{name}.yaml")
    if name.endswith((".yaml", ".yml")):
        return load_domain_yaml(name)
    raise ValueError(f"unknown domain {name!r}: use one of {', '.join(BUILTIN_DOMAINS)} or a YAML path")
