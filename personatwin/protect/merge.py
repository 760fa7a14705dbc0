"""Merge: microaggregation of people into personas of k..2k-1 members (DESIGN §4).

People are stratified exactly on the QIs (rare strata generalized up their hierarchy, never
dropped), then each stratum is cut by divisive splits along its principal direction, at the cut
that minimizes the halves' squared error (``personatwin.protect.splits``), until every leaf holds fewer than
2k people. Every cut leaves >= k people on each side, so every persona has k..2k-1 members.
O(n log n): the tree is O(log n) deep and each level is a linear pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from personatwin.core.codes import dense_codes
from personatwin.core.domains import Domain
from personatwin.core.errors import TooFewPeopleError
from personatwin.core.schema import EVENT_DATE, EVENT_TYPE, PERSON_ID

EVENT_FEATURE_WEIGHT = 0.5


@dataclass(frozen=True)
class Grouping:
    """Persona membership: ``persona_index[i]`` is the persona (0..n_personas-1) of person i."""

    persona_index: np.ndarray
    n_personas: int
    information_loss: float  # 100 * SSE / SST over the standardized feature vectors
    n_strata: int
    stratum: np.ndarray | None = None  # stratum of each person (personas never cross strata)


def factorize(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes and categories of a column, missing values kept as their own category."""
    codes, cats = pd.factorize(values, use_na_sentinel=False, sort=True)
    return codes.astype(np.int64), pd.Index(cats)


def person_features(people: pd.DataFrame, event_person: np.ndarray, type_codes: np.ndarray, type_names: np.ndarray,
                    event_day: np.ndarray, domain: Domain) -> np.ndarray:
    """Standardized feature matrix: QIs (ordinal) plus an event-pattern summary per person.

    The summary holds log counts per event type and the mean event time, so people grouped together
    also have similar histories. Never outcomes or other sensitive values: grouping on them would make
    personas homogeneous in exactly what must stay diverse (DESIGN §4).
    """
    n = len(people)
    cols: list[np.ndarray] = []
    weights: list[float] = []
    for qi in domain.qis:
        if qi in people.columns:
            cols.append(domain.hierarchy(qi).ordinal(people[qi]))
            weights.append(1.0)
    if len(event_person):
        T = len(type_names)
        counts = np.bincount(event_person * T + type_codes, minlength=n * T).reshape(n, T)
        for t in domain.event_types:
            hit = np.flatnonzero(type_names == t)
            cols.append(np.log1p(counts[:, hit[0]] if len(hit) else np.zeros(n)))
            weights.append(EVENT_FEATURE_WEIGHT)
        total = counts.sum(axis=1)
        days = event_day.astype(np.int64).astype(np.float64)
        mean_day = np.bincount(event_person, weights=days, minlength=n) / np.maximum(total, 1)
        mean_day[total == 0] = np.nan
        cols.append(mean_day)
        weights.append(EVENT_FEATURE_WEIGHT)
    if not cols:
        return np.zeros((n, 1))
    X = np.column_stack(cols).astype(np.float64)
    with np.errstate(all="ignore"):
        mean = np.nanmean(X, axis=0) if n else np.zeros(X.shape[1])
    mean = np.where(np.isnan(mean), 0.0, mean)
    X = np.where(np.isnan(X), mean, X)
    std = X.std(axis=0)
    std[std == 0] = 1.0
    return (X - mean) / std * np.asarray(weights)


def stratification_order(domain: Domain, columns) -> list[str]:
    """QIs to stratify on, in the order they give way: location first, bias attributes last."""
    bias = [a for a in domain.bias_attributes if a in columns]
    others = [q for q in domain.qis if q in columns and q not in bias and q != domain.location_qi]
    loc_qi = domain.location_qi
    loc = [loc_qi] if loc_qi is not None and loc_qi in columns and loc_qi not in bias else []
    return bias + others + loc  # generalized from the end


def strata(people: pd.DataFrame, domain: Domain, levels: dict[str, int], k: int) -> np.ndarray:
    """Stratum id per person: QIs at their policy level, rare strata generalized via hierarchies.

    Strata with fewer than k people move the last QI in ``stratification_order`` one hierarchy
    level up (location first, bias attributes last) until every stratum holds k people; a
    remainder below k joins the smallest stratum (its personas publish the common generalization).
    Personas never cross strata, so published QIs stay as specific as k allows.
    """
    n = len(people)
    attrs = stratification_order(domain, people.columns)
    if not attrs or n == 0:
        return np.zeros(n, dtype=np.int64)
    codes, luts, level = {}, {}, {}
    for a in attrs:
        c, cats = factorize(people[a])
        h = domain.hierarchy(a)
        tables, offset = [], 0
        for lv in range(h.n_levels):
            lab = h.generalize(pd.Series(cats, dtype="object"), lv).astype(str).to_numpy()
            lut = pd.factorize(lab)[0].astype(np.int64)
            tables.append(lut + offset)
            offset += int(lut.max()) + 1 if len(lut) else 1
        codes[a], luts[a] = c, (tables, offset)
        level[a] = np.full(n, min(levels.get(a, 0), h.n_levels - 1), dtype=np.int64)

    def gen(a: str) -> np.ndarray:
        tables, _ = luts[a]
        out = np.empty(n, dtype=np.int64)
        for lv in np.unique(level[a]):
            sel = level[a] == lv
            out[sel] = tables[lv][codes[a][sel]]
        return out

    parts = {a: gen(a) for a in attrs}

    def labels() -> np.ndarray:
        key = np.zeros(n, dtype=np.int64)
        for a in attrs:
            key = key * luts[a][1] + parts[a]
        return dense_codes(key)[0]

    lab = labels()
    n_bias = len([a for a in domain.bias_attributes if a in people.columns])
    for a in reversed(attrs):
        if a in attrs[:n_bias]:
            # every QI after it is as coarse as it goes for the rare people: before this bias attribute gives
            # way, they join a stratum that shares their values of it and of the bias attributes before it
            # (its personas publish the coarser other QIs), so bias labels stay exact wherever k allows
            exact = attrs[:attrs.index(a) + 1]
            group = np.zeros(n, dtype=np.int64)
            for b in exact:
                group = group * luts[b][1] + parts[b]
            moved, into = absorb_within_groups(lab, group, k)
            for b in attrs:  # the moved people take their new stratum's key (labels are rebuilt from it)
                if b not in exact:
                    parts[b][moved] = parts[b][into]
            lab = labels()
        top = domain.hierarchy(a).n_levels - 1
        while True:
            rare = np.bincount(lab)[lab] < k
            if not rare.any():
                return lab
            movable = rare & (level[a] < top)
            if not movable.any():
                break
            level[a][movable] += 1
            parts[a] = gen(a)
            lab = labels()
    sizes = np.bincount(lab)
    rare = sizes[lab] < k
    big = np.flatnonzero(sizes >= k)
    if len(big) == 0:
        return np.zeros(n, dtype=np.int64)
    target = big[np.argmin(sizes[big])]
    lab = np.where(rare, target, lab)
    return dense_codes(lab)[0]


def absorb_within_groups(lab: np.ndarray, group: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """People of strata smaller than k to move into the smallest stratum of at least k of their own group (or,
    when the group has none, into its largest rare stratum, all its rare people together), and for each one
    a member of the stratum it joins.

    Keeps bias-attribute labels exact (issue 13: each bias group's events stay under its own label): a
    remainder left rare at the top of every other QI would otherwise generalize sex or race."""
    sizes = np.bincount(lab)
    rare = sizes[lab] < k
    if not rare.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    member = np.full(len(sizes), -1, dtype=np.int64)
    member[lab] = np.arange(len(lab))  # one member of each stratum
    stratum_group = np.zeros(len(sizes), dtype=np.int64)
    stratum_group[lab] = group  # strata never cross groups here: the group key is part of the stratum key
    table = pd.DataFrame({"stratum": np.arange(len(sizes)), "group": stratum_group, "size": sizes,
                          "rare": sizes < k})
    table = table[table["size"] > 0].assign(neg=lambda t: np.where(t["rare"], -t["size"], t["size"]))
    ordered = table.sort_values(["rare", "neg", "stratum"], kind="stable")  # smallest big, else largest rare
    target = ordered.groupby("group", sort=False)["stratum"].first()
    moved = np.flatnonzero(rare)
    dest = target.reindex(group[moved]).to_numpy(dtype=np.int64)
    keep = dest != lab[moved]
    return moved[keep], member[dest[keep]]


def microaggregate(X: np.ndarray, stratum: np.ndarray, k: int) -> np.ndarray:
    """Group index per row: each stratum cut by principal-direction splits into groups of k..2k-1."""
    n = X.shape[0]
    if n < k:
        raise TooFewPeopleError(f"{n} people, fewer than k={k}: no release is possible")
    from personatwin.protect.splits import principal_splits  # numba: imported on first use only

    return principal_splits(X, stratum, k)


def information_loss(X: np.ndarray, group: np.ndarray) -> float:
    """100 * SSE / SST: share of feature variance lost by replacing people with their group mean."""
    if len(X) == 0:
        return 0.0
    counts = np.bincount(group).astype(np.float64)
    sums = np.column_stack([np.bincount(group, weights=X[:, j]) for j in range(X.shape[1])])
    means = sums / np.maximum(counts, 1)[:, None]
    sse = float(((X - means[group]) ** 2).sum())
    sst = float(((X - X.mean(axis=0)) ** 2).sum())
    return min(100.0, 100.0 * sse / sst) if sst > 0 else 0.0  # one group: sse == sst up to rounding


def features_from_tables(people: pd.DataFrame, events: pd.DataFrame, domain: Domain) -> np.ndarray:
    """``person_features`` straight from a people and an events table (for notebooks and tests)."""
    idx = pd.Index(people[PERSON_ID]).get_indexer(events[PERSON_ID])
    ok = idx >= 0
    type_codes, type_names = factorize(events[EVENT_TYPE].astype(str))
    day = events[EVENT_DATE].to_numpy().astype("datetime64[D]")
    return person_features(people, idx[ok], type_codes[ok], np.asarray(type_names, dtype=object), day[ok], domain)


def group_people(people: pd.DataFrame, events: pd.DataFrame | None, domain: Domain, k: int,
                 levels: dict[str, int] | None = None, features: np.ndarray | None = None) -> Grouping:
    """Microaggregate people into personas of k..2k-1 members."""
    n = len(people)
    if n < k:
        raise TooFewPeopleError(
            f"{n} valid people in this data, fewer than k={k}: no persona of {k} people can be formed, so nothing "
            "is released"
        )
    if features is None:
        features = features_from_tables(people, events, domain) if events is not None else np.zeros((n, 1))
    X = features
    st = strata(people, domain, levels or {}, k)
    leaf = microaggregate(X, st, k)
    return Grouping(persona_index=leaf, n_personas=int(leaf.max()) + 1 if n else 0,
                    information_loss=information_loss(X, leaf), n_strata=int(st.max()) + 1 if n else 0,
                    stratum=st)
