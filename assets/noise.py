"""Noise: the first pass's events with dates blurred, outcomes randomized and locations generalized."""


import dagster as dg
import numpy as np
import pandas as pd

from assets.common import PARTITIONS, prepared, table_metadata
from assets.gx import check_result, run_suite
from personatwin.keys import ReleaseKey
from personatwin.noise import period_start
from personatwin.policy import PrivacyPolicy
from personatwin.protect import (
    Merged, Noised, PreparedData, Protection, assignment_from_membership, evaluate, merged_from_assignment, noise_stage,
)
from personatwin_dag.constants import CHECK_DATE_PRECISION, NOISE
from resources.key import ReleaseKeyResource
from resources.policy import PrivacyPolicyResource
from resources.source import SourceResource


_FIRST_PASS: list = []  # (inputs, result) of the last call in this process


def first_pass(data: PreparedData, pol: PrivacyPolicy, key: ReleaseKey, salt: str,
               personas: dict) -> tuple[Merged, Noised]:
    """Rebuild the merge stage from the stored membership and apply the noise stage to it.

    The noise and risk assets both need it; with the in-process executor the second call gets the
    first's result (same prepared data and stored personas objects, same policy, key and salt)."""
    if _FIRST_PASS:
        (d, p, k, s, ps), result = _FIRST_PASS[0]
        if d is data and ps is personas and p == pol and k == key and s == salt:
            return result
    assignment = assignment_from_membership(data, personas["membership"], key, salt)
    merged = merged_from_assignment(data, pol, key, salt, assignment)
    result = (merged, noise_stage(data, pol, key, salt, merged))
    _FIRST_PASS[:] = [((data, pol, key, salt, personas), result)]
    return result


@dg.asset(group_name=NOISE, kinds={"pandas", "parquet"}, partitions_def=PARTITIONS, check_specs=[
    dg.AssetCheckSpec(CHECK_DATE_PRECISION, asset="protected_events", partitions_def=PARTITIONS, blocking=True,
                      description="No released date is finer than the policy's date precision.")])
def protected_events(context: dg.AssetExecutionContext, source: SourceResource, policy: PrivacyPolicyResource,
                     release_key: ReleaseKeyResource, valid_people: pd.DataFrame, valid_events: pd.DataFrame,
                     personas: dict):
    """Events of the first pass re-attributed to personas, with blurred dates and PRAM outcomes."""
    pol = policy.policy()
    data = prepared(valid_people, valid_events, source.get_domain())
    _, noised = first_pass(data, pol, release_key.key(), context.partition_key, personas)
    yield dg.Output(noised.events, metadata={**table_metadata(noised.events),
                                             "date_precision": dg.MetadataValue.text(pol.date_precision),
                                             "pram_p": dg.MetadataValue.float(pol.pram_p)})
    yield no_date_finer_than_precision(pol.date_precision, noised.events)


_FIRST_PROTECTION: list = []  # ((data, policy, key, salt), Protection) of the last risk assessment


def first_protection(data: PreparedData, pol: PrivacyPolicy, key: ReleaseKey, salt: str, personas: dict) -> Protection:
    """The first pass with its risk and utility (the risk stage); kept for the release stage, whose
    privacy loop starts from exactly this pass when it runs in the same process."""
    merged, noised = first_pass(data, pol, key, salt, personas)
    risk, util = evaluate(data, pol, key, salt, merged, noised)
    result = Protection(pol, merged.personas, noised.events, noised.sensitive, noised.pram, risk, util,
                        merged.grouping, merged.attributes, merged.person_persona)
    _FIRST_PROTECTION[:] = [((data, pol, key, salt), result)]
    return result


def cached_first_protection(data: PreparedData, pol: PrivacyPolicy, key: ReleaseKey, salt: str) -> Protection | None:
    """The risk stage's first pass if this process made it from the same prepared data, policy, key and salt."""
    if _FIRST_PROTECTION:
        (d, p, k, s), result = _FIRST_PROTECTION[0]
        if d is data and p == pol and k == key and s == salt:
            return result
    return None


def precision_frame(events: pd.DataFrame, precision: str) -> pd.DataFrame:
    """One boolean per released date: is it the first day of its period at the precision?"""
    out = {}
    for col in ("event_date", "end_date"):
        if col in events.columns:
            d = events[col].to_numpy().astype("datetime64[D]")
            ok = np.isnat(d) | (period_start(d, precision) == d)
            out[f"{col}_at_period_start"] = ok
    return pd.DataFrame(out)


def no_date_finer_than_precision(precision: str, protected_events: pd.DataFrame) -> dg.AssetCheckResult:
    """Every released date is the first day of its period (GX suite)."""
    frame = precision_frame(protected_events, precision)
    suite = [("ExpectColumnValuesToBeInSet", {"column": c, "value_set": [True]}) for c in frame.columns]
    return check_result(run_suite("protected_events_dates", frame, suite, row_column=None),
                        check_name=CHECK_DATE_PRECISION)
