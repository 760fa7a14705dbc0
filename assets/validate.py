"""Validate: coerce types, check vocabulary, dates and ids; rejected rows go to quarantine."""


import time
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import pandas as pd

from assets.common import PARTITIONS, md_table, seconds_since, table_metadata, window
from assets.constants import (
    CHECK_QUARANTINE_RATE,
    CHECK_RECONCILIATION,
    CHECK_VALID_EVENTS_SUITE,
    CHECK_VALID_PEOPLE_SUITE,
    VALIDATE,
)
from assets.gx import check_result, run_suite
from assets.gx import preload as gx_preload
from personatwin.core.hierarchy import MappingHierarchy
from personatwin.validate.validation import validate
from resources.policy import PrivacyPolicyResource
from resources.source import SourceResource

COUNTS = "counts"


@dg.multi_asset(
    outs={
        "valid_people": dg.AssetOut(group_name=VALIDATE, kinds={"pandas", "parquet"},
                                    description="People that passed validation, with age derived and birth date "
                                                "dropped."),
        "valid_events": dg.AssetOut(group_name=VALIDATE, kinds={"pandas", "parquet"},
                                    description="Events that passed validation, in the domain's vocabulary."),
        "quarantine": dg.AssetOut(group_name=VALIDATE, kinds={"pandas", "parquet"},
                                  description="Rejected rows with the reason for each, and the reconciliation counts."),
    },
    partitions_def=PARTITIONS,
    # The checks run in the same step, on the tables just stored: one step instead of five per
    # partition (each Dagster step costs tens of milliseconds of events and bookkeeping).
    check_specs=[
        dg.AssetCheckSpec(CHECK_RECONCILIATION, asset="quarantine", partitions_def=PARTITIONS, blocking=True,
                          description="Rows in = valid + quarantined (+ collapsed exact duplicates), for people "
                                      "and events."),
        dg.AssetCheckSpec(CHECK_VALID_PEOPLE_SUITE, asset="valid_people", partitions_def=PARTITIONS, blocking=True,
                          description="Great Expectations suite on the valid people: ids, vocabularies, ages, "
                                      "zip codes."),
        dg.AssetCheckSpec(CHECK_VALID_EVENTS_SUITE, asset="valid_events", partitions_def=PARTITIONS, blocking=True,
                          description="Great Expectations suite on the valid events: vocabulary, dates inside "
                                      "the period, end >= start."),
        dg.AssetCheckSpec(CHECK_QUARANTINE_RATE, asset="valid_events", partitions_def=PARTITIONS, blocking=True,
                          description="A partition whose quarantined share exceeds the policy limit goes no further."),
    ],
)
def validated_tables(context: dg.AssetExecutionContext, source: SourceResource, policy: PrivacyPolicyResource,
                     source_people: pd.DataFrame, source_events: pd.DataFrame):
    """Split the partition's rows into valid tables and a quarantine with a reason per row."""
    t0 = time.perf_counter()
    gx_preload()  # the suites below need GX: its import overlaps the validation
    _, end = window(context)
    domain = source.get_domain()
    people = source_people.set_index("row") if "row" in source_people.columns else source_people
    events = source_events.set_index("row") if "row" in source_events.columns else source_events
    as_of = end - pd.Timedelta(seconds=1)
    checked = validate(people, events, domain, as_of=as_of)
    frames = [f for f in (checked.quarantine_people, checked.quarantine_events) if len(f)]
    quarantine = (pd.concat(frames, ignore_index=True) if frames
                  else pd.DataFrame({"table": [], "row": [], "reason": []}))
    quarantine = quarantine.astype({c: "string" for c in quarantine.columns if quarantine[c].dtype == object})
    counts = {k: int(v) for k, v in checked.counts.items()}
    # what is actually written as valid: the reconciliation check compares these with the rows in
    counts.update(people_written=len(checked.people), events_written=len(checked.events))
    reasons = quarantine.groupby(["table", "reason"]).size().rename("rows").reset_index() if len(quarantine) else \
        pd.DataFrame(columns=["table", "reason", "rows"])
    valid_people, valid_events = checked.people.reset_index(drop=True), checked.events.reset_index(drop=True)
    stored_quarantine = {"rows": quarantine, COUNTS: pd.DataFrame([counts])}
    took = seconds_since(t0)
    period = window(context)
    # the suites run on a second thread while the outputs are stored (Parquet writes release the GIL); their
    # results are yielded after the outputs, as before, and block the run the same way
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="gx-suites") as pool:
        suites = pool.submit(lambda: (valid_people_suite(domain, valid_people),
                                      valid_events_suite(domain, period, valid_events)))
        yield dg.Output(valid_people, output_name="valid_people",
                        metadata={**table_metadata(checked.people), **took})
        yield dg.Output(valid_events, output_name="valid_events",
                        metadata={**table_metadata(checked.events), **took})
        yield dg.Output(stored_quarantine, output_name="quarantine",
                        metadata={**table_metadata(quarantine),
                                  **{k: dg.MetadataValue.int(v) for k, v in counts.items()},
                                  "reasons": dg.MetadataValue.md(md_table(reasons))})
        yield rows_reconcile(stored_quarantine)
        yield from suites.result()
    yield quarantine_rate(policy, stored_quarantine)


def people_suite(domain) -> list:
    race = domain.hierarchy("race")
    suite = [
        ("ExpectColumnValuesToNotBeNull", {"column": "person_id"}),
        ("ExpectColumnValuesToBeUnique", {"column": "person_id"}),
        ("ExpectColumnValuesToBeInSet", {"column": "sex", "value_set": ["F", "M", "X"]}),
        ("ExpectColumnValuesToBeBetween", {"column": "age", "min_value": 0, "max_value": 120}),
        ("ExpectColumnValuesToMatchRegex", {"column": "zip", "regex": r"^\d{5}$"}),
        ("ExpectTableColumnsToMatchSet", {"column_set": ["person_id", *domain.qis, *domain.sensitive],
                                          "exact_match": False}),
    ]
    if isinstance(race, MappingHierarchy):
        suite.append(("ExpectColumnValuesToBeInSet", {"column": "race", "value_set": sorted(set(race.values))}))
    return suite


def events_suite(domain, start: pd.Timestamp, end: pd.Timestamp) -> list:
    return [
        ("ExpectColumnValuesToNotBeNull", {"column": "person_id"}),
        ("ExpectColumnValuesToBeInSet", {"column": "event_type", "value_set": sorted(domain.event_types)}),
        ("ExpectColumnValuesToBeInSet", {"column": "outcome", "value_set": sorted(domain.outcomes)}),
        ("ExpectColumnValuesToNotBeNull", {"column": "event_date"}),
        # every date inside the period <=> min >= start and max < end (GX's row-wise datetime
        # comparison is ~10x slower on 200k events for the same guarantee)
        ("ExpectColumnMinToBeBetween", {"column": "event_date", "min_value": start.to_pydatetime()}),
        ("ExpectColumnMaxToBeBetween",
         {"column": "event_date", "max_value": (end - pd.Timedelta(seconds=1)).to_pydatetime()}),
        ("ExpectColumnPairValuesAToBeGreaterThanB", {"column_A": "end_date", "column_B": "event_date", "or_equal": True,
                                                     "ignore_row_if": "either_value_is_missing"}),
    ]


def valid_people_suite(domain, valid_people: pd.DataFrame) -> dg.AssetCheckResult:
    """The people suite on the valid people (columns the domain has but the data lacks are skipped)."""
    suite = [e for e in people_suite(domain) if e[1].get("column") in (None, *valid_people.columns)]
    return check_result(run_suite("valid_people", valid_people, suite, row_column=None),
                        asset_key=dg.AssetKey("valid_people"), check_name=CHECK_VALID_PEOPLE_SUITE)


def valid_events_suite(domain, period: tuple[pd.Timestamp, pd.Timestamp],
                       valid_events: pd.DataFrame) -> dg.AssetCheckResult:
    """The events suite on the valid events of the period."""
    start, end = period
    suite = [e for e in events_suite(domain, start, end)
             if e[1].get("column", e[1].get("column_A")) in valid_events.columns]
    return check_result(run_suite("valid_events", valid_events, suite, row_column=None),
                        asset_key=dg.AssetKey("valid_events"), check_name=CHECK_VALID_EVENTS_SUITE)


def rows_reconcile(quarantine: dict) -> dg.AssetCheckResult:
    """Rows in = valid + quarantined (+ collapsed exact duplicates), from the stored counts."""
    c = quarantine[COUNTS].iloc[0].to_dict()
    q = quarantine["rows"]
    q_people = int((q["table"] == "people").sum()) if len(q) else 0
    q_events = int((q["table"] == "events").sum()) if len(q) else 0
    people_ok = c["people_in"] == c["people_written"] + q_people + c.get("people_duplicates_collapsed", 0)
    events_ok = c["events_in"] == c["events_written"] + q_events + c.get("events_duplicates_collapsed", 0)
    meta = {"people_in": int(c["people_in"]), "people_valid": int(c["people_written"]), "people_quarantined": q_people,
            "events_in": int(c["events_in"]), "events_valid": int(c["events_written"]), "events_quarantined": q_events}
    return dg.AssetCheckResult(asset_key=dg.AssetKey("quarantine"), check_name=CHECK_RECONCILIATION,
                               passed=bool(people_ok and events_ok), metadata=meta,
                               description="counts reconcile" if people_ok and events_ok else
                               f"counts do not reconcile: {meta}")


def quarantine_rate(policy: PrivacyPolicyResource, quarantine: dict) -> dg.AssetCheckResult:
    """The quarantined share of the partition's rows against the policy's limit."""
    c = quarantine[COUNTS].iloc[0].to_dict()
    q = quarantine["rows"]
    total = int(c["people_in"]) + int(c["events_in"])
    share = len(q) / total if total else 0.0
    passed = share <= policy.max_quarantine_share
    detail = ""
    if len(q):
        by_reason = q.groupby(["table", "reason"])["row"].apply(lambda r: sorted(map(int, r))[:10])
        detail = "; ".join(f"{t} rows {rows} ({len(rows)} shown): {reason}" for (t, reason), rows in by_reason.items())
    desc = (f"{len(q)} of {total} rows quarantined ({share:.2%}, limit {policy.max_quarantine_share:.0%})"
            + (f": {detail}" if detail else ""))
    return dg.AssetCheckResult(asset_key=dg.AssetKey("valid_events"), check_name=CHECK_QUARANTINE_RATE,
                               passed=bool(passed), metadata={"quarantined_share": float(share),
                                                               "quarantined_rows": len(q)},
                               description=desc[:2000])
