"""Buckets: the units a release's random draws are made in, so a sharded release draws what one process draws.

Strata are assigned to ``B`` buckets by a keyed draw per stratum, ``B`` following from the number of people
(``BUCKET_PEOPLE`` per bucket), never from the number of workers. A persona belongs to the bucket of its first
member's stratum, and personas are numbered bucket by bucket. Every random draw of the merge and noise stages
(persona order and ids, date shifts, PRAM, person-level PRAM, row order) is made per bucket, from the bucket's own
generator, over the bucket's personas, people or events in canonical order. Whoever holds a set of whole buckets
(one process, or a shard on a worker) therefore draws exactly the same values for them. With one bucket (up to
``BUCKET_PEOPLE`` people) the draws are those of one generator per purpose, as before buckets existed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from personatwin.core.codes import grouped

BUCKET_PEOPLE = 20_000  # people per bucket: 1M people make 50 buckets, 10M make 500

BucketRng = Callable[[int], np.random.Generator]


def n_buckets(n_people: int, bucket_people: int = BUCKET_PEOPLE) -> int:
    """Buckets of a release of ``n_people``: at least one, one more per ``bucket_people`` people."""
    return max(1, math.ceil(n_people / max(1, bucket_people)))


def bucket_purpose(purpose: tuple[str, ...], bucket: int, n: int) -> tuple[str, ...]:
    """The generator purpose of one bucket: the plain purpose when there is one bucket."""
    return purpose if n == 1 else (*purpose, "bucket", str(bucket))


def stratum_buckets(rng: np.random.Generator, n_strata: int, n: int) -> np.ndarray:
    """Bucket of each stratum: a keyed draw per stratum (``rng`` from the release key), all 0 with one bucket."""
    if n == 1:
        return np.zeros(n_strata, dtype=np.int64)
    return rng.integers(0, n, size=n_strata).astype(np.int64)


def anchor_buckets(persona: np.ndarray, n_personas: int, person_bucket: np.ndarray) -> np.ndarray:
    """Bucket of each persona label: the bucket of its first member (the lowest person index)."""
    first = np.full(n_personas, len(persona), dtype=np.int64)
    np.minimum.at(first, persona, np.arange(len(persona), dtype=np.int64))
    if (first == len(persona)).any():
        raise ValueError("a persona without members: persona labels must be 0..n-1, each used")
    return person_bucket[first]


@dataclass(frozen=True)
class PersonaBuckets:
    """Which bucket each persona is in; personas are numbered bucket by bucket."""

    n: int  # number of buckets
    bounds: np.ndarray  # personas of bucket b: bounds[b]:bounds[b + 1]

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> PersonaBuckets:
        return cls(len(counts), np.concatenate(([0], np.cumsum(counts))).astype(np.int64))

    @property
    def n_personas(self) -> int:
        return int(self.bounds[-1])

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.bounds)

    def of_persona(self) -> np.ndarray:
        """Bucket of each persona index."""
        return np.repeat(np.arange(self.n, dtype=np.int64), self.counts)

    def nonempty(self) -> np.ndarray:
        return np.flatnonzero(self.counts)


def bucket_major(labels_bucket: np.ndarray, n: int, draw: BucketRng) -> tuple[np.ndarray, PersonaBuckets]:
    """New index of each persona label: bucket by bucket, in a keyed random order inside each bucket (``draw(b)``:
    the bucket's generator). With one bucket, one permutation of every persona, as before buckets."""
    order, bounds = grouped(labels_bucket, n)  # labels by bucket, label order inside
    new = np.empty(len(labels_bucket), dtype=np.int64)
    for b in np.flatnonzero(np.diff(bounds)):  # a loop over buckets, not personas
        lo, hi = bounds[b], bounds[b + 1]
        new[order[lo:hi]] = lo + draw(int(b)).permutation(hi - lo)
    return new, PersonaBuckets(n, bounds)


def per_bucket(items_bucket: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Items (people, events) grouped by bucket, canonical order kept inside each: positions and bounds."""
    return grouped(items_bucket, n)
