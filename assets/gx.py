"""Great Expectations 1.x suites run directly from asset checks (no dagster-ge: it pins GX < 1).

A suite is data: a list of ``(ExpectationClassName, kwargs)``. GX is imported inside the check
(it costs seconds to import), validates a pandas frame in an ephemeral context, and the result
becomes check metadata: success %, the failed expectations, a table, and the source row numbers
of failing rows. Values of failing rows are never copied into metadata (they may be sensitive).
"""


import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import dagster as dg
import pandas as pd

Expectation = tuple[str, dict]
MAX_ROWS_NAMED = 20


@dataclass(frozen=True)
class SuiteOutcome:
    passed: bool
    metadata: dict
    description: str


_CONTEXT: list = []
_CONTEXT_LOCK = threading.Lock()
_BATCHES: dict = {}  # suite name -> batch definition of a dataframe asset in the process's context
SOURCE = "personatwin"


def _context():
    """One ephemeral GX context per process (each new one leaves a temporary docs folder behind)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    with _CONTEXT_LOCK:
        # imported on first use, not with the code location: great_expectations takes 2.5-4 s to import
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
        from great_expectations.execution_engine import pandas_execution_engine

        if not _CONTEXT:
            # GX fingerprints every in-memory batch by hashing each cell, twice per suite (5.7 of 6.4 s on
            # 10M events); the fingerprint is a batch marker nothing here reads, and GX itself skips it for
            # frames over this threshold (1 GB): skip it for every frame
            pandas_execution_engine.HASH_THRESHOLD = 0
            ctx = gx.get_context(mode="ephemeral")
            ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
            _CONTEXT.append(ctx)
        return gx, _CONTEXT[0]


def preload() -> None:
    """Import GX and make the context in a background thread (a step that runs suites after seconds of
    its own work calls this first: the import overlaps that work instead of adding to it)."""
    if not _CONTEXT:
        threading.Thread(target=_context, name="gx-preload", daemon=True).start()


def _batch_definition(ctx, name: str):
    """The dataframe asset of a suite, made once per process: adding and deleting a data source
    per validation rewrites the context's config each time (about half of a small suite's time)."""
    if name not in _BATCHES:
        try:
            source = ctx.data_sources.get(SOURCE)
        except KeyError:
            source = ctx.data_sources.add_pandas(SOURCE)
        _BATCHES[name] = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe("partition")
    return _BATCHES[name]


def _observed(res: dict) -> str:
    """An observed aggregate as text, numbers only: a min or max date would be one person's date."""
    value = res.get("observed_value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ""
    return str(value)


def _rule(kind: str, kwargs: dict) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("value_set",)}
    if "value_set" in kwargs:
        shown["value_set"] = f"<{len(kwargs['value_set'])} allowed values>"
    return f"{kind}({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


def run_suite(name: str, df: pd.DataFrame, expectations: Sequence[Expectation],
              row_column: str | None = "row") -> SuiteOutcome:
    """Validate ``df`` against the suite; failing rows are named by ``row_column`` when present."""
    gx, ctx = _context()
    data = df.reset_index() if row_column and row_column not in df.columns and df.index.name == row_column else df
    data = data.reset_index(drop=True)
    batch = _batch_definition(ctx, name).get_batch(batch_parameters={"dataframe": data})
    suite = gx.ExpectationSuite(name=name)
    for kind, kwargs in expectations:
        suite.add_expectation(getattr(gx.expectations, kind)(**kwargs))
    fmt = {"result_format": "COMPLETE", "include_unexpected_rows": False, "return_unexpected_index_query": False}
    if row_column and row_column in data.columns:
        fmt["unexpected_index_column_names"] = [row_column]
    result = batch.validate(suite, result_format=fmt)
    rows, failed, notes = [], [], []
    for r in result.results:
        kind = (type(r.expectation_config).__name__ if not hasattr(r.expectation_config, "type")
                else r.expectation_config.type)
        kwargs = {k: v for k, v in r.expectation_config.kwargs.items() if k not in ("batch_id",)}
        res = r.result or {}
        named = []
        if row_column:
            for item in (res.get("unexpected_index_list") or [])[:MAX_ROWS_NAMED]:
                if isinstance(item, dict) and row_column in item:
                    named.append(int(item[row_column]))
        rule = _rule(kind, kwargs)
        rows.append({"expectation": rule, "success": bool(r.success),
                     "unexpected": int(res.get("unexpected_count") or 0),
                     "observed": _observed(res)})
        if not r.success:
            failed.append(rule)
            where = f" at {row_column}s {named}" if named else ""
            if "unexpected_count" in res:
                notes.append(f"{rule} failed for {int(res.get('unexpected_count') or 0)} row(s){where}")
            else:  # an aggregate (min, max, count) expectation: no rows to count
                notes.append(f"{rule} failed (observed {_observed(res) or 'a value not shown'})")
    stats = result.statistics
    md = "| expectation | success | unexpected | observed |\n|---|---|---|---|\n" + "\n".join(
        f"| {r['expectation']} | {r['success']} | {r['unexpected']} | {r['observed']} |" for r in rows)
    metadata = {
        "success_percent": dg.MetadataValue.float(float(stats.get("success_percent") or 0.0)),
        "evaluated_expectations": dg.MetadataValue.int(int(stats.get("evaluated_expectations") or 0)),
        "failed_expectations": dg.MetadataValue.json(failed),
        "results": dg.MetadataValue.md(md),
        "rows_validated": dg.MetadataValue.int(len(data)),
    }
    description = "; ".join(notes) if notes else f"all {len(rows)} expectations of {name} hold"
    return SuiteOutcome(bool(result.success), metadata, description)


def check_result(outcome: SuiteOutcome, asset_key=None, check_name: str | None = None) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=outcome.passed, metadata=outcome.metadata, description=outcome.description[:2000],
                               asset_key=asset_key, check_name=check_name)
