"""Exposure of each person in one release: persona, published QIs and the series attack on them.

Internal only (kept with the source data, never published). The series attack targets the same people
in every release of a series: a person is a target when a keyed hash of their id falls under the
release's sampling rate, so targets are nested across releases and nobody without the key can tell
who they are. Each target gets the external linkage attack of DESIGN §5 (QIs and m true events with
every released column), giving their success probability and whether their persona was singled out.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np
import pandas as pd

from personatwin.core.keys import ReleaseKey
from personatwin.core.schema import PERSON_ID, PERSONA_ID, PERSONA_SIZE
from personatwin.measure import linkage
from personatwin.protect.prepared import PassContext, PreparedData
from personatwin.protect.stages import Merged, Noised, merged_from_assignment, noise_stage

PERSON_KEY = "person_key"
TARGET, SUCCESS, SINGLED_OUT, DIGEST = "target", "success", "singled_out", "digest"


def person_keys(key: ReleaseKey, person_ids: pd.Series) -> np.ndarray:
    """A keyed 64-bit pseudonym of each person id (SipHash-2-4 under a key derived from the release
    key): stable across the series, not reversible or testable without the key."""
    hash_key = base64.b64encode(bytes.fromhex(key.tag("series-person-key", b"")[:24])).decode("ascii")
    return pd.util.hash_pandas_object(person_ids.astype("string"), index=False,
                                      hash_key=hash_key).to_numpy(dtype=np.uint64)


def target_rate(n_people: int, n_targets: int) -> float:
    """Share of people attacked: the policy's linkage target count, everyone in small releases."""
    return 1.0 if n_people <= n_targets else n_targets / n_people


def series_targets(keys: np.ndarray, rate: float) -> np.ndarray:
    """Sorted indices of the people whose keyed pseudonym falls under ``rate`` (nested across releases)."""
    u = keys.astype(np.float64) / 2.0 ** 64
    return np.flatnonzero(u < rate)


def person_digests(data: PreparedData) -> np.ndarray:
    """An order-free 64-bit digest of each person's rows (person row and events): a correction or a
    late record changes it, so versions of a period can tell who changed."""
    people_hash = pd.util.hash_pandas_object(data.people, index=False).to_numpy(dtype=np.uint64)
    ev = pd.DataFrame({  # categories hash by value, so a new category elsewhere changes no one else's digest
        "t": pd.Categorical.from_codes(data.type_codes, categories=list(data.type_names)),
        "o": pd.Categorical.from_codes(data.outcome_codes, categories=list(data.outcome_names)),
        "d": data.event_day})
    if data.end_day is not None:
        ev["e"] = data.end_day
    if data.values is not None:
        ev["v"] = data.values
    if data.location_codes is not None:
        names = np.asarray(list(data.location_names) + [""], dtype=object)
        ev["l"] = names[data.location_codes]
    ev_hash = pd.util.hash_pandas_object(ev, index=False).to_numpy(dtype=np.uint64)
    sums = np.zeros(len(people_hash), dtype=np.uint64)
    np.add.at(sums, data.event_person, ev_hash)  # modular sum: independent of event order
    return people_hash ^ (sums * np.uint64(0x9E3779B97F4A7C15))


# A person-digest computation started ahead of need (the pipeline starts it on an idle core as soon as the
# prepared data exists): (the PreparedData it is for, a future of its digests); used for that very object only.
_AHEAD: list = []


def person_digests_ahead(data: PreparedData, submit: Callable[..., Future]) -> None:
    """Start ``person_digests(data)`` with ``submit`` (an executor's); ``release_exposure`` of ``data`` waits for it."""
    _AHEAD[:] = [(data, submit(person_digests, data))]


def _person_digests(data: PreparedData) -> np.ndarray:
    ahead = _AHEAD[0] if _AHEAD else None
    if ahead is not None and ahead[0] is data:
        return ahead[1].result()
    return person_digests(data)


def release_exposure(ctx: PassContext, person_persona: np.ndarray, persona_ids: np.ndarray | None = None,
                     stages: tuple[Merged, Noised] | None = None) -> pd.DataFrame:
    """Every person of the release with their keyed pseudonym, persona, published QIs and digest; the
    series targets also with their linkage success and single-out.

    ``stages`` are the released pass's merge and noise stages when the caller has them (the privacy
    loop's chosen pass, made in ``ctx``: same data, policy, key and salt); used only when their
    assignment is ``person_persona``, else the pass is rebuilt from the assignment."""
    data, policy = ctx.data, ctx.policy
    if stages is not None and np.array_equal(stages[0].person_persona, person_persona):
        merged, noised = stages
    else:
        merged = merged_from_assignment(ctx, person_persona)
        noised = noise_stage(ctx, merged)
    keys = person_keys(ctx.key, data.people[PERSON_ID])
    targets = series_targets(keys, target_rate(data.n_people, policy.linkage_targets))
    inputs = linkage.AttackInputs(
        people=data.people, person_persona=merged.person_persona, attributes=merged.attributes,
        event_person=data.event_person, event_type_code=data.type_codes, event_date=data.event_day,
        released_persona=noised.ev_persona[noised.order], released_type_code=data.type_codes[noised.order],
        released_period=noised.starts[noised.order], precision=policy.date_precision, released_sorted=True,
        period_values=noised.period_values, event_detail=noised.detail_true,
        released_detail=noised.detail_released[noised.order])
    attack = linkage.simulate(inputs, data.domain, policy.attacker_knowledge, len(targets),
                              ctx.rng("attack-series"), use_qis=True, targets=targets)
    success = np.full(data.n_people, np.nan)
    single = np.zeros(data.n_people, dtype=bool)
    is_target = np.zeros(data.n_people, dtype=bool)
    if attack.targets is not None and len(attack.targets):
        is_target[attack.targets] = True
        success[attack.targets] = attack.success
        single[attack.targets] = attack.singled_out
    attrs = merged.attributes.table
    out = pd.DataFrame({PERSON_KEY: keys, PERSONA_ID: pd.array(merged.ids.astype(str), dtype="string")[
        merged.person_persona]})
    for qi in merged.attributes.qi_columns:  # what the release publishes for the person's persona
        out[qi] = attrs[qi].astype(str).to_numpy()[merged.person_persona]
    out[PERSONA_SIZE] = attrs[PERSONA_SIZE].to_numpy()[merged.person_persona]
    out[DIGEST] = _person_digests(data)
    out[TARGET], out[SUCCESS], out[SINGLED_OUT] = is_target, success, single
    return out
