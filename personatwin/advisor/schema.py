"""What a remote provider must reply, and the checks every reply and every proposed change must pass.

Each task has one reply format, a JSON object given to the provider as a JSON schema (``prompt_schema``) and
checked on the way back (``parse_reply``): a reply that is not one JSON object of that schema is not used.
``validate_changes`` is the one rule for proposed configuration changes, for any provider and for the engine:
only a setting of ``CHANGEABLE`` may change, and only towards more protection; a target, a check or anything
else is never changed by a recommendation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

from personatwin.advisor.base import CHANGEABLE, DATE_ORDER, DRAFT_DOMAIN, EXPLAIN, RECOMMEND, SYNTHETIC, Change

_SHARE = {"type": "number", "minimum": 0, "maximum": 1}
REPLY_SCHEMAS: dict[str, dict[str, Any]] = {
    EXPLAIN: {"type": "object", "required": ["text"], "additionalProperties": False,
              "properties": {"text": {"type": "string", "minLength": 1}}},
    RECOMMEND: {"type": "object", "required": ["changes", "rationale"], "additionalProperties": False,
                "properties": {"changes": {"type": "array", "items": {
                    "type": "object", "required": ["field", "value"], "additionalProperties": False,
                    "properties": {"field": {"type": "string"}, "value": {}}}},
                    "rationale": {"type": "string"}}},
    DRAFT_DOMAIN: {"type": "object", "required": ["yaml"], "additionalProperties": False,
                   "properties": {"yaml": {"type": "string", "minLength": 1}}},
    SYNTHETIC: {"type": "object", "additionalProperties": False,
                "required": ["n_people", "events_per_person", "event_type_shares", "outcome_shares"],
                "properties": {"n_people": {"type": "integer", "minimum": 1},
                               "events_per_person": {"type": "number", "exclusiveMinimum": 0},
                               "event_type_shares": {"type": "object", "additionalProperties": _SHARE},
                               "outcome_shares": {"type": "object", "additionalProperties": {
                                   "type": "object", "additionalProperties": _SHARE}}}},
}
INTEGER_MINIMUM = {"k": 2, "age_level": 0, "location_level": 0, "l_diversity": 1}  # the "raise" settings
PRAM_RANGE = (0.5, 1.0)  # pram_p in (0.5, 1]: below one half, randomized response tells more than it hides
_TYPES: dict[str, Any] = {"object": Mapping, "array": list, "string": str, "boolean": bool}


def prompt_schema(task: str) -> dict[str, Any]:
    """The JSON schema of a task's reply as shown to the provider (recommend: the changeable fields by name)."""
    schema = json.loads(json.dumps(REPLY_SCHEMAS[task]))
    if task == RECOMMEND:
        schema["properties"]["changes"]["items"]["properties"]["field"]["enum"] = list(CHANGEABLE)
    return schema


def parse_reply(task: str, text: str) -> tuple[dict[str, Any] | None, str]:
    """A reply text as the task's JSON object, or ``(None, why not)``: malformed JSON or off-schema."""
    try:
        value = json.loads(_unfenced(text), parse_constant=_no_constant)
    except ValueError:
        return None, "malformed JSON"
    if not isinstance(value, dict):
        return None, "off-schema JSON (not one JSON object)"
    problems = schema_errors(REPLY_SCHEMAS[task], value)
    return (None, f"off-schema JSON ({problems[0]})") if problems else (value, "")


def _unfenced(text: str) -> str:
    """The text without one surrounding Markdown code fence (```json ... ```), which models often add."""
    body = text.strip()
    if body.startswith("```") and body.endswith("```") and "\n" in body:
        return body[body.index("\n") + 1:-3]
    return body


def _no_constant(name: str) -> Any:
    """NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")


def schema_errors(schema: Mapping[str, Any], value: Any, path: str = "$") -> list[str]:
    """Where a value breaks a schema (the subset used by ``REPLY_SCHEMAS``); empty when it conforms."""
    kind = schema.get("type")
    if kind is not None and not _is_type(value, kind):
        return [f"{path} is not {'an' if kind[0] in 'aeiou' else 'a'} {kind}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{path} is not one of {schema['enum']}"]
    if kind in ("number", "integer"):
        return _number_errors(schema, value, path)
    if kind == "string" and len(value) < schema.get("minLength", 0):
        return [f"{path} is empty"]
    if kind == "array":
        return [e for i, item in enumerate(value) for e in schema_errors(schema.get("items", {}), item, f"{path}[{i}]")]
    if kind == "object":
        return _object_errors(schema, value, path)
    return []


def _is_type(value: Any, kind: str) -> bool:
    """JSON schema types, with booleans never numbers and integral floats (2.0) integers."""
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            return False
        return kind == "number" or float(value).is_integer()
    return isinstance(value, _TYPES[kind])


def _number_errors(schema: Mapping[str, Any], value: float, path: str) -> list[str]:
    if "minimum" in schema and value < schema["minimum"]:
        return [f"{path} is below {schema['minimum']}"]
    if "exclusiveMinimum" in schema and value <= schema["exclusiveMinimum"]:
        return [f"{path} is not above {schema['exclusiveMinimum']}"]
    if "maximum" in schema and value > schema["maximum"]:
        return [f"{path} is above {schema['maximum']}"]
    return []


def _object_errors(schema: Mapping[str, Any], value: Mapping[str, Any], path: str) -> list[str]:
    properties = schema.get("properties", {})
    errors = [f"{path} has no {name!r}" for name in schema.get("required", ()) if name not in value]
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        if name in properties:
            errors += schema_errors(properties[name], item, f"{path}.{name}")
        elif extra is False:
            errors.append(f"{path} has an unexpected {name!r}")
        elif isinstance(extra, Mapping):
            errors += schema_errors(extra, item, f"{path}.{name}")
    return errors


# --- proposed changes -----------------------------------------------------------------------------

def validate_changes(changes: Iterable[Change | Mapping[str, Any]],
                     configuration: Mapping[str, Any]) -> tuple[tuple[Change, ...], tuple[str, ...]]:
    """The proposed changes at least as protective as ``configuration`` (values normalized), and why each other
    one is refused: a field outside ``CHANGEABLE`` (a target, a check), a weaker or invalid value, a no-op."""
    accepted: list[Change] = []
    rejected: list[str] = []
    for item in changes:
        field, value = _field_value(item)
        if field is None:
            rejected.append(f"not a change (a field and a value): {_short(item)}")
        elif any(c.field == field for c in accepted):
            rejected.append(f"{field} is proposed more than once: the first proposal is kept")
        else:
            change, reason = judge_change(field, value, configuration)
            accepted += [change] if change is not None else []
            rejected += [reason] if change is None else []
    return tuple(accepted), tuple(rejected)


def _field_value(item: Any) -> tuple[str | None, Any]:
    """The field and value of a ``Change`` or of a mapping ``{"field": ..., "value": ...}``."""
    if isinstance(item, Change):
        return item.field, item.value
    if isinstance(item, Mapping) and isinstance(item.get("field"), str) and "value" in item:
        return item["field"], item["value"]
    return None, None


def judge_change(field: str, value: Any, configuration: Mapping[str, Any]) -> tuple[Change | None, str]:
    """One proposed change: ``(Change, "")`` if it may be applied, else ``(None, the reason)``."""
    if field not in CHANGEABLE:
        return None, (f"would weaken the release's protection: {field!r} is not a setting a recommendation may "
                      f"change (only {', '.join(CHANGEABLE)}); targets and checks are never changed or skipped")
    if field == "numeric_ranges":
        ranges, reason = _numeric_ranges(value)
        return (Change(field, ranges), "") if ranges is not None else (None, reason)
    if field == "date_precision":
        return _judge_ordered(field, value, _current(field, configuration))
    if field == "pram_p":
        return _judge_pram(value, _current(field, configuration))
    return _judge_integer(field, value, _current(field, configuration))


def _current(field: str, configuration: Mapping[str, Any]) -> Any:
    """The configuration's value of a setting (the age level also from ``qi_levels``); None when not stated."""
    if field == "age_level" and "age_level" not in configuration:
        levels = configuration.get("qi_levels")
        return int(levels.get("age", 0)) if isinstance(levels, Mapping) else None
    return configuration.get(field)


def _unknown(field: str, value: Any) -> tuple[None, str]:
    return None, f"{field}: the current value is not known, so {_short(value)} cannot be shown not to weaken it"


def _judge_integer(field: str, value: Any, current: Any) -> tuple[Change | None, str]:
    """k, age_level, location_level, l_diversity: a whole number at or above its minimum, raised only."""
    low = INTEGER_MINIMUM[field]
    if not _is_type(value, "integer") or value < low:
        return None, f"{field} must be a whole number of at least {low}, got {_short(value)}"
    if not _is_type(current, "integer"):
        return _unknown(field, value)
    new, old = int(value), int(current)
    if new < old:
        return None, f"would weaken {field}: {new} is below the current {old} ({field} may only be raised)"
    if new == old:
        return None, f"{field} is already {old}: no change"
    return Change(field, new), ""


def _judge_ordered(field: str, value: Any, current: Any) -> tuple[Change | None, str]:
    """date_precision: one of ``DATE_ORDER``, coarser only."""
    if value not in DATE_ORDER:
        return None, f"{field} must be one of {', '.join(DATE_ORDER)}, got {_short(value)}"
    if current not in DATE_ORDER:
        return _unknown(field, value)
    if DATE_ORDER.index(value) < DATE_ORDER.index(current):
        return None, f"would weaken {field}: {value} is finer than the current {current} (dates may only coarsen)"
    if value == current:
        return None, f"{field} is already {current}: no change"
    return Change(field, value), ""


def _judge_pram(value: Any, current: Any) -> tuple[Change | None, str]:
    """pram_p: a number in (0.5, 1], lowered only (a lower p keeps fewer true values)."""
    low, high = PRAM_RANGE
    if not _is_type(value, "number") or not low < value <= high:
        return None, f"pram_p must be a number in ({low}, {high:g}], got {_short(value)}"
    if not _is_type(current, "number"):
        return _unknown("pram_p", value)
    new, old = float(value), float(current)
    if new > old:
        return None, f"would weaken pram_p: {new:g} keeps more true values than the current {old:g} (pram_p may " \
                     "only be lowered)"
    if new == old:
        return None, f"pram_p is already {old:g}: no change"
    return Change("pram_p", new), ""


def _numeric_ranges(value: Any) -> tuple[dict[str, tuple[float, ...]] | None, str]:
    """numeric_ranges: attribute -> strictly increasing finite range edges (at least one)."""
    if not isinstance(value, Mapping) or not value:
        return None, f"numeric_ranges must map each attribute to its range edges, got {_short(value)}"
    ranges: dict[str, tuple[float, ...]] = {}
    for attribute, edges in value.items():
        ok = isinstance(attribute, str) and attribute.strip() and isinstance(edges, (list, tuple)) and edges \
            and all(_is_type(e, "number") for e in edges) and all(a < b for a, b in zip(edges, edges[1:]))
        if not ok:
            return None, (f"numeric_ranges[{_short(attribute)}] must be strictly increasing numbers, "
                          f"got {_short(edges)}")
        ranges[attribute] = tuple(float(e) for e in edges)
    return ranges, ""


def _short(value: Any) -> str:
    """A value as a short text for a reason (a reply may hold anything)."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
