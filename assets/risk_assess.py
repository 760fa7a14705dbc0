"""Risk assess: every risk and utility metric of the first protection pass, as float metadata."""


import time

import dagster as dg
import numpy as np
import pandas as pd

from assets.common import PARTITIONS, float_metadata, seconds_since
from assets.constants import CHECK_RISK_METRICS, RISK_ASSESS
from assets.step_cache import CACHE
from resources.key import ReleaseKeyResource
from resources.policy import PrivacyPolicyResource
from resources.source import SourceResource


@dg.asset(group_name=RISK_ASSESS, kinds={"pandas", "parquet"}, partitions_def=PARTITIONS, deps=["protected_events"],
          check_specs=[dg.AssetCheckSpec(CHECK_RISK_METRICS, asset="risk_assessment", partitions_def=PARTITIONS,
                                         description=("Every core risk metric was computed (finite, within [0, 1] "
                                                      "where it is a probability)."))])
def risk_assessment(context: dg.AssetExecutionContext, source: SourceResource, policy: PrivacyPolicyResource,
                    release_key: ReleaseKeyResource, valid_people: pd.DataFrame, valid_events: pd.DataFrame,
                    personas: dict):
    """Risk (k, prosecutor, population, linkage, diversity, concentration) and utility of the first pass."""
    t0 = time.perf_counter()
    ctx = CACHE.context(valid_people, valid_events, source.get_domain(), policy.policy(), release_key.key(),
                        context.partition_key)
    first = CACHE.first_protection(ctx, personas)
    risk, util = first.risk, first.utility
    figures = {**{k: v for k, v in risk.as_dict().items() if v is not None}, **util.as_dict()}
    table = pd.DataFrame([figures])
    yield dg.Output(table, metadata={**float_metadata(figures),
                                     "risk_level": dg.MetadataValue.text(risk.get_risk_level()),
                                     **seconds_since(t0)})
    yield risk_metrics_recorded(table)


def risk_metrics_recorded(risk_assessment: pd.DataFrame) -> dg.AssetCheckResult:
    """The core probabilities are finite and within [0, 1]."""
    row = risk_assessment.iloc[0]
    probs = ["population_average_risk", "external_linkage_risk", "prosecutor_risk_max", "records_at_risk",
             "demographic_concentration_risk", "event_pattern_concentration_risk", "release_risk"]
    bad = [p for p in probs if not (np.isfinite(row[p]) and 0.0 <= row[p] <= 1.0)]
    return dg.AssetCheckResult(check_name=CHECK_RISK_METRICS, passed=not bad, metadata={"metrics": len(row)},
                               description="all metrics recorded" if not bad else f"invalid metrics: {bad}")
