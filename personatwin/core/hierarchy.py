"""Generalization hierarchies: map a column of values to a coarser level, vectorized.

Every hierarchy has levels ``0 .. top``: level 0 is the original value, the top level is ``*``
(fully suppressed). ``generalize(values, level)`` returns a categorical of string labels; the same
function serves the release (persona attributes) and the attacker model (a target's true value
generalized to the level a persona publishes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

TOP = "*"


def _as_categorical(labels: np.ndarray, index: pd.Index | None = None) -> pd.Series:
    return pd.Series(pd.Categorical(labels), index=index)


def _top(values: pd.Series) -> pd.Series:
    return pd.Series(pd.Categorical([TOP] * len(values), categories=[TOP]), index=values.index)


def _map_categorical(values: pd.Series, mapping: Mapping[str, str], default: str) -> pd.Series:
    """Map string values through ``mapping`` by mapping the categories only (fast on millions)."""
    cat = values.astype("string").astype("category")
    cats = cat.cat.categories
    mapped = np.array([mapping.get(str(c), default) for c in cats], dtype=object)
    codes = cat.cat.codes.to_numpy()
    out = np.where(codes >= 0, mapped[np.clip(codes, 0, None)] if len(mapped) else default, default)
    return _as_categorical(out.astype(object), values.index)


@dataclass(frozen=True)
class IntervalHierarchy:
    """Numeric bands: level 0 exact, level i a band of width ``widths[i-1]``, top ``*``.

    Values at or above ``top_code`` become ``"{top_code}+"`` at every level above 0, so the oldest
    people are never singled out by a sparse tail band.
    """

    widths: tuple[int, ...] = (5, 10, 20)
    top_code: float | None = 90
    lower: float = 0

    @property
    def n_levels(self) -> int:
        return len(self.widths) + 2

    def generalize(self, values: pd.Series, level: int) -> pd.Series:
        level = min(level, self.n_levels - 1)
        if level == self.n_levels - 1:
            return _top(values)
        v = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        if level == 0:
            out = np.where(np.isnan(v), TOP, v).astype(object)
            ints = ~np.isnan(v)
            out[ints] = np.char.mod("%d", v[ints].astype(np.int64)).astype(object)
            return _as_categorical(out, values.index)
        w = self.widths[level - 1]
        lo = np.floor((v - self.lower) / w) * w + self.lower
        # unpacked by index: mypy crashes on unpacking np.unique's tuple
        found = np.unique(np.nan_to_num(lo, nan=-1e18), return_inverse=True)
        uniq, inv = found[0], found[1]
        labels = np.array([f"{int(u)}-{int(u + w - 1)}" if u > -1e17 else TOP for u in uniq], dtype=object)
        out = labels[inv]
        if self.top_code is not None:
            out = np.where(v >= self.top_code, f"{int(self.top_code)}+", out)
        return _as_categorical(out, values.index)

    def ordinal(self, values: pd.Series) -> np.ndarray:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


@dataclass(frozen=True)
class PrefixHierarchy:
    """Codes generalized by keeping a prefix, e.g. zip5 -> zip3 -> first digit -> ``*``."""

    lengths: tuple[int, ...] = (5, 3, 1)

    @property
    def n_levels(self) -> int:
        return len(self.lengths) + 1

    def generalize(self, values: pd.Series, level: int) -> pd.Series:
        level = min(level, self.n_levels - 1)
        if level == self.n_levels - 1:
            return _top(values)
        cat = values.astype("string").astype("category")
        width = self.lengths[0]
        keep = self.lengths[level]
        cats = np.array([str(c)[:keep] + "*" * max(0, width - keep) for c in cat.cat.categories], dtype=object)
        codes = cat.cat.codes.to_numpy()
        out = np.where(codes >= 0, cats[np.clip(codes, 0, None)] if len(cats) else TOP, TOP)
        return _as_categorical(out.astype(object), values.index)

    def ordinal(self, values: pd.Series) -> np.ndarray:
        """The code as a number (NaN where missing or not numeric), parsed once per distinct value."""
        codes, uniq = pd.factorize(values)
        text = pd.Series(np.asarray(uniq, dtype=object), dtype=object).astype("string").str.slice(0, self.lengths[0])
        num = pd.to_numeric(text, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return np.append(num, np.nan)[np.where(codes >= 0, codes, len(num))]


@dataclass(frozen=True)
class MappingHierarchy:
    """Categorical hierarchy given as a table: one row per value, one column per level.

    ``levels[0]`` are the original values; the last level is ``*``. This is the layout of ARX's
    hierarchy CSV files (``value;level1;...;*``) and of rare-category groupings in domain YAML.
    """

    levels: tuple[tuple[str, ...], ...]
    _maps: tuple[dict, ...] = field(default=(), compare=False, repr=False)

    def __post_init__(self) -> None:
        cols = list(self.levels)
        if not cols or any(len(c) != len(cols[0]) for c in cols):
            raise ValueError("hierarchy levels must be columns of equal length")
        if any(v != TOP for v in cols[-1]):
            cols.append(tuple(TOP for _ in cols[0]))
            object.__setattr__(self, "levels", tuple(cols))
        maps = tuple(dict(zip(cols[0], col)) for col in cols)
        object.__setattr__(self, "_maps", maps)

    @property
    def n_levels(self) -> int:
        return len(self.levels)

    @property
    def values(self) -> tuple[str, ...]:
        return self.levels[0]

    def generalize(self, values: pd.Series, level: int) -> pd.Series:
        level = min(level, self.n_levels - 1)
        if level == self.n_levels - 1:
            return _top(values)
        if level == 0:
            return values.astype("string").fillna(TOP).astype("category")
        # Values outside the table have no known parent: suppress them rather than guess.
        return _map_categorical(values, self._maps[level], TOP)

    def ordinal(self, values: pd.Series) -> np.ndarray:
        # Order values by their path from the top so neighbours share parents.
        paths = sorted(range(len(self.levels[0])), key=lambda i: tuple(lv[i] for lv in reversed(self.levels)))
        rank = {self.levels[0][i]: r for r, i in enumerate(paths)}
        cat = values.astype("string").astype("category")
        lut = np.array([rank.get(str(c), np.nan) for c in cat.cat.categories], dtype="float64")
        codes = cat.cat.codes.to_numpy()
        return np.where(codes >= 0, lut[np.clip(codes, 0, None)] if len(lut) else np.nan, np.nan)

    @classmethod
    def from_csv(cls, path: str | Path, sep: str = ";") -> MappingHierarchy:
        """Read an ARX hierarchy file: no header, one row per value, most specific level first."""
        table = pd.read_csv(path, sep=sep, header=None, dtype=str, keep_default_na=False)
        return cls(tuple(tuple(table[c].tolist()) for c in table.columns))

    @classmethod
    def from_groups(cls, groups: Mapping[str, Sequence[str]]) -> MappingHierarchy:
        """Two-level grouping ``{group: [values]}``: value -> group -> ``*``."""
        vals, grp = [], []
        for g, members in groups.items():
            for m in members:
                vals.append(str(m))
                grp.append(str(g))
        return cls((tuple(vals), tuple(grp), tuple(TOP for _ in vals)))


@dataclass(frozen=True)
class FlatHierarchy:
    """Any value -> ``*``: for categorical QIs without a grouping."""

    @property
    def n_levels(self) -> int:
        return 2

    def generalize(self, values: pd.Series, level: int) -> pd.Series:
        if level <= 0:
            return values.astype("string").fillna(TOP).astype("category")
        return _top(values)

    def ordinal(self, values: pd.Series) -> np.ndarray:
        cat = values.astype("string").astype("category")
        return cat.cat.codes.to_numpy().astype("float64")


Hierarchy = IntervalHierarchy | PrefixHierarchy | MappingHierarchy | FlatHierarchy


def hierarchy_from_spec(spec: Mapping, base_dir: Path | None = None) -> Hierarchy:
    """Build a hierarchy from its YAML/dict form (``type: interval|prefix|mapping|groups|flat``)."""
    kind = spec.get("type", "flat")
    if kind == "interval":
        return IntervalHierarchy(
            widths=tuple(int(w) for w in spec.get("widths", (5, 10, 20))),
            top_code=spec.get("top_code", 90),
            lower=float(spec.get("lower", 0)),
        )
    if kind == "prefix":
        return PrefixHierarchy(lengths=tuple(int(n) for n in spec.get("lengths", (5, 3, 1))))
    if kind == "groups":
        return MappingHierarchy.from_groups(spec["groups"])
    if kind == "mapping":
        if "file" in spec:
            path = Path(spec["file"])
            if base_dir is not None and not path.is_absolute():
                path = base_dir / path
            return MappingHierarchy.from_csv(path, sep=spec.get("sep", ";"))
        return MappingHierarchy(tuple(tuple(str(v) for v in col) for col in spec["levels"]))
    if kind == "flat":
        return FlatHierarchy()
    raise ValueError(f"unknown hierarchy type {kind!r} (use interval, prefix, mapping, groups or flat)")
