"""Property-based tests of the DESIGN §7 guarantees 1-4 over generated people-events data sets.

All four are checked on the same 200 generated data sets (0-150 people, 0-8 events each, QIs
from the criminal_justice vocabulary, many tied events) with a random policy (k in {2, 3, 5},
date precision, PRAM p, target risk in [0.01, 1], l, m, location and age levels, date shift,
top-coding). One ``make_release`` per data set serves all four checks, which keeps the file at
about 75-80 s on two cores (a protection pass costs about 70 ms whatever the size, so 200 data
sets per property in separate tests would take well over 90 s).

1. k or no release: ``make_release`` either returns a release whose personas all have k'..2k'-1
   members (k' = the released policy's k >= the requested k; k' <= n), whose k-anonymity,
   population average risk and l-diversity, recomputed here from the released tables, meet the
   policy, and whose release risk is within the target; or it raises ``PrivacyTargetError`` /
   ``UtilityGateError`` / ``TooFewPeopleError`` (the last exactly when n < k).
2. conservation: every valid event released exactly once, per event type x period at the released
   precision; persona sizes sum to n; every event's persona exists.
3. no identifier, no over-precise date: only the published columns; no person_id value anywhere;
   every date the start of its period; every persona QI / event location a hierarchy label at or
   above the released policy's level.
4. determinism: same input + same key -> byte-identical tables, whatever the input row order;
   different key -> different noise (see ``check_key_drives_noise`` for what exactly). The grouping
   may depend on the key: the l-diversity repair swaps members on the keyed PRAM-released values
   (``repair_diversity``), so a persona published as ``0-19`` under one key can be ``*`` under
   another. What holds for any key is checked on the other key's pass too (``check_any_key``).
"""

from __future__ import annotations

import os
import re
import warnings
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from personatwin.core.domains import get_domain
from personatwin.core.errors import PrivacyTargetError, TooFewPeopleError, UtilityGateError
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import DATE_PRECISIONS, PrivacyPolicy
from personatwin.protect.noise import period_label, period_start, pram_matrix
from personatwin.protect.prepared import PassContext, prepare
from personatwin.protect.stages import merge_stage, noise_stage
from personatwin.release.one_pass import protect
from personatwin.release.release import make_release

DOMAIN = get_domain("criminal_justice")
RACES = DOMAIN.hierarchy("race").values
SEXES = ("F", "M", "X")
TYPES = tuple(DOMAIN.event_types)
ZIP_POOL = ("10001", "10002", "10017", "10101", "11201", "20001", "20002", "94110", "94117", "60601")
KEY = ReleaseKey("property-test-release-key-0001")
OTHER_KEY = ReleaseKey("property-test-release-key-0002")
SALT = "2024-03"

# 80 examples of a whole release each in a run; PERSONATWIN_EXAMPLES_SCALE=3 gives the 240 of a deep run
SCALE = max(1, int(os.environ.get("PERSONATWIN_EXAMPLES_SCALE", "1")))
PROPERTY = settings(max_examples=80 * SCALE, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PERSONA_COLUMNS = {"persona_id", "size", *DOMAIN.qis}
EVENT_COLUMNS = {"persona_id", "event_type", "event_date", "event_period", "end_date", "outcome", "location", "value"}
SENSITIVE_COLUMNS = {"persona_id", "attribute", "value", "count"}


@pytest.fixture(autouse=True)
def _quiet_numpy():
    # Empty inputs make numpy warn about means of empty slices; they are not failures.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# ------------------------------------------------------------------------------------------------
# Strategies
# ------------------------------------------------------------------------------------------------


@st.composite
def datasets(draw, max_people: int = 150, max_events: int = 8, value_modes=("unique", "unique", "pool", "missing")):
    """(people, events, value_mode): valid tables as ``validate`` produces them.

    People columns come from hypothesis lists (so they shrink); the events are drawn with numpy
    from a hypothesis seed (fast), with many ties on (person, day, type, outcome) on purpose.
    """
    n = draw(st.integers(0, max_people))

    def column(lo: int, hi: int):
        return draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))

    age = column(0, 100)
    sex = column(0, len(SEXES) - 1)
    race = column(0, len(RACES) - 1)
    zips = draw(st.lists(st.one_of(st.sampled_from(ZIP_POOL), st.integers(0, 99_999).map("{:05d}".format)),
                         min_size=n, max_size=n))
    n_events = np.asarray(column(0, max_events), dtype=np.int64)
    seed = draw(st.integers(0, 2**32 - 1))
    start = np.datetime64("2015-01-01") + np.timedelta64(draw(st.integers(0, 3650)), "D")
    span = draw(st.integers(0, 1500))  # days: 0 = every event on one day (maximal ties)
    with_end = draw(st.booleans())
    value_mode = draw(st.sampled_from(value_modes))

    rng = np.random.default_rng(seed)
    pid = np.array([f"pid-{rng.integers(16**8):08x}-{i}" for i in range(n)], dtype=object)
    people = pd.DataFrame({
        "person_id": pd.array(pid, dtype="string"),
        "age": pd.array(age, dtype="Int64"),
        "sex": pd.array(np.asarray(SEXES, dtype=object)[sex] if n else [], dtype="string"),
        "race": pd.array(np.asarray(RACES, dtype=object)[race] if n else [], dtype="string"),
        "zip": pd.array(zips, dtype="string"),
    })
    person = np.repeat(np.arange(n), n_events)
    m = len(person)
    etype = rng.integers(0, len(TYPES), m)
    outcome = np.array([DOMAIN.event_types[TYPES[t]][rng.integers(len(DOMAIN.event_types[TYPES[t]]))] for t in etype],
                       dtype=object)
    day = start + rng.integers(0, span + 1, m).astype("timedelta64[D]")
    own_zip = np.asarray(zips, dtype=object)[person] if m else np.zeros(0, dtype=object)
    location = np.where(rng.random(m) < 0.7, own_zip,
                        np.asarray(ZIP_POOL, dtype=object)[rng.integers(0, len(ZIP_POOL), m)])
    if value_mode == "unique":
        value = 10.0 * (np.arange(m) + 1)  # distinct values that survive rounding to 10
    elif value_mode == "pool":
        value = rng.choice([0.0, 10.0, 25.0, 100.0, np.nan], m)
    else:
        value = np.full(m, np.nan)
    events = pd.DataFrame({
        "person_id": pd.array(pid[person] if m else [], dtype="string"),
        "event_type": pd.array(np.asarray(TYPES, dtype=object)[etype] if m else [], dtype="string"),
        "event_date": day.astype("datetime64[s]"),
        "outcome": pd.array(outcome, dtype="string"),
        "location": pd.array(location.astype(object) if m else [], dtype="string"),
        "value": value.astype(np.float64),
    })
    if with_end:
        end = day + rng.integers(0, 400, m).astype("timedelta64[D]")
        end = np.where(rng.random(m) < 0.3, np.datetime64("NaT"), end)
        events.insert(3, "end_date", end.astype("datetime64[s]"))
    return people, events, value_mode


policies = st.builds(
    PrivacyPolicy,
    k=st.sampled_from([2, 3, 5]),
    date_precision=st.sampled_from(DATE_PRECISIONS),
    location_level=st.integers(0, 3),
    qi_levels=st.fixed_dictionaries({"age": st.integers(0, 2)}),
    pram_p=st.integers(0, 4).flatmap(lambda i: st.just(1.0) if i == 0 else st.floats(0.5, 0.95)),
    attacker_knowledge=st.integers(1, 3),
    l_diversity=st.sampled_from([1, 2]),
    # half the draws over the whole range, half over [0.3, 1]: long ladders (low targets on small
    # data sets cost 5-11 passes) stay common enough to exercise the loop, rare enough for the budget
    target_risk=st.one_of(st.floats(0.01, 1.0), st.floats(0.3, 1.0)),
    date_shift_days=st.sampled_from([0, 0, 0, 10]),
    value_top_code_quantile=st.sampled_from([1.0, 1.0, 0.99]),
)


# ------------------------------------------------------------------------------------------------
# Independent computations on released tables
# ------------------------------------------------------------------------------------------------


def equivalence_classes(personas: pd.DataFrame) -> pd.Series:
    """People per published QI tuple (plain pandas, from the released personas table only)."""
    return personas.groupby(list(DOMAIN.qis), dropna=False, observed=True)["size"].sum()


def allowed_labels(values: pd.Series, qi: str, from_level: int) -> set[str]:
    """Every label the hierarchy of ``qi`` gives the input values at ``from_level`` or coarser."""
    h = DOMAIN.hierarchy(qi)
    distinct = pd.Series(pd.unique(values.astype(str)), dtype="string")
    out: set[str] = set()
    for lv in range(min(from_level, h.n_levels - 1), h.n_levels):
        out |= set(h.generalize(distinct, lv).astype(str))
    return out


def start_level(policy: PrivacyPolicy, qi: str) -> int:
    if qi == DOMAIN.location_qi:
        return max(policy.location_level, policy.qi_level(qi))
    return policy.qi_level(qi)


def check_k_or_nothing(people, events, policy, release) -> None:
    """Guarantee 1 on a returned release."""
    n = len(people)
    final = release.policy
    personas = release.personas.table
    sizes = personas["size"].to_numpy()
    # exact merge guarantee: k'..2k'-1 members, k' the released k, requested k <= k' <= n
    assert policy.k <= final.k <= n
    assert sizes.min() >= final.k and sizes.max() <= 2 * final.k - 1, (final.k, sizes.min(), sizes.max())
    # the targets are not relaxed by the loop
    assert (final.target_risk, final.l_diversity) == (policy.target_risk, policy.l_diversity)
    ec = equivalence_classes(personas)
    assert int(ec.min()) >= final.k >= policy.k
    assert release.risk.k_anonymity == int(ec.min())
    assert release.risk.n_equivalence_classes == len(ec)
    assert release.risk.population_average_risk == len(ec) / n
    assert release.risk.population_average_risk <= policy.target_risk
    assert release.risk.external_linkage_risk <= policy.target_risk
    assert release.release_risk <= policy.target_risk
    # l-diversity and t-closeness on true outcomes per event type (issue 11): NaN where no persona holds
    # k events of any type; else at least the policy's l, and t within the policy's limit
    if len(release.events) == 0:
        assert np.isnan(release.risk.l_diversity_distinct)
    elif not np.isnan(release.risk.l_diversity_distinct):
        assert release.risk.l_diversity_distinct >= policy.l_diversity
        if policy.max_t_closeness is not None:
            assert release.risk.t_closeness <= policy.max_t_closeness + 1e-12
    assert release.utility.gates_passed


def check_conservation(people, events, release) -> None:
    """Guarantee 2."""
    personas, rel = release.personas.table, release.events
    precision = release.policy.date_precision
    assert len(rel) == len(events)
    assert int(personas["size"].sum()) == len(people)
    assert personas["persona_id"].is_unique
    assert set(rel["persona_id"].astype(str)) <= set(personas["persona_id"].astype(str))
    by_type = lambda df: df["event_type"].astype(str).value_counts().sort_index()
    pd.testing.assert_series_equal(by_type(rel), by_type(events), check_names=False)
    if release.policy.date_shift_days == 0:
        orig = pd.DataFrame({"event_type": events["event_type"].astype(str),
                             "period": period_start(events["event_date"].to_numpy(), precision)})
        out = pd.DataFrame({"event_type": rel["event_type"].astype(str),
                            "period": rel["event_date"].to_numpy().astype("datetime64[D]")})
        count = lambda df: df.value_counts().sort_index()
        pd.testing.assert_series_equal(count(out), count(orig), check_names=False)
    # PRAM draws an outcome of the event's own type only
    for t, outs in rel.groupby(rel["event_type"].astype(str))["outcome"]:
        assert set(outs.astype(str)) <= set(events.loc[events["event_type"] == t, "outcome"].astype(str))


def check_no_identifiers(people, events, release) -> None:
    """Guarantee 3."""
    personas, rel, sens = release.personas.table, release.events, release.sensitive
    policy = release.policy
    banned = {"person_id", *DOMAIN.direct_identifiers}
    assert set(personas.columns) <= PERSONA_COLUMNS and not banned & set(personas.columns)
    assert set(rel.columns) <= EVENT_COLUMNS and not banned & set(rel.columns)
    assert set(sens.columns) <= SENSITIVE_COLUMNS
    ids = set(people["person_id"].astype(str))
    for table in (personas, rel, sens):
        for col in table.columns:
            assert not ids & set(table[col].astype(str)), f"a person_id value leaked into column {col}"
    # dates: never finer than the released precision
    precision = policy.date_precision
    assert rel["event_date"].dtype == "datetime64[s]"
    d = rel["event_date"].to_numpy().astype("datetime64[D]")
    assert (d == period_start(d, precision)).all()
    assert (rel["event_period"].astype(str).to_numpy() == period_label(d, precision)).all()
    if "end_date" in rel.columns:
        e = rel["end_date"].to_numpy().astype("datetime64[D]")
        ok = np.isnat(e) | (e == period_start(e, precision))
        assert ok.all()
        # end dates travel with the outcome (joint PRAM within an event type): a type whose input events
        # all have (or all lack) an end date keeps it that way; the totals may move between types' events
        for etype, part in events.groupby(events["event_type"].astype(str)):
            released = rel.loc[rel["event_type"].astype(str) == etype, "end_date"]
            if part["end_date"].notna().all():
                assert released.notna().all(), etype
            if part["end_date"].isna().all():
                assert released.isna().all(), etype
    # persona QIs: hierarchy labels at or above the released policy's start level
    for qi in DOMAIN.qis:
        labels = set(personas[qi].astype(str))
        assert labels <= allowed_labels(people[qi], qi, start_level(policy, qi)), qi
    if policy.qi_level("age") > 0:
        assert not any(re.fullmatch(r"\d+", a) for a in personas["age"].astype(str)), "exact age published"
    if start_level(policy, "zip") > 0:
        assert not any(re.fullmatch(r"\d{5}", z) for z in personas["zip"].astype(str)), "zip5 published"
    # event locations: never finer than the policy's location level
    if len(rel):
        loc = set(rel["location"].astype(str))
        assert loc <= allowed_labels(events["location"], "zip", policy.location_level)
        if policy.location_level > 0:
            assert not any(re.fullmatch(r"\d{5}", z) for z in loc)


# ------------------------------------------------------------------------------------------------
# Property 4 helpers: the key drives all randomness; nothing else does
# ------------------------------------------------------------------------------------------------


def parquet(df: pd.DataFrame) -> bytes:
    return df.to_parquet(index=False)


def assert_identical(a, b) -> None:
    """Byte-identical release tables (Parquet bytes) and identical risk and utility figures."""
    for name in ("personas", "events", "sensitive"):
        assert parquet(getattr(a, name)) == parquet(getattr(b, name)), f"{name} differ"
    ra, rb = a.risk.as_dict(), b.risk.as_dict()
    assert ra.keys() == rb.keys()
    for k in ra:
        assert ra[k] == rb[k] or (ra[k] != ra[k] and rb[k] != rb[k]), k  # NaN == NaN here
    pd.testing.assert_frame_equal(a.utility.group_rates, b.utility.group_rates)


def shuffled(df: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    out = df.iloc[rng.permutation(len(df))].reset_index(drop=True)
    return out[list(rng.permutation(df.columns))]  # column order is not significant either


def check_any_key(people, events, other) -> None:
    """The guarantees of one pass that hold whatever the key, on a pass under another key: persona
    sizes k'..2k'-1 (k' = its policy's k), hence k-anonymity; conservation (2); no identifier or
    over-precise value (3). Not the release risk or l-diversity: the privacy loop checks those for
    the key it releases with."""
    k = other.policy.k
    sizes = other.personas.table["size"].to_numpy()
    assert sizes.min() >= k and sizes.max() <= 2 * k - 1, (k, sizes.min(), sizes.max())
    assert int(equivalence_classes(other.personas.table).min()) >= k
    check_conservation(people, events, other)
    check_no_identifiers(people, events, other)


def check_key_drives_noise(people, events, value_mode, policy, reference, order_seed) -> None:
    """Guarantee 4 at the released configuration.

    * same input + same key -> byte-identical personas, events and sensitive tables and identical
      figures, also when people and event rows (and columns) are shuffled: a fresh ``protect`` pass
      on the shuffled input must equal ``reference`` (the release);
    * a different key (the merge and noise stages run with it) -> different noise, tested on
      exactly: (a) persona ids: no id in common; (b) outcomes: the noise stage under each key gives
      the released outcome of every input event in the canonical order (which no key changes), and
      at least one event must have a different released outcome whenever the chance that two
      independent PRAM draws agree on every event, prod_e sum_o P(o | e)^2 with
      P(o | e) = p [o = true_e] + (1 - p) pi(type_e, o), is below 1e-9; with p = 1 both equal the
      true outcomes. The grouping may differ (the l-diversity repair swaps members on the keyed
      released values), and with it the persona QIs and the event locations (never finer than the
      persona's location); the events' types, dates and periods do not depend on the key (no date
      shift here); end dates and values travel with the randomized outcome (joint PRAM), so they do.
      The other key's pass meets ``check_any_key``.
    """
    rng = np.random.default_rng(order_seed)
    again = protect(PassContext(prepare(shuffled(people, rng), shuffled(events, rng), DOMAIN), policy, KEY, SALT))
    assert_identical(reference, again)

    ctx = PassContext(prepare(people, events, DOMAIN), policy, OTHER_KEY, SALT)
    merged = merge_stage(ctx)  # the stages that draw noise; no figures needed
    noised = noise_stage(ctx, merged)
    other = SimpleNamespace(personas=SimpleNamespace(table=merged.personas), events=noised.events,
                            sensitive=noised.sensitive, policy=policy)
    check_any_key(people, events, other)
    assert not set(reference.personas["persona_id"]) & set(other.personas.table["persona_id"])
    cols = ["size", *DOMAIN.qis]
    strip = lambda df: df[cols].sort_values(cols).reset_index(drop=True)
    event(f"key: grouping {'same' if strip(reference.personas).equals(strip(other.personas.table)) else 'differs'}")
    if policy.date_shift_days == 0:
        keep = [c for c in reference.events.columns
                if c not in ("persona_id", "outcome", "location", "end_date", "value")]
        strip_ev = lambda df: df[keep].astype(str).sort_values(keep).reset_index(drop=True)
        pd.testing.assert_frame_equal(strip_ev(reference.events), strip_ev(other.events))

    if not len(events):
        return
    ref_ctx = PassContext(ctx.data, policy, KEY, SALT)
    oa, ob = noise_stage(ref_ctx, merge_stage(ref_ctx)).outcomes, noised.outcomes  # canonical event order
    data = ctx.data
    if policy.pram_p == 1.0:
        assert (oa == ob).all() and (oa == data.outcome_codes).all()
        event("key: p = 1, outcomes equal the truth under both keys")
        return
    p = policy.pram_p
    pi = pram_matrix(data.type_codes, data.outcome_codes, data.type_names, data.outcome_names, p).matrix
    q = (1 - p) * pi[data.type_codes]
    q[np.arange(len(q)), data.outcome_codes] += p
    log_same = float(np.log((q**2).sum(axis=1)).sum())
    if log_same < np.log(1e-9):
        event("key: outcome difference asserted")
        assert (oa != ob).any(), "a different key gave the same PRAM draws"
    else:
        event("key: too few events to assert an outcome difference")


# ------------------------------------------------------------------------------------------------
# The properties: one make_release per data set, the four guarantees checked on it
# ------------------------------------------------------------------------------------------------


@PROPERTY
@given(data=datasets(), policy=policies, order_seed=st.integers(0, 2**32 - 1))
def test_release_guarantees(data, policy, order_seed) -> None:
    """§7.1-4 over 200 data sets: k or no release (1); events and people conserved (2); no
    identifier or over-precise date (3); the key, and only the key, drives the noise, and the
    guarantees that hold per pass hold under another key too, whose grouping may differ (4).

    One ``make_release`` per data set serves checks 1-3; check 4 compares the release with a fresh
    ``protect`` pass at its released configuration on the shuffled input (a single pass is enough
    there) and with the merge and noise stages run under another key.
    """
    people, events, value_mode = data
    n = len(people)
    try:
        release = make_release(people, events, DOMAIN, policy, KEY, SALT)
    except TooFewPeopleError:
        assert n < policy.k, "TooFewPeopleError although n >= k"
        event("no release: n < k")
        return
    except PrivacyTargetError as exc:
        assert n >= policy.k and exc.history and exc.history[-1].failures
        event("no release: targets unreachable")
        return
    except UtilityGateError as exc:
        assert n >= policy.k and exc.history and not exc.history[-1].failures
        event("no release: utility gate")
        return
    assert n >= policy.k, "released although n < k"
    event(f"released after {release.iterations} iteration(s)")
    note(f"released policy {release.policy.parameters()}")
    check_k_or_nothing(people, events, policy, release)
    check_conservation(people, events, release)
    check_no_identifiers(people, events, release)
    view = SimpleNamespace(personas=release.personas.table, events=release.events, sensitive=release.sensitive,
                           risk=release.risk, utility=release.utility, pram=release.pram)  # named as a pass
    check_key_drives_noise(people, events, value_mode, release.policy, view, order_seed)


# ------------------------------------------------------------------------------------------------
# The same guarantees through the whole privacy loop, on fixed data sets
# ------------------------------------------------------------------------------------------------


def _seeded(n: int, seed: int):
    """A deterministic data set with many tied events (same person, day, type, outcome)."""
    rng = np.random.default_rng(seed)
    pid = np.array([f"pid-{i:05d}-{rng.integers(16**6):06x}" for i in range(n)], dtype=object)
    people = pd.DataFrame({"person_id": pd.array(pid, dtype="string"),
                           "age": pd.array(rng.integers(0, 101, n), dtype="Int64"),
                           "sex": pd.array(rng.choice(SEXES, n), dtype="string"),
                           "race": pd.array(rng.choice(RACES, n), dtype="string"),
                           "zip": pd.array(rng.choice(ZIP_POOL, n), dtype="string")})
    person = np.repeat(np.arange(n), rng.integers(0, 9, n))
    m = len(person)
    etype = rng.integers(0, len(TYPES), m)
    events = pd.DataFrame({
        "person_id": pd.array(pid[person], dtype="string"),
        "event_type": pd.array(np.asarray(TYPES, dtype=object)[etype], dtype="string"),
        "event_date": (np.datetime64("2023-01-01")
                       + rng.integers(0, 20, m).astype("timedelta64[D]")).astype("datetime64[s]"),
        "outcome": pd.array([DOMAIN.event_types[TYPES[t]][0] for t in etype], dtype="string"),
        "location": pd.array(rng.choice(ZIP_POOL, m), dtype="string"),
        "value": rng.choice([10.0, 20.0, np.nan], m),
    })
    return people, events


def test_make_release_is_byte_identical_per_key_and_order_free() -> None:
    """The whole loop (several iterations) is reproducible from the key, whatever the row order."""
    people, events = _seeded(400, 5)
    policy = PrivacyPolicy(k=3, target_risk=0.05, l_diversity=1, pram_p=0.7)
    a = make_release(people, events, DOMAIN, policy, KEY, SALT)
    assert a.iterations > 1  # the loop escalated: the comparison covers the ladder, not one pass
    rng = np.random.default_rng(0)
    b = make_release(shuffled(people, rng), shuffled(events, rng), DOMAIN, policy, KEY, SALT)
    assert parquet(a.personas.table) == parquet(b.personas.table)
    assert parquet(a.events) == parquet(b.events)
    assert parquet(a.sensitive) == parquet(b.sensitive)
    pd.testing.assert_frame_equal(a.history_frame(), b.history_frame())
    c = make_release(people, events, DOMAIN, policy, OTHER_KEY, SALT)
    assert not set(a.personas.table["persona_id"]) & set(c.personas.table["persona_id"])
    assert a.key_fingerprint != c.key_fingerprint


def test_ladder_never_raises_k_past_the_people() -> None:
    """n >= k but an unreachable target: the loop ends with PrivacyTargetError (and its best
    configuration), never with TooFewPeopleError from a k the ladder raised above n."""
    people, events = _seeded(30, 1)
    with pytest.raises(PrivacyTargetError) as info:
        make_release(people, events, DOMAIN, PrivacyPolicy(k=3, target_risk=0.01), KEY, SALT)
    assert info.value.best is not None
    assert max(it.parameters["k"] for it in info.value.history) <= len(people)


@pytest.mark.parametrize("n", [0, 1, 4])
def test_fewer_than_k_people_release_nothing(n: int) -> None:
    people, events = _seeded(n, 2)
    with pytest.raises(TooFewPeopleError, match="fewer than k=5"):
        make_release(people, events, DOMAIN, PrivacyPolicy(k=5), KEY, SALT)
