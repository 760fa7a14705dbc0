"""Buckets: the units a release's event- and person-level random draws are made in, so that a sharded release
draws what one process draws.

Each person is given one of ``B`` buckets by a keyed draw (``B`` follows from the number of people,
``BUCKET_PEOPLE`` per bucket, never from the number of workers; never person id order), and their events go with
them. The draws over people and events (PRAM of outcomes and of person-level sensitive values, the tie order of
the release's rows) are made bucket by bucket, each from the bucket's own generator, over the bucket's people or
events in canonical order: whoever holds a set of whole buckets (one process, or a shard on a worker) draws the
same values for them. Persona-level draws (persona order, ids, date offsets) stay single draws over every persona:
personas are few (n / k) and held by the coordinator. With one bucket (up to ``BUCKET_PEOPLE`` people) every draw
is the one generator per purpose it was before buckets existed.
"""

from __future__ import annotations

import math

import numpy as np

BUCKET_PEOPLE = 20_000  # people per bucket: 1M people make 50 buckets, 10M make 500


def n_buckets(n_people: int, bucket_people: int = BUCKET_PEOPLE) -> int:
    """Buckets of a release of ``n_people``: at least one, one more per ``bucket_people`` people."""
    return max(1, math.ceil(n_people / max(1, bucket_people)))


def bucket_purpose(purpose: tuple[str, ...], bucket: int, n: int) -> tuple[str, ...]:
    """The generator purpose of one bucket: the plain purpose when there is one bucket."""
    return purpose if n == 1 else (*purpose, "bucket", str(bucket))


def person_buckets(rng: np.random.Generator, n_people: int, n: int) -> np.ndarray:
    """Bucket of each person (canonical order): a keyed draw per person, all 0 with one bucket."""
    if n == 1:
        return np.zeros(n_people, dtype=np.int64)
    return rng.integers(0, n, size=n_people).astype(np.int64)
