"""Series risk: the linkage attack composed over every release of the window a person appears in.

The privacy unit is a person across the series. Each release is another chance for the attacker
(Ganta, Kasiviswanathan & Smith 2008): with success probability s_r in release r, the chance of at
least one correct re-identification over the releases is 1 - prod_r (1 - s_r), and likewise the
chance that at least one release singles out the person's persona. Releases are treated as
independent chances (fresh grouping and randomness per release; a correction's versions each count):
an upper bound when releases re-publish the same group.

Targets are the current release's series targets (``exposure.series_targets``). A target present in
an earlier release of the window but not attacked there (that release sampled fewer people) is given
that release's mean success: the sampling is independent of the person, so the estimate stays unbiased.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from personatwin.measure.linkage import confidence
from personatwin.series.exposure import PERSON_KEY, SINGLED_OUT, SUCCESS, TARGET


@dataclass(frozen=True)
class SeriesRisk:
    """The series figures of one release: cumulative linkage success and single-out over the window."""

    risk: float  # mean over targets of 1 - prod (1 - s_r)
    ci_low: float
    ci_high: float
    single_out_rate: float  # mean over targets of 1 - prod (1 - o_r)
    n_targets: int
    n_releases: int  # releases of the window counted (this one included)
    mean_releases_per_target: float
    release_risk: float = 0.0  # this release's own mean success over the same targets (its share of the budget)
    release_single_out: float = 0.0  # this release's own single-out rate over the same targets

    def metrics(self) -> dict[str, float]:
        """The figures as flat floats for manifests, metadata and the criteria."""
        return {"series_risk": self.risk, "series_risk_ci_low": self.ci_low, "series_risk_ci_high": self.ci_high,
                "series_single_out_rate": self.single_out_rate, "series_targets": float(self.n_targets),
                "series_releases": float(self.n_releases),
                "series_releases_per_target": self.mean_releases_per_target,
                "series_release_share": self.release_risk, "series_release_single_out": self.release_single_out}


def _survival(targets: pd.DataFrame, earlier: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per target: prod (1 - s) and prod (1 - o) over one earlier release, and whether they appear in it."""
    attacked = earlier[earlier[TARGET]]
    mean_s = float(attacked[SUCCESS].mean()) if len(attacked) else 0.0
    mean_o = float(attacked[SINGLED_OUT].mean()) if len(attacked) else 0.0
    pos = pd.Index(earlier[PERSON_KEY]).get_indexer(targets[PERSON_KEY])
    present = pos >= 0
    hit = np.where(present, pos, 0)
    was_target = present & earlier[TARGET].to_numpy()[hit]
    s = np.where(was_target, earlier[SUCCESS].to_numpy(dtype=np.float64)[hit], mean_s)
    o = np.where(was_target, earlier[SINGLED_OUT].to_numpy(dtype=np.float64)[hit], mean_o)
    return np.where(present, 1.0 - s, 1.0), np.where(present, 1.0 - o, 1.0), present


def series_risk(current: pd.DataFrame, earlier: Sequence[pd.DataFrame]) -> SeriesRisk:
    """Compose the current release's exposure with the earlier releases of its window (DESIGN §7c)."""
    targets = current[current[TARGET]]
    own = float(targets[SUCCESS].mean()) if len(targets) else 0.0
    own_single = float(targets[SINGLED_OUT].mean()) if len(targets) else 0.0
    keep_s = 1.0 - targets[SUCCESS].to_numpy(dtype=np.float64)
    keep_o = 1.0 - targets[SINGLED_OUT].to_numpy(dtype=np.float64)
    appearances = np.ones(len(targets))
    for frame in earlier:
        s, o, present = _survival(targets, frame)
        keep_s, keep_o = keep_s * s, keep_o * o
        appearances += present
    risk, lo, hi = confidence(1.0 - keep_s)
    single = float((1.0 - keep_o).mean()) if len(targets) else 0.0
    return SeriesRisk(risk, lo, hi, single, len(targets), 1 + len(earlier),
                      float(appearances.mean()) if len(targets) else 0.0, own, own_single)
