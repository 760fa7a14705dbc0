"""Auto-adjust: the privacy loop for one partition; each iteration is recorded in the metadata."""


import time
from contextlib import ExitStack
from dataclasses import replace

import dagster as dg
import numpy as np
import pandas as pd

from assets.common import PARTITIONS, float_metadata, md_table, seconds_since, table_metadata, upstream_seconds
from assets.constants import AUTO_ADJUST, CHECK_RELEASE_GUARANTEES, CHECK_RELEASE_UTILITY, DP_BUDGET_FILE
from assets.gx import run_suite
from assets.step_cache import CACHE
from personatwin.advisor.advise import advice_record, apply_changes, explain_release, recommend_for_refusal
from personatwin.core.errors import (
    AttackRefusedError,
    EvaluationUnavailableError,
    InputRejectedError,
    PrivacyTargetError,
    ReleaseRefusedError,
)
from personatwin.govern.pinned import review_block, review_sentence
from personatwin.measure import criteria
from personatwin.protect.prepared import PassContext
from personatwin.release.auto_adjust import history_frame
from personatwin.release.release import make_release_from_prepared
from personatwin.release.research import DomainDefaults
from personatwin.release.tables import ReleaseTables
from personatwin.series import dp_tables as dp
from personatwin.series.budget import BudgetLedger
from personatwin.series.ledger import LedgerEntry
from personatwin.series.publication import data_tag, plan_version, release_in_series
from resources.advisor import AdvisorResource
from resources.io_manager import READ_ONCE
from resources.key import ReleaseKeyResource
from resources.policy import PrivacyPolicyResource
from resources.series import SeriesLedgerResource
from resources.shards import ShardRunnerResource, shard_metadata
from resources.source import SourceResource
from resources.storage import ReleaseStorageResource

HISTORY_COLUMNS = ["iteration", "step", "k", "date_precision", "location_level", "qi_levels", "pram_p",
                   "k_anonymity", "population_average_risk", "external_linkage_risk", "release_risk",
                   "l_diversity", "information_loss", "max_rate_diff_pp", "meets_targets", "released"]


@dg.asset(group_name=AUTO_ADJUST, kinds={"pandas", "parquet"}, partitions_def=PARTITIONS, deps=["risk_assessment"],
          metadata={READ_ONCE: True},
          check_specs=[
              dg.AssetCheckSpec(CHECK_RELEASE_GUARANTEES, asset="release", partitions_def=PARTITIONS, blocking=True,
                                description=("k, risk <= target, l-diversity, no identifiers, no over-precise dates, "
                                             "every event kept.")),
              dg.AssetCheckSpec(CHECK_RELEASE_UTILITY, asset="release", partitions_def=PARTITIONS, blocking=True,
                                description=("Utility gates: unbiased group outcome rates close to the original; "
                                             "event counts kept.")),
          ])
def release(context: dg.AssetExecutionContext, source: SourceResource, policy: PrivacyPolicyResource,
            release_key: ReleaseKeyResource, series_ledger: SeriesLedgerResource,
            release_storage: ReleaseStorageResource, advisor: AdvisorResource, shards: ShardRunnerResource,
            valid_people: pd.DataFrame,
            valid_events: pd.DataFrame, quarantine: dict):
    """The released personas and events: protection raised until every target holds, for this release and
    for its series (composition over the window, differencing against a published version), or no release."""
    t0 = time.perf_counter()
    pol, pinned = policy.resolve()
    domain = source.get_domain()
    key = release_key.key()
    ledger = series_ledger.ledger()
    plan = plan_version(ledger, domain.name, context.partition_key,
                        data_tag(key, valid_people, valid_events, domain.name,
                                 digests=CACHE.table_digests(valid_people, valid_events)), pol.series_window_months)
    t_prepare = time.perf_counter()
    shard_runner = ExitStack()  # closed (a local Dask cluster stopped) once the loop is done, refused or not
    runner = shard_runner.enter_context(shards.runner())
    ctx = PassContext(CACHE.prepared(valid_people, valid_events, domain), pol, key, plan.salt, runner=runner)
    prepare_seconds = time.perf_counter() - t_prepare
    where = f"partition {context.partition_key}"

    def make(c: PassContext, anonymeter: bool = False):
        # the domain's declared analyses (its YAML ``analyses``) run on every release: research validation
        return make_release_from_prepared(c, max_iterations=policy.max_iterations, anonymeter=anonymeter,
                                          first=CACHE.cached_first_protection(c), analyses=DomainDefaults())

    def make_final(c: PassContext):
        # Where the policy sets an Anonymeter limit (high, maximum) the configuration the series checks
        # settled on is also attacked with Anonymeter; a risk above the limit refuses the release.
        return make(c, anonymeter=pol.anonymeter_max_risk is not None)

    def previous_tables(entry: LedgerEntry) -> tuple[pd.DataFrame, pd.DataFrame]:
        with release_storage.reading_version(entry.period, entry.version) as folder:
            return pd.read_parquet(folder / "personas.parquet"), pd.read_parquet(folder / "events.parquet")

    advice = None
    try:
        try:
            outcome = release_in_series(ctx, make, ledger, plan, previous_tables, make_final=make_final)
        except PrivacyTargetError as refused:
            if not advisor.enabled:
                raise
            outcome, advice = advised_release(advisor.advisor(), refused, ctx, domain, context.log,
                                              lambda c: release_in_series(c, make, ledger, plan, previous_tables,
                                                                          make_final=make_final))
    except AttackRefusedError as exc:
        raise dg.Failure(description=f"{where}: {exc}",
                         metadata={**float_metadata(exc.evaluation.metrics()),
                                   "anonymeter": dg.MetadataValue.md(md_table(attack_table(exc.evaluation.table())))}
                         ) from None
    except ReleaseRefusedError as exc:  # a privacy target or utility gate cannot be met
        table = history_frame(exc.history)
        why = getattr(exc, "refusal", None)  # the binding target in numbers and the changes tried
        told = getattr(exc, "advice", None)  # the advisor's recommendation and what it gave, when one was asked
        raise dg.Failure(description=f"{where}: {exc}", metadata={
            "iterations": dg.MetadataValue.md(md_table(table[[c for c in HISTORY_COLUMNS if c in table]])),
            **({"changes_tried": dg.MetadataValue.md(md_table(why.table()))} if why is not None else {}),
            **({"advisor": dg.MetadataValue.json(advice_summary(told))} if told else {})}) from None
    except EvaluationUnavailableError as exc:
        raise dg.Failure(description=f"{where}: nothing is released: {exc}") from None
    except InputRejectedError as exc:  # e.g. fewer than k people
        raise dg.Failure(description=f"{where}: {exc}") from None
    finally:
        shard_runner.close()
    result, plan = outcome.release, outcome.plan
    counts = quarantine["counts"].iloc[0].to_dict()
    tables = result.tables().with_counts(counts)
    dp_table, dp_metrics = dp_release(pol, domain, plan, valid_people, valid_events, series_ledger, release_storage)
    figures = {**outcome.figures(), **dp_metrics}
    release = replace(tables, metrics={**tables.metrics, **figures}, release_id=plan.release_id,
                      series={**plan.identity(), "data_tag": plan.data_tag, "salt": plan.salt,
                              "nonce": plan.nonce, "ledger_figures": {**outcome.ledger_figures(), **dp_metrics},
                              "previous_recorded_at": plan.previous.recorded_at if plan.previous else None,
                              **({"pinned": review_block(pinned, result.policy)} if pinned is not None else {})},
                      exposure=outcome.exposure, dp_tables=dp_table)
    # where the time went: upstream stages (from their materializations), then this stage's parts
    timings = {**upstream_seconds(context, context.partition_key), "prepare": prepare_seconds, **result.timings,
               "release": time.perf_counter() - t0}
    release = replace(release, timings={k: round(float(v), 3) for k, v in timings.items()})
    if advisor.enabled:  # the explanation (and any recommendation tried) for the internal report
        advice = advice or advice_record(explain_release(advisor.advisor(), result))
        release = replace(release, advice=advice)
    hist = release.history
    metadata = {
        **table_metadata(release.personas),
        **float_metadata(result.metrics()),
        "iterations_table": dg.MetadataValue.md(md_table(hist[[c for c in HISTORY_COLUMNS if c in hist]])),
        "final_policy": dg.MetadataValue.json(result.policy.parameters()),
        "risk_level": dg.MetadataValue.text(result.risk_level()),
        "pram_p": dg.MetadataValue.float(result.pram.p),
        **float_metadata(figures),
        "series_version": dg.MetadataValue.int(plan.version),
        "release_id": dg.MetadataValue.text(plan.release_id),
        "configuration_review": dg.MetadataValue.text(review_sentence(release.series.get("pinned"))),
        **float_metadata({f"seconds_{k}": v for k, v in release.timings.items()}),
        **shard_metadata(runner),
        **seconds_since(t0),
    }
    if release.advice:
        metadata["advisor"] = dg.MetadataValue.json(advice_summary(release.advice))
    if release.anonymeter is not None:
        metadata["anonymeter"] = dg.MetadataValue.md(md_table(attack_table(release.anonymeter)))
    context.log.info(f"released {len(result.personas)} personas after {result.iterations} iteration(s), "
                     f"release risk {result.release_risk:.4f}, series risk {outcome.series.risk:.4f} "
                     f"({plan.release_id}{', unchanged' if plan.unchanged else ''})")
    yield dg.Output(release, metadata=metadata)
    yield release_guarantees(pol.k, release, domain.direct_identifiers)
    yield release_utility_gates(release)


def dp_release(pol, domain, plan, people: pd.DataFrame, events: pd.DataFrame, series_ledger: SeriesLedgerResource,
               release_storage: ReleaseStorageResource) -> tuple[pd.DataFrame | None, dict]:
    """The partition's DP tables and figures, when the policy asks for them. A republished version reuses its
    published table (never a fresh draw on the same data: averaging draws would remove the noise)."""
    dp_policy = dp.dp_policy_of(pol)
    if dp_policy is None:
        return None, {}
    if plan.unchanged and plan.previous is not None:
        with release_storage.reading_version(plan.period, plan.version) as folder:
            path = folder / "dp_tables.parquet"
            if not path.exists():
                raise dg.Failure(description=f"partition {plan.period}: {plan.release_id} was published without DP "
                                             "tables; the policy now asks for them, which needs a new version")
            table = pd.read_parquet(path)
        return table, {k: float(v) for k, v in plan.previous.figures.items() if k.startswith("dp_")}
    # the budget is charged (and a release over the cap refused) under the ledger's lock, at export
    spent = BudgetLedger(series_ledger.ledger().root / DP_BUDGET_FILE).spent(plan.series, plan.period,
                                                                             dp_policy.window_months)
    tables = dp.domain_dp_tables(people, events, domain, plan.period, dp_policy)
    return tables.table, dp.dp_figures(tables, dp_policy, spent + tables.rho)


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
    dates = criteria.dates_at_precision(criteria.distinct_dates(release.events), pol["date_precision"])
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


def advised_release(adv, refused: PrivacyTargetError, ctx: PassContext, domain, log, attempt):
    """After a refusal: the advisor's accepted changes tried once more through the series checks (released only if
    every target holds); the refusal stands otherwise, carrying the advice. Range hierarchies of sensitive counts
    need the domain's typing (declare them in its YAML): the pipeline tries the policy changes only."""
    advice, accepted, rejected = recommend_for_refusal(adv, refused, ctx.policy, domain)
    usable = tuple(c for c in accepted if c.field != "numeric_ranges")
    rejected = rejected + tuple(f"numeric_ranges: declare the ranges in the domain YAML ({c.value})"
                                for c in accepted if c.field == "numeric_ranges")
    if not usable:
        refused.advice = advice_record(None, advice, "nothing tried: no usable change", usable, rejected)
        raise refused
    candidate, _ = apply_changes(ctx.policy, domain, usable)
    changed = ", ".join(f"{c.field} = {c.value}" for c in usable)
    log.info(f"privacy targets missed; trying the advisor's recommendation ({changed})")
    try:
        outcome = attempt(ctx.with_policy(candidate))
    except ReleaseRefusedError as again:
        refused.advice = advice_record(None, advice, f"tried ({changed}): refused too: {str(again)[:300]}", usable,
                                       rejected)
        raise refused from None
    record = advice_record(explain_release(adv, outcome.release), advice,
                           f"tried ({changed}): every target holds; released", usable, rejected)
    return outcome, record


def advice_summary(advice: dict) -> dict:
    """The advice for Dagster metadata: the explanation and recommendation, not the exchanges' payloads."""
    out = {k: advice[k] for k in ("explanation", "recommendation") if k in advice}
    out["exchanges"] = [{k: x.get(k) for k in ("provider", "model", "at", "task", "outcome", "payload_sha256")}
                        for x in advice.get("exchanges", [])]
    return out
