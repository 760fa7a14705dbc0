"""The one per-process cache of the pipeline's steps, so one run does the engine's work once.

The release job runs every step of a partition in one process (in-process executor), and the IO
manager hands each step the very same stored tables while they are unchanged. Merge, noise, risk and
release all start from the engine's prepared form of those tables, noise and risk need the same
first pass, and the release's privacy loop starts from the risk stage's pass. Each entry is kept
for the last partition only and is reused only for the very same inputs: the same table objects
(identity, never a comparison of values), policy, key and salt (``PassContext.same_as``). Nothing
here is ever written anywhere; a new process starts empty.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from personatwin.core.domains import Domain
from personatwin.core.keys import ReleaseKey
from personatwin.core.policy import PrivacyPolicy
from personatwin.measure.anonymeter_eval import AnonymeterOptions, evaluate_prepared_ahead
from personatwin.protect.prepared import PassContext, PreparedData, prepare
from personatwin.protect.stages import Merged, Noised, assignment_from_membership, merged_from_assignment
from personatwin.release.identity import table_digest
from personatwin.release.one_pass import Protection, noise_of, protection_of
from personatwin.series.exposure import person_digests_ahead

# One background worker: the steps run single-threaded, so work a later step needs and that depends only on the
# validated tables (their digests) runs on the idle core meanwhile.
_AHEAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="step-cache-ahead")
_ATTACKS = ThreadPoolExecutor(max_workers=1, thread_name_prefix="step-cache-attacks")  # long: apart from digests


@dataclass
class StepCache:
    """Last prepared data, first pass and first protection of this process (one partition at a time), and the
    validated tables' digests, computed ahead in the background."""

    _digests: tuple[Any, Any, Future] | None = None
    _merged: tuple[PassContext, Merged] | None = None
    _prepared: tuple[Any, Any, str, PreparedData] | None = None
    _first_pass: tuple[PassContext, Any, tuple[Merged, Noised]] | None = None
    _first_protection: tuple[PassContext, Protection] | None = None
    hits: dict[str, int] = field(default_factory=dict)  # reuse counts (tests and benchmarks read them)

    def _hit(self, name: str) -> None:
        self.hits[name] = self.hits.get(name, 0) + 1

    def table_digests_ahead(self, people: pd.DataFrame, events: pd.DataFrame) -> None:
        """Start the order-free digests of the validated tables (the release's data tag) in the background."""
        if not (self._digests and self._digests[0] is people and self._digests[1] is events):
            self._digests = (people, events, _AHEAD.submit(lambda: (table_digest(people), table_digest(events))))

    def table_digests(self, people: pd.DataFrame, events: pd.DataFrame) -> tuple[bytes, bytes]:
        """``table_digest`` of both validated tables: the ones started ahead for these very tables, or now."""
        if self._digests and self._digests[0] is people and self._digests[1] is events:
            self._hit("table_digests")
            return self._digests[2].result()
        return table_digest(people), table_digest(events)

    def prepared(self, people: pd.DataFrame, events: pd.DataFrame, domain: Domain) -> PreparedData:
        """The engine's canonical coded form of the validated tables (the ``row`` column dropped); the first
        time, the tables' digests and the people's digests (for the series exposure) start in the background."""
        if self._prepared and self._prepared[0] is people and self._prepared[1] is events \
                and self._prepared[2] == domain.name:
            self._hit("prepared")
            return self._prepared[3]
        self.table_digests_ahead(people, events)
        data = prepare(people.drop(columns=["row"], errors="ignore"), events.drop(columns=["row"], errors="ignore"),
                       domain)
        self._prepared = (people, events, domain.name, data)
        person_digests_ahead(data, _AHEAD.submit)
        return data

    def context(self, people: pd.DataFrame, events: pd.DataFrame, domain: Domain, policy: PrivacyPolicy,
                key: ReleaseKey, salt: str, runner: object | None = None) -> PassContext:
        """The pass context of a step: the prepared tables (reused), the policy, the key and the partition (and
        where the sharded stages run: never a part of the result)."""
        return PassContext(self.prepared(people, events, domain), policy, key, salt, runner=runner)

    def attack_evaluation_ahead(self, ctx: PassContext) -> None:
        """Start the independent attack evaluation of ``ctx`` in the background, when its policy gates on it: the
        release stage's evaluation of the configuration it settles on waits for it if that is ``ctx``'s (the
        common case: the first pass holds every target), else makes its own once this one has finished."""
        if ctx.policy.anonymeter_max_risk is not None:
            evaluate_prepared_ahead(ctx, AnonymeterOptions(), _ATTACKS.submit)

    def remember_merged(self, ctx: PassContext, merged: Merged) -> None:
        """The merge step's own merge stage, for the noise step of the same context (no rebuild from storage)."""
        self._merged = (ctx, merged)

    def _merged_for(self, ctx: PassContext, personas: dict) -> Merged:
        """The merge stage of the stored personas: the merge step's own when made in this very context (the stage
        is a function of the context, so the stored tables are its tables; their persona ids and size are checked),
        else rebuilt from the stored membership."""
        if self._merged and ctx.same_as(self._merged[0]):
            merged = self._merged[1]
            stored_ids = personas["personas"]["persona_id"].astype(str)
            if len(personas["membership"]) == ctx.data.n_people and len(stored_ids) == len(merged.ids) \
                    and set(stored_ids) == set(merged.ids.astype(str)):
                self._hit("merged")
                return merged
        return merged_from_assignment(ctx, assignment_from_membership(ctx, personas["membership"]))

    def first_pass(self, ctx: PassContext, personas: dict) -> tuple[Merged, Noised]:
        """The merge stage of the stored personas (``_merged_for``), and the noise stage applied to it."""
        if self._first_pass and self._first_pass[1] is personas and ctx.same_as(self._first_pass[0]):
            self._hit("first_pass")
            return self._first_pass[2]
        merged = self._merged_for(ctx, personas)
        result = (merged, noise_of(ctx, merged))
        self._first_pass = (ctx, personas, result)
        return result

    def first_protection(self, ctx: PassContext, personas: dict) -> Protection:
        """The first pass with its risk and utility (the risk stage), kept for the release stage."""
        merged, noised = self.first_pass(ctx, personas)
        result = protection_of(ctx, merged, noised)
        self._first_protection = (ctx, result)
        return result

    def cached_first_protection(self, ctx: PassContext) -> Protection | None:
        """The risk stage's first pass if this process made it in the same context, else None."""
        if self._first_protection and ctx.same_as(self._first_protection[0]):
            self._hit("first_protection")
            return self._first_protection[1]
        return None


CACHE = StepCache()  # the process's cache: every stage asset asks this one
