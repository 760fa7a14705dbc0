"""Shard plans: whole buckets to shards, balanced by events (never by person id order)."""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ShardPlan:
    """Which shard each bucket goes to: ``shard_of[b]``."""

    shard_of: np.ndarray
    n_shards: int

    def buckets(self, shard: int) -> np.ndarray:
        return np.flatnonzero(self.shard_of == shard)


def plan_shards(bucket_load: np.ndarray, n_shards: int) -> ShardPlan:
    """Buckets to at most ``n_shards`` shards, heaviest bucket first to the lightest shard (LPT): the largest shard
    holds at most the mean plus one bucket. Deterministic: ties go to the lower bucket and shard."""
    n_shards = max(1, min(int(n_shards), len(bucket_load)))
    shard_of = np.zeros(len(bucket_load), dtype=np.int64)
    heap = [(0, s) for s in range(n_shards)]
    for b in np.argsort(-np.asarray(bucket_load), kind="stable"):
        load, s = heapq.heappop(heap)
        shard_of[b] = s
        heapq.heappush(heap, (load + int(bucket_load[b]), s))
    return ShardPlan(shard_of, n_shards)
