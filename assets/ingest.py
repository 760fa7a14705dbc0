"""Ingest: read the partition's slice of the source (events dated in the period, their people)."""


import time
import warnings

import dagster as dg

from assets.common import PARTITIONS, seconds_since, table_metadata, window
from assets.constants import INGEST, SOURCE_DATA
from personatwin.core.errors import DirectIdentifierError, InputError
from resources.io_manager import READ_ONCE
from resources.source import SourceResource


def _observe(source: SourceResource) -> dg.DataVersionsByPartition:
    """The sensitive source as observed: a data version per release period (its events file, or table slice); a
    period whose source changed shows its ingest stale and is released again as a new version of the series.
    The observe_source sensor records these observations; "Observe sources" in the UI runs this function."""
    versions = source.period_versions(PARTITIONS.get_partition_keys())
    return dg.DataVersionsByPartition({period: dg.DataVersion(v) for period, v in versions.items()})


with warnings.catch_warnings():  # observable source assets are beta in Dagster 1.13: the one partitioned observation
    warnings.simplefilter("ignore", category=dg.BetaWarning)  # whose data versions automation conditions read
    source_data = dg.observable_source_asset(
        name=SOURCE_DATA, partitions_def=PARTITIONS, group_name=INGEST,
        description="The sensitive source as observed: a data version per release period.",
        tags={"dagster/kind/parquet": "", "dagster/kind/csv": "", "dagster/kind/sql": ""})(_observe)


@dg.multi_asset(
    deps=[SOURCE_DATA],
    outs={
        "source_people": dg.AssetOut(group_name=INGEST, kinds={"pandas", "parquet"}, metadata={READ_ONCE: True},
                                     description="People involved in the period's events, identifiers screened "
                                                 "and dropped."),
        "source_events": dg.AssetOut(group_name=INGEST, kinds={"pandas", "parquet"}, metadata={READ_ONCE: True},
                                     description="Events dated in the release period, as read from the source."),
    },
    partitions_def=PARTITIONS,
)
def source_tables(context: dg.AssetExecutionContext, source: SourceResource):
    """Read the partition's events and the people they involve; direct identifiers never pass."""
    t0 = time.perf_counter()
    start, end = window(context)
    try:
        part = source.read_partition(context.partition_key, start, end)
    except (InputError, DirectIdentifierError) as exc:  # the message names the file or column
        raise dg.Failure(description=f"partition {context.partition_key}: {exc}") from None
    ing = part.ingested
    common = {
        "source_files": dg.MetadataValue.json([str(f) for f in part.files]),
        "dropped_identifier_columns": dg.MetadataValue.json(list(ing.dropped_identifiers)),
        "ignored_columns": dg.MetadataValue.json(list(ing.ignored_columns)),
        "undated_rows_not_in_any_period": dg.MetadataValue.int(part.undated_rows),
        "period_start": dg.MetadataValue.text(str(start.date())),
        "period_end_exclusive": dg.MetadataValue.text(str(end.date())),
    }
    if part.undated_rows:
        context.log.warning(f"{part.undated_rows} event row(s) in the source have no parseable date and belong "
                            "to no release period; fix them in the source to release them")
    people = ing.people.reset_index()
    events = ing.events.reset_index()
    common.update(seconds_since(t0))
    yield dg.Output(people, output_name="source_people", metadata={**table_metadata(people), **common})
    yield dg.Output(events, output_name="source_events", metadata={**table_metadata(events), **common})
