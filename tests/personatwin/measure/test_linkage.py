"""The simulated attacks (DESIGN §5) on hand-made releases where the answer is known exactly.

External linkage: the attacker knows a target's true QIs and m true events (type, date); the
candidates are the personas consistent with that knowledge; success is 1 / (people in the
candidates) when the true persona is among them, else 0. Event-pattern concentration: the share of
targets whose m events alone leave exactly one candidate persona (their own).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from personatwin.core.domains import get_domain
from personatwin.measure import linkage
from personatwin.measure.linkage import AttackInputs, simulate
from personatwin.protect.noise import period_start
from personatwin.protect.personas import PersonaAttributes

DOMAIN = get_domain("criminal_justice")
ARREST = 0  # event type codes (the same in truth and release)
HEARING = 1


def attack_inputs(ages, sexes, person_persona, published, levels, events=(), released=None, precision="month"):
    """Truth (people, events) and release (persona labels, re-attributed events) for ``simulate``.

    ``published``: (age label, sex label) per persona; ``levels``: their hierarchy levels.
    ``events``: (person, type code, "YYYY-MM-DD"); ``released``: released period per event
    (default: the true date's period, i.e. no shift).
    """
    person_persona = np.asarray(person_persona, dtype=np.int64)
    people = pd.DataFrame({"age": pd.array(ages, dtype="Int64"), "sex": pd.array(sexes, dtype="string")})
    size = np.bincount(person_persona)
    table = pd.DataFrame({"size": size, "age": pd.array([p[0] for p in published], dtype="string"),
                         "sex": pd.array([p[1] for p in published], dtype="string")})
    attrs = PersonaAttributes(table, pd.DataFrame(levels, columns=["age", "sex"]), ("age", "sex"))
    ev_person = np.array([e[0] for e in events], dtype=np.int64)
    ev_type = np.array([e[1] for e in events], dtype=np.int64)
    ev_date = np.array([e[2] for e in events], dtype="datetime64[D]")
    rel_period = (period_start(ev_date, precision) if released is None
                  else np.array(released, dtype="datetime64[D]"))
    return AttackInputs(people=people, person_persona=person_persona, attributes=attrs, event_person=ev_person,
                        event_type_code=ev_type, event_date=ev_date, released_persona=person_persona[ev_person],
                        released_type_code=ev_type, released_period=rel_period, precision=precision)


def run(inp, m=1, use_qis=True, n_targets=1000, seed=0):
    return simulate(inp, DOMAIN, m, n_targets, np.random.default_rng(seed), use_qis=use_qis)


def test_unique_personas_success_is_one_over_size() -> None:
    # persona 0: 3 women aged 20-24; persona 1: 5 men aged 30-34; the QIs single out each persona
    inp = attack_inputs([20, 21, 22, 30, 31, 32, 33, 34], ["F"] * 3 + ["M"] * 5, [0, 0, 0, 1, 1, 1, 1, 1],
                        [("20-24", "F"), ("30-34", "M")], [(1, 0), (1, 0)])
    res = run(inp)
    assert res.n_targets == 8 and res.mean_candidates == 1.0
    assert res.mean == pytest.approx((3 * (1 / 3) + 5 * (1 / 5)) / 8)  # = #personas / n = 0.25
    assert res.ci_low <= res.mean <= res.ci_high
    # the QIs alone do not count for the event-pattern measure: no events, no one singled out
    assert run(inp, use_qis=False).mean == 0.0


def test_identical_personas_success_is_one_over_n() -> None:
    inp = attack_inputs([20, 21, 22, 23, 24, 20, 21, 22], ["F"] * 8, [0, 0, 0, 1, 1, 1, 1, 1],
                        [("20-24", "F"), ("20-24", "F")], [(1, 0), (1, 0)])
    res = run(inp)
    assert res.mean == pytest.approx(1 / 8) and res.ci_low == pytest.approx(1 / 8) == res.ci_high
    assert res.mean_candidates == 2.0
    # sampled targets: still exactly 1/n for each of them
    sampled = run(inp, n_targets=3, seed=4)
    assert sampled.n_targets == 3 and sampled.mean == pytest.approx(1 / 8)


def test_known_events_narrow_the_candidates() -> None:
    # identical QIs; every member of persona 0 has an arrest in January 2024; persona 1 has no events
    events = [(0, ARREST, "2024-01-03"), (1, ARREST, "2024-01-15"), (2, ARREST, "2024-01-30")]
    inp = attack_inputs([20, 21, 22, 23, 24, 20, 21, 22], ["F"] * 8, [0, 0, 0, 1, 1, 1, 1, 1],
                        [("20-24", "F"), ("20-24", "F")], [(1, 0), (1, 0)], events)
    # persona 0's members: candidates {0} -> 1/3; persona 1's members know no event: {0, 1} -> 1/8
    assert run(inp).mean == pytest.approx((3 * (1 / 3) + 5 * (1 / 8)) / 8)
    # event patterns alone single out persona 0's three members and no one else
    assert run(inp, use_qis=False).mean == pytest.approx(3 / 8)
    # an event type the persona has in the right month but of another type does not match
    other = attack_inputs([20, 21, 22, 23, 24, 20, 21, 22], ["F"] * 8, [0, 0, 0, 1, 1, 1, 1, 1],
                          [("20-24", "F"), ("20-24", "F")], [(1, 0), (1, 0)],
                          events + [(3, HEARING, "2024-01-03")])
    # person 3 (persona 1) knows a hearing: persona 1 only -> 1/5; persona 0 members: {0} -> 1/3;
    # persons 4-7 know nothing -> 1/8
    assert run(other).mean == pytest.approx((3 * (1 / 3) + 1 / 5 + 4 * (1 / 8)) / 8)


def test_known_events_count_with_multiplicity() -> None:
    # person 0 (persona 0) has two January arrests; person 3 (persona 1) has one
    events = [(0, ARREST, "2024-01-03"), (0, ARREST, "2024-01-20"), (3, ARREST, "2024-01-10")]
    inp = attack_inputs([20, 21, 22, 23, 24, 20, 21, 22], ["F"] * 8, [0, 0, 0, 1, 1, 1, 1, 1],
                        [("20-24", "F"), ("20-24", "F")], [(1, 0), (1, 0)], events)
    # m=2: person 0 knows two arrests, which only persona 0 has -> 1/3; person 3 knows one -> both
    # personas -> 1/8; the six others know nothing -> 1/8
    assert run(inp, m=2).mean == pytest.approx((1 / 3 + 7 * (1 / 8)) / 8)
    # m=1: person 0 knows one arrest; both personas have one -> 1/8 for everyone
    assert run(inp, m=1).mean == pytest.approx(1 / 8)


def test_true_persona_not_among_the_candidates_gives_zero() -> None:
    # persona 0's arrests happened on 31 January but were released in February (a date shift);
    # persona 1's arrests were released in January. An attacker who knows the true date looks for
    # January: only persona 1 matches, so persona 0's members are not found (success 0).
    events = [(i, ARREST, "2024-01-31") for i in range(3)] + [(i, ARREST, "2024-01-10") for i in range(3, 8)]
    released = ["2024-02-01"] * 3 + ["2024-01-01"] * 5
    inp = attack_inputs([20, 21, 22, 23, 24, 20, 21, 22], ["F"] * 8, [0, 0, 0, 1, 1, 1, 1, 1],
                        [("20-24", "F"), ("20-24", "F")], [(1, 0), (1, 0)], events, released)
    assert run(inp).mean == pytest.approx((3 * 0 + 5 * (1 / 5)) / 8)


def test_published_levels_decide_consistency() -> None:
    # persona 0 publishes age 20-24 (level 1); persona 1 publishes age * (top level): it is
    # consistent with every target, persona 0 only with targets aged 20-24.
    ages = [20, 22, 24, 22, 50, 60, 70, 23]
    inp = attack_inputs(ages, ["F"] * 8, [0, 0, 0, 1, 1, 1, 1, 1], [("20-24", "F"), ("*", "F")], [(1, 0), (4, 0)])
    # aged 20-24 (persons 0-3 and 7): candidates {0, 1} -> 1/8; aged 50+ (persons 4-6): {1} -> 1/5
    assert run(inp).mean == pytest.approx((5 * (1 / 8) + 3 * (1 / 5)) / 8)
    # sex published at level 0 excludes the other sex entirely
    inp2 = attack_inputs([20, 21, 22, 23, 24, 20, 21, 22], ["F", "F", "F", "M", "M", "M", "M", "M"],
                         [0, 0, 0, 1, 1, 1, 1, 1], [("20-24", "F"), ("20-24", "M")], [(1, 0), (1, 0)])
    assert run(inp2).mean == pytest.approx(2 / 8)


def test_empty_release() -> None:
    inp = attack_inputs([], [], [], [], [])
    res = run(inp)
    assert (res.mean, res.n_targets) == (0.0, 0)


# --- the release's attack cells without release-ordered copies (issue 18: 100M events in memory) ---------------


def _a_pass(n_people: int = 2500, seed: int = 4, domain: str = "criminal_justice"):
    from personatwin.core.domains import get_domain
    from personatwin.core.keys import ReleaseKey
    from personatwin.core.policy import policy_for_level
    from personatwin.ingest import synth
    from personatwin.protect.prepared import PassContext, prepare
    from personatwin.protect.stages import merge_stage, noise_stage

    s = synth.generate(domain, n_people, seed=seed)
    ctx = PassContext(prepare(s.people, s.events, get_domain(domain)), policy_for_level("high"),
                      ReleaseKey("release-cells-test-key-00000000001"), "2024-01", bucket_people=500)
    merged = merge_stage(ctx)
    return ctx, merged, noise_stage(ctx, merged)


def assert_same_fields(a, b) -> None:
    """Two dataclass instances field by field, arrays element by element."""
    import dataclasses

    for f in dataclasses.fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            np.testing.assert_array_equal(x, y, err_msg=f.name)
        else:
            assert x == y, f.name


def test_release_cells_equal_the_cells_of_the_release_ordered_events():
    import dataclasses

    from personatwin.measure.assess import release_cells

    ctx, merged, noised = _a_pass()
    data, order = ctx.data, noised.order
    assert noised.detail_released.max() > 0  # end periods, amounts and locations make details
    full = linkage.AttackInputs(
        people=data.people, person_persona=merged.person_persona, attributes=merged.attributes,
        event_person=data.event_person, event_type_code=data.type_codes, event_date=data.event_day,
        released_persona=noised.ev_persona[order], released_type_code=data.type_codes[order],
        released_period=noised.starts[order], precision=ctx.policy.date_precision, released_sorted=True,
        period_values=noised.period_values, event_detail=noised.detail_true,
        released_detail=noised.detail_released[order])
    for m in (1, 3, 6):
        assert_same_fields(linkage.released_cells(full, m), release_cells(data, noised, m))
    # inputs without the released events refuse to make cells (the attacks must be given them)
    bare = dataclasses.replace(full, released_persona=None, released_type_code=None, released_period=None,
                               released_detail=None)
    with pytest.raises(ValueError, match="hold no released events"):
        linkage.released_cells(bare, 3)
    a = linkage.simulate(full, data.domain, 3, 300, np.random.default_rng(5), released=linkage.released_cells(full, 3))
    b = linkage.simulate(bare, data.domain, 3, 300, np.random.default_rng(5), released=release_cells(data, noised, 3))
    assert_same_fields(a, b)
    assert 0 < a.mean < 1


def test_first_occurrences_count_each_persona_cell_wherever_its_rows_are():
    """Rows grouped by persona only (the release's order: outcomes and details interleave a persona's rows of one
    cell): every (persona, cell)'s first m occurrences, as the vectorized form over rows sorted by both gives."""
    from personatwin.measure.runs import first_occurrences

    rng = np.random.default_rng(1)
    persona = np.sort(rng.integers(0, 40, 5000))
    cell = rng.integers(0, 6, 5000)  # not sorted inside a persona
    for m in (1, 2, 5, 10_000):
        want = linkage.cells_of(persona, cell, np.arange(1), 1, 6, m, False)
        got = first_occurrences(persona, cell, m)
        assert sorted(zip(*got)) == sorted(zip(want.persona, want.cell, want.occurrence))
        order = rng.permutation(len(persona))  # the same rows read through an order
        got = first_occurrences(persona[order], cell[order], m, np.argsort(order))
        assert sorted(zip(*got)) == sorted(zip(want.persona, want.cell, want.occurrence))
    assert all(len(a) == 0 for a in first_occurrences(np.zeros(0, np.int64), np.zeros(0, np.int64), 3))
    # the same cell of the next persona starts again at 0; a cell's rows apart still count on
    np.testing.assert_array_equal(first_occurrences(np.array([1, 1, 1, 2, 2]), np.array([4, 4, 4, 4, 5]), 2)[2],
                                  [0, 1, 0, 0])
    got = first_occurrences(np.array([1, 1, 1, 1]), np.array([4, 5, 4, 4]), 3)
    assert sorted(zip(*(a.tolist() for a in got))) == [(1, 4, 0), (1, 4, 1), (1, 4, 2), (1, 5, 0)]


@pytest.mark.parametrize("domain", ["criminal_justice", "healthcare"])
def test_release_cells_count_every_occurrence_of_a_pass(domain):
    """Regression: the release's cells were counted by runs of adjacent rows, so a persona's second event in a cell
    after a row of another outcome or detail was lost (245 of 67k triples at 7,000 people, high): the attack then
    needed a bit the true persona lacked and under-measured linkage."""
    from personatwin.measure.assess import release_cells

    ctx, merged, noised = _a_pass(3000, seed=11, domain=domain)
    data, m = ctx.data, ctx.policy.attacker_knowledge
    got = release_cells(data, noised, m)
    periods = np.asarray(noised.period_values, dtype=np.int64)
    D = got.n_details
    rcell = linkage.cell_codes(data.type_codes, linkage.days(noised.starts), noised.detail_released, periods, D)
    want = linkage.cells_of(noised.ev_persona, rcell, periods, D, int(data.type_codes.max()) + 1, m, False)
    assert sorted(zip(got.persona, got.cell, got.occurrence)) == sorted(zip(want.persona, want.cell,
                                                                            want.occurrence))
    assert (want.occurrence > 0).any()


def test_released_bits_are_the_bits_of_the_listed_pairs():
    """``attack_bits`` sets the released occurrences' bits in a compiled pass: the same matrix as listing every
    (row, persona) pair of an occurrence whose (cell, occurrence) key a known event needs."""
    from personatwin.measure.assess import release_cells

    ctx, merged, noised = _a_pass(3000, seed=9)
    cells = release_cells(ctx.data, noised, 3)
    rng = np.random.default_rng(3)
    targets = np.sort(rng.choice(ctx.data.n_people, 400, replace=False))
    inputs = AttackInputs(
        people=ctx.data.people, person_persona=merged.person_persona, attributes=merged.attributes,
        event_person=ctx.data.event_person, event_type_code=ctx.data.type_codes, event_date=ctx.data.event_day,
        released_persona=None, released_type_code=None, released_period=None, precision=ctx.policy.date_precision,
        released_sorted=True, period_values=noised.period_values, event_detail=noised.detail_true)
    known = linkage.known_events(inputs, targets, 3, rng)
    n_personas = int(merged.person_persona.max()) + 1
    row_known, per_qi, bits, n_rows = linkage.attack_bits(inputs, ctx.data.domain, 3, targets, known, n_personas,
                                                          cells)
    _, needed = linkage._known_rows(cells, known, 3)
    key = cells.cell * 3 + cells.occurrence
    pos = np.searchsorted(needed, key)
    ok = pos < len(needed)
    ok[ok] = needed[pos[ok]] == key[ok]
    _, qi_pairs, _ = linkage._qi_rows(inputs, ctx.data.domain, targets, len(needed))
    pairs = np.concatenate([np.column_stack([pos[ok], cells.persona[ok]]), qi_pairs])
    want = linkage._build_bits(pairs[:, 0], pairs[:, 1], n_rows, n_personas)
    assert ok.sum() > 1000 and np.array_equal(bits, want)
