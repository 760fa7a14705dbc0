"""Sensitive attributes by type: categorical values, or numeric values released as ordered ranges.

A count or amount (prior offences, juvenile felonies, a lab value) is numeric: it is coded into ranges
(declared cut points, or cut points at the data's quantiles with the top range top-coded), randomized by
PRAM over the ranges, and judged by models that fit an ordered, often skewed attribute: t-closeness
with the ordered distance (EMD over ordered ranges) and entropy / recursive (c, l)-diversity. Distinct
l-diversity cannot hold for a count where one value holds 94% of people, whatever k: it stays the model
of categorical attributes only (issue 13).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

CATEGORICAL, NUMERIC = "categorical", "numeric"
MISSING = "missing"


@dataclass(frozen=True)
class SensitiveAttribute:
    """How one sensitive column is coded and judged.

    ``cuts``: ascending lower bounds of the ranges after the first (a value v is in range i when
    cuts[i-1] <= v < cuts[i]); None derives them from the data's quantiles (``n_ranges`` ranges, the
    top one open from the ``top_code_quantile`` quantile up)."""

    name: str
    kind: str = CATEGORICAL
    cuts: tuple[float, ...] | None = None
    n_ranges: int = 5
    top_code_quantile: float = 0.95

    def __post_init__(self) -> None:
        if self.kind not in (CATEGORICAL, NUMERIC):
            raise ValueError(f"sensitive attribute {self.name!r}: type must be {CATEGORICAL} or {NUMERIC}, "
                             f"got {self.kind!r}")
        if self.cuts is not None and list(self.cuts) != sorted(set(self.cuts)):
            raise ValueError(f"sensitive attribute {self.name!r}: ranges must be strictly increasing, got "
                             f"{list(self.cuts)}")
        if self.n_ranges < 2:
            raise ValueError(f"sensitive attribute {self.name!r}: n_ranges must be at least 2")
        if not 0.5 <= self.top_code_quantile < 1:
            raise ValueError(f"sensitive attribute {self.name!r}: top_code_quantile must be in [0.5, 1)")

    @property
    def ordered(self) -> bool:
        return self.kind == NUMERIC


def parse_sensitive(spec: Sequence) -> tuple[tuple[str, ...], dict[str, SensitiveAttribute]]:
    """A domain's ``sensitive`` entry: names (categorical) or mappings ``{name, type, ranges, n_ranges,
    top_code_quantile}``; returns the names in order and the typed declarations."""
    names: list[str] = []
    typed: dict[str, SensitiveAttribute] = {}
    for item in spec or ():
        if isinstance(item, Mapping):
            unknown = set(item) - {"name", "type", "ranges", "n_ranges", "top_code_quantile"}
            if unknown or "name" not in item:
                raise ValueError(f"sensitive attribute {dict(item)}: needs 'name'; allowed keys are name, type, "
                                 f"ranges, n_ranges, top_code_quantile (unknown: {sorted(unknown)})")
            name = str(item["name"])
            ranges = item.get("ranges")
            typed[name] = SensitiveAttribute(name, str(item.get("type", CATEGORICAL)),
                                             tuple(float(c) for c in ranges) if ranges is not None else None,
                                             int(item.get("n_ranges", 5)), float(item.get("top_code_quantile", 0.95)))
        else:
            name = str(item)
        names.append(name)
    return tuple(names), typed


def quantile_cuts(values: np.ndarray, n_ranges: int, top_code_quantile: float) -> tuple[float, ...]:
    """Cut points at the data's quantiles, whole numbers for counts, the top range open from the
    ``top_code_quantile`` quantile; the smallest value is a range of its own (the 0 most people of a
    skewed count share), and ties collapse."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return ()
    inner = np.quantile(finite, np.linspace(0, top_code_quantile, n_ranges)[1:])
    if np.all(np.equal(np.mod(finite, 1), 0)):
        inner = np.ceil(inner)
    distinct = np.unique(finite)
    cuts = np.unique(np.concatenate([inner, distinct[1:2]]))
    return tuple(float(c) for c in cuts if c > finite.min())


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def range_labels(cuts: Sequence[float]) -> list[str]:
    """Ordered labels of the ranges cut at ``cuts``: '<c1', 'c1-c2', ..., '>=cn' (whole-number ranges of
    counts shown inclusively: '1-2' for [1, 3))."""
    if not cuts:
        return ["all"]
    labels = [f"<{_fmt(cuts[0])}"]
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        whole = float(lo).is_integer() and float(hi).is_integer()
        labels.append(f"{_fmt(lo)}" if whole and hi - lo == 1 else
                      f"{_fmt(lo)}-{_fmt(hi - 1)}" if whole else f"{_fmt(lo)}-<{_fmt(hi)}")
    labels.append(f">={_fmt(cuts[-1])}")
    return labels


def coded(values: pd.Series, attribute: SensitiveAttribute) -> tuple[np.ndarray, list[str]]:
    """Each person's value code and the labels in order (ranges for numeric attributes, ascending, with a
    last ``missing`` range when a value is absent or not a number; sorted categories otherwise)."""
    if attribute.kind == CATEGORICAL:
        codes, cats = pd.factorize(values.astype(str), sort=True)
        return codes.astype(np.int64), [str(c) for c in cats]
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    cuts = attribute.cuts if attribute.cuts is not None else quantile_cuts(numbers, attribute.n_ranges,
                                                                           attribute.top_code_quantile)
    labels = range_labels(cuts)
    codes = np.searchsorted(np.asarray(cuts, dtype=np.float64), numbers, side="right").astype(np.int64)
    missing = ~np.isfinite(numbers)
    if missing.any():
        codes[missing] = len(labels)
        labels = [*labels, MISSING]
    return codes, labels
