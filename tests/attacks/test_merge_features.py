"""Attack: is the grouping steered by what must stay diverse inside a persona?

Personas are grouped on QIs and event patterns only; if the merge features held outcomes (finding
6: the true adverse-outcome share was a feature), people with the same outcomes would be grouped
together and a persona would reveal its members' outcomes."""

from __future__ import annotations

import numpy as np

from personatwin.core.domains import get_domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import policy_for_level
from personatwin.ingest import synth
from personatwin.protect.merge import features_from_tables
from personatwin.protect.prepared import PassContext, prepare
from personatwin.protect.stages import merge_stage
from personatwin.validate.validation import validate

DOMAIN = get_domain("criminal_justice")


def checked_tables(seed: int = 23):
    data = synth.generate("criminal_justice", 3000, start="2024-01-01", end="2024-03-31", seed=seed)
    return validate(data.people, data.events, DOMAIN)


def test_merge_features_do_not_depend_on_outcomes():
    """Shuffling every outcome (and the sensitive columns) leaves the feature matrix, so the grouping, unchanged."""
    checked = checked_tables()
    rng = np.random.default_rng(0)
    events = checked.events.copy()
    events["outcome"] = events["outcome"].to_numpy()[rng.permutation(len(events))]
    people = checked.people.copy()
    for col in DOMAIN.sensitive:
        if col in people.columns:
            people[col] = people[col].to_numpy()[rng.permutation(len(people))]
    before = features_from_tables(checked.people, checked.events, DOMAIN)
    after = features_from_tables(people, events, DOMAIN)
    assert np.array_equal(before, after)


def test_personas_are_not_more_homogeneous_in_outcomes_than_chance():
    """Per event type, the share of personas whose members' true outcomes are all one value is no
    larger than under a random grouping of the same sizes (a grouping on outcomes would raise it)."""
    checked = checked_tables(seed=29)
    ctx = PassContext(prepare(checked.people, checked.events, DOMAIN), policy_for_level("medium", l_diversity=1),
                      ReleaseKey("merge-features-attack-key-012345"), "p")
    grouping = merge_stage(ctx).person_persona
    data = ctx.data
    rng = np.random.default_rng(1)

    def homogeneous_share(assign: np.ndarray) -> float:
        persona = assign[data.event_person]
        shares = []
        for t in range(len(data.type_names)):
            sel = data.type_codes == t
            pairs = np.unique(np.stack([persona[sel], data.outcome_codes[sel]]), axis=1)
            distinct = np.bincount(pairs[0])
            held = distinct[distinct > 0]
            shares.append(float((held == 1).mean()) if len(held) else 0.0)
        return float(np.mean(shares))

    observed = homogeneous_share(grouping)
    chance = np.mean([homogeneous_share(grouping[rng.permutation(len(grouping))]) for _ in range(5)])
    assert observed <= chance + 0.05, (observed, chance)
