"""Auto-adjust: the privacy loop for one partition; each iteration is recorded in the metadata."""


import dagster as dg
import numpy as np
import pandas as pd

from assets.common import PARTITIONS, float_metadata, md_table, table_metadata
from assets.constants import AUTO_ADJUST, CHECK_RELEASE_GUARANTEES, CHECK_RELEASE_UTILITY
from assets.gx import run_suite
from assets.step_cache import CACHE
from personatwin.core.errors import (
    AttackRefusedError,
    EvaluationUnavailableError,
    InputRejectedError,
    ReleaseRefusedError,
)
from personatwin.measure import criteria
from personatwin.protect.prepared import PassContext
from personatwin.release.auto_adjust import history_frame
from personatwin.release.release import make_release_from_prepared
from personatwin.release.tables import ReleaseTables
from resources.key import ReleaseKeyResource
from resources.policy import PrivacyPolicyResource
from resources.source import SourceResource

HISTORY_COLUMNS = ["iteration", "step", "k", "date_precision", "location_level", "qi_levels", "pram_p",
                   "k_anonymity", "population_average_risk", "external_linkage_risk", "release_risk",
                   "l_diversity", "information_loss", "max_rate_diff_pp", "meets_targets"]


@dg.asset(group_name=AUTO_ADJUST, kinds={"pandas", "parquet"}, partitions_def=PARTITIONS, deps=["risk_assessment"],
          check_specs=[
              dg.AssetCheckSpec(CHECK_RELEASE_GUARANTEES, asset="release", partitions_def=PARTITIONS, blocking=True,
                                description=("k, risk <= target, l-diversity, no identifiers, no over-precise dates, "
                                             "every event kept.")),
              dg.AssetCheckSpec(CHECK_RELEASE_UTILITY, asset="release", partitions_def=PARTITIONS, blocking=True,
                                description=("Utility gates: unbiased group outcome rates close to the original; "
                                             "event counts kept.")),
          ])
def release(context: dg.AssetExecutionContext, source: SourceResource, policy: PrivacyPolicyResource,
            release_key: ReleaseKeyResource, valid_people: pd.DataFrame, valid_events: pd.DataFrame,
            quarantine: dict):
    """The released personas and events: protection raised until every target holds, or no release."""
    pol = policy.policy()
    domain = source.get_domain()
    ctx = PassContext(CACHE.prepared(valid_people, valid_events, domain), pol, release_key.key(), context.partition_key)
    where = f"partition {context.partition_key}"
    try:
        # Where the policy sets an Anonymeter limit (high, maximum) the released configuration is also
        # attacked with Anonymeter; a risk above the limit refuses the partition's release.
        result = make_release_from_prepared(ctx, max_iterations=policy.max_iterations,
                                            anonymeter=pol.anonymeter_max_risk is not None,
                                            first=CACHE.cached_first_protection(ctx))
    except AttackRefusedError as exc:
        raise dg.Failure(description=f"{where}: {exc}",
                         metadata={**float_metadata(exc.evaluation.metrics()),
                                   "anonymeter": dg.MetadataValue.md(md_table(attack_table(exc.evaluation.table())))}
                         ) from None
    except ReleaseRefusedError as exc:  # a privacy target or utility gate cannot be met
        table = history_frame(exc.history)
        raise dg.Failure(description=f"{where}: {exc}", metadata={
            "iterations": dg.MetadataValue.md(md_table(table[[c for c in HISTORY_COLUMNS if c in table]]))}) from None
    except EvaluationUnavailableError as exc:
        raise dg.Failure(description=f"{where}: nothing is released: {exc}") from None
    except InputRejectedError as exc:  # e.g. fewer than k people
        raise dg.Failure(description=f"{where}: {exc}") from None
    counts = quarantine["counts"].iloc[0].to_dict()
    release = result.tables().with_counts(counts)
    hist = release.history
    metadata = {
        **table_metadata(release.personas),
        **float_metadata(result.metrics()),
        "iterations_table": dg.MetadataValue.md(md_table(hist[[c for c in HISTORY_COLUMNS if c in hist]])),
        "final_policy": dg.MetadataValue.json(result.policy.parameters()),
        "risk_level": dg.MetadataValue.text(result.risk_level()),
        "pram_p": dg.MetadataValue.float(result.pram.p),
    }
    if release.anonymeter is not None:
        metadata["anonymeter"] = dg.MetadataValue.md(md_table(attack_table(release.anonymeter)))
    context.log.info(f"released {len(result.personas)} personas after {result.iterations} iteration(s), "
                     f"release risk {result.release_risk:.4f}")
    yield dg.Output(release, metadata=metadata)
    yield release_guarantees(pol.k, release, domain.direct_identifiers)
    yield release_utility_gates(release)


def attack_table(table: pd.DataFrame) -> pd.DataFrame:
    """The Anonymeter evaluators as a small table for the UI: risk, interval and success rates."""
    return table[["attack", "variant", "risk", "ci_low", "ci_high", "attack_rate", "control_rate", "n_attacks"]]


def guarantee_results(release: ReleaseTables, k_required: int,
                      direct_identifiers: tuple[str, ...] = ()) -> tuple[bool, dict, str]:
    """GX suites stating the release guarantees on the personas, events and figures; thresholds from the criteria."""
    pol, m = release.policy, release.metrics
    k_min = criteria.KAnonymity().threshold(pol)
    l_min = criteria.LDiversity().threshold(pol)
    figures = pd.DataFrame([{
        "release_risk": float(m["release_risk"]), "k_anonymity": float(m["k_anonymity"]),
        "l_diversity": float(m["l_diversity_distinct"]) if np.isfinite(m["l_diversity_distinct"]) else l_min,
        "events_in": float(release.counts.get("events_valid", m["n_events"])),
        "events_out": float(len(release.events)),
    }])
    dates = criteria.dates_at_precision(release.events, pol["date_precision"])
    outcomes = [
        run_suite("release_personas", release.personas, [
            ("ExpectColumnMinToBeBetween", {"column": "size", "min_value": max(k_min, k_required)}),
            ("ExpectColumnValuesToBeUnique", {"column": "persona_id"}),
            ("ExpectColumnValuesToNotBeNull", {"column": "persona_id"}),
        ], row_column=None),
        run_suite("release_events_dates", dates,
                  [("ExpectColumnValuesToBeInSet", {"column": c, "value_set": [True]}) for c in dates.columns],
                  row_column=None),
        run_suite("release_figures", figures, [
            ("ExpectColumnMaxToBeBetween",
             {"column": "release_risk", "max_value": criteria.ReleaseRisk().threshold(pol)}),
            ("ExpectColumnMinToBeBetween", {"column": "k_anonymity", "min_value": k_min}),
            ("ExpectColumnMinToBeBetween", {"column": "l_diversity", "min_value": l_min}),
            ("ExpectColumnPairValuesToBeEqual", {"column_A": "events_in", "column_B": "events_out"}),
        ], row_column=None),
    ]
    identifiers = criteria.identifier_columns(release.released(), direct_identifiers)
    passed = all(o.passed for o in outcomes) and not identifiers
    meta = {"success_percent": dg.MetadataValue.float(
                float(np.mean([o.metadata["success_percent"].value for o in outcomes]))),
            "failed_expectations": dg.MetadataValue.json(
                [f for o in outcomes for f in o.metadata["failed_expectations"].value]),
            "results": dg.MetadataValue.md("\n\n".join(o.metadata["results"].value for o in outcomes)),
            "identifier_columns_found": dg.MetadataValue.json(identifiers)}
    desc = "; ".join(o.description for o in outcomes) + (
        f"; identifier columns in release: {identifiers}" if identifiers else "")
    return passed, meta, desc


def release_guarantees(k_required: int, release: ReleaseTables,
                       direct_identifiers: tuple[str, ...] = ()) -> dg.AssetCheckResult:
    """The release's guarantees (GX suites): k, risk, l, identifiers, date precision, events kept."""
    passed, meta, desc = guarantee_results(release, k_required, direct_identifiers)
    return dg.AssetCheckResult(check_name=CHECK_RELEASE_GUARANTEES, passed=passed, metadata=meta,
                               description=desc[:2000])


def release_utility_gates(release: ReleaseTables) -> dg.AssetCheckResult:
    """Event counts kept and every gated group rate within its gate."""
    rates = release.group_rates
    counts = release.event_counts
    suite = [("ExpectColumnPairValuesToBeEqual", {"column_A": "original", "column_B": "released"})]
    outcome = run_suite("release_event_counts", counts, suite, row_column=None)
    failing = rates[~rates["passed"].astype(bool)] if len(rates) else rates
    gated = rates[rates["gate"] != "none"] if len(rates) else rates
    passed = outcome.passed and failing.empty
    desc = outcome.description + ("" if failing.empty else
                                  f"; {len(failing)} group rate(s) outside their gate, e.g. " +
                                  ", ".join(f"{r.attribute}={r.group} {r.event_type}/{r.outcome} {r.diff_pp:+.2f} pp"
                                            for r in failing.head(5).itertuples()))
    return dg.AssetCheckResult(
        check_name=CHECK_RELEASE_UTILITY, passed=bool(passed), description=desc[:2000], metadata={
            **outcome.metadata, "gated_rates": len(gated),
            "max_abs_rate_diff_pp": float(gated["diff_pp"].abs().max()) if len(gated) else 0.0})
