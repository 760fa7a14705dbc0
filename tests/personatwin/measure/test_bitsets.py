"""The compiled bitset kernel of the linkage simulation against a plain bit-by-bit reference."""

from __future__ import annotations

import numpy as np
import pytest

from personatwin.measure.linkage import _people_in


def reference(cand: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Every bit of every word unpacked: the sizes of the personas whose bit is set, summed per row."""
    bits = np.unpackbits(cand.view(np.uint8), axis=1, bitorder="little")[:, : len(sizes)].astype(bool)
    return np.where(bits, sizes[None, :].astype(np.float64), 0.0).sum(axis=1)


@pytest.mark.parametrize("n_personas, density", [(100_000, 0.0005), (1000, 0.3), (64, 1.0), (130, 0.0), (1, 1.0)])
def test_people_in_candidates_sums_the_sizes_of_the_set_bits(n_personas, density):
    rng = np.random.default_rng(n_personas)
    words = (n_personas + 63) // 64
    cand = np.zeros((257, words), dtype=np.uint64)
    nonzero = rng.random(cand.shape) < density
    cand[nonzero] = rng.integers(0, 2**63, int(nonzero.sum()), dtype=np.int64).astype(np.uint64) | np.uint64(1 << 63)
    if n_personas % 64:
        cand[:, -1] &= np.uint64((1 << (n_personas % 64)) - 1)  # no bit past the last persona, as built
    sizes = rng.integers(10, 20, n_personas).astype(np.float32)
    assert np.array_equal(_people_in(cand, sizes), reference(cand, sizes))


def test_a_bit_past_the_last_persona_weighs_nothing():
    cand = np.array([[np.uint64(0b111)]], dtype=np.uint64)  # bits 0..2 set, two personas
    assert _people_in(cand, np.array([10.0, 12.0], dtype=np.float32)).tolist() == [22.0]
