"""Export: the release folder (Parquet, CSV, JSON, HTML report, manifest), written atomically: staged for
disclosure review (published later by the publish asset), or published at once where no review is configured."""


import time
from dataclasses import replace

import dagster as dg

from assets.common import PARTITIONS, float_metadata, seconds_since
from assets.constants import CHECK_MANIFEST, EXPORT
from assets.publication import (
    charge_dp_budget,
    folder_matches_manifest,
    launched_by,
    manifest_matches_files,
    now_iso,
    published_timings,
    recheck_series,
    record_release,
    stage_dossier,
    write_published_ledger,
)
from personatwin.govern.pinned import FULL_REVIEW, review_sentence
from personatwin.publish.export import INTERNAL_REPORT, write_internal_folder, write_release_folder
from personatwin.publish.history import write_index
from personatwin.publish.report import report_verdict
from personatwin.release.tables import ReleaseTables
from resources import fs
from resources.governance import GovernanceResource
from resources.series import SeriesLedgerResource
from resources.source import SourceResource
from resources.storage import ReleaseStorageResource


@dg.asset(group_name=EXPORT, kinds={"parquet", "csv", "json", "html"}, partitions_def=PARTITIONS, check_specs=[
    dg.AssetCheckSpec(CHECK_MANIFEST, asset="release_files", partitions_def=PARTITIONS, blocking=True,
                      description="Every file of the release folder matches the SHA-256 in its manifest.")])
def release_files(context: dg.AssetExecutionContext, release_storage: ReleaseStorageResource,
                  internal_storage: ReleaseStorageResource, series_ledger: SeriesLedgerResource,
                  governance: GovernanceResource, source: SourceResource, release: ReleaseTables):
    """The partition's release folder (data, published report, manifest with checksums) and its internal report:
    staged for disclosure review with its dossier, or, without review, published with its series ledger entry."""
    t0 = time.perf_counter()
    ledger = series_ledger.ledger()
    if governance.reviewed:
        with ledger.locked():  # checked against what is published so far; checked again when it is published
            created_at = recheck_series(ledger, release, context.partition_key)
        release = _republished(release, release_storage, context.partition_key, created_at)
        pinned = release.series.get("pinned") or {}
        with governance.area().stage(context.partition_key, launched_by(context), run_id=context.run.run_id,
                                     data_tag=str(release.series.get("data_tag", "")),
                                     full_review=review_sentence(pinned) if pinned.get("review") == FULL_REVIEW
                                     else "") as staged:
            write_internal_folder(release, staged.internal_folder, partition=context.partition_key)
            manifest = write_release_folder(release, staged.release_folder, partition=context.partition_key,
                                            created_at=created_at or now_iso())
            dossier = stage_dossier(release, source.get_domain(), ledger, context.partition_key,
                                    staged.internal_folder)
        staged = governance.area().find(context.partition_key, staged.staging_id)
        state = governance.log().review(staged.staging(), governance.policy()).state
        yield dg.Output(None, metadata={
            "staging_id": staged.staging_id, "staged_path": dg.MetadataValue.path(str(staged.release_folder)),
            "dossier_path": dg.MetadataValue.path(str(dossier)), "review": state,
            "configuration_review": review_sentence(pinned or None),
            "verdict": dg.MetadataValue.md(_verdict(release, manifest, context.partition_key)),
            **float_metadata({f"seconds_{k}": v for k, v in (manifest.get("timings") or {}).items()}),
            **seconds_since(t0)})
        yield folder_matches_manifest(staged.release_folder, str(staged.release_folder))
        return
    with ledger.locked():  # releases of one series are checked against the ledger and recorded one at a time
        created_at = recheck_series(ledger, release, context.partition_key)
        release = _republished(release, release_storage, context.partition_key, created_at)
        created_at = created_at or now_iso()
        charge_dp_budget(ledger, release, context.partition_key)
        # recorded before it is published: a crash in between leaves the ledger counting a release that is
        # not out yet (conservative), never a published release the series risk does not count
        record_release(ledger, release, series_ledger.recipient_list(), created_at)
        if release.series.get("supersedes") is not None:
            archived = release_storage.archive_current(context.partition_key)
            if archived:
                context.log.info(f"version {release.series['supersedes']} stays published at {archived}")
        with internal_storage.staged(context.partition_key) as folder:  # original vs release: never published
            write_internal_folder(release, folder, partition=context.partition_key)
        with release_storage.staged(context.partition_key) as folder:
            manifest = write_release_folder(release, folder, partition=context.partition_key, created_at=created_at)
        if not fs.is_url(release_storage.location):
            write_published_ledger(ledger, fs.local_path(release_storage.location))
    location = release_storage.partition_location(context.partition_key)
    index = {}
    if not fs.is_url(release_storage.location):
        # The history page across all published partitions. Remote storage (fsspec URL) has no index
        # yet: it would need the manifests downloaded and index.html uploaded after them.
        index = {"index_path": dg.MetadataValue.path(str(write_index(fs.local_path(release_storage.location))))}
    yield dg.Output(None, metadata={
        "release_path": dg.MetadataValue.path(location),
        "report_path": dg.MetadataValue.path(fs.join(location, "privacy_report.html")),
        "internal_report_path": dg.MetadataValue.path(
            fs.join(internal_storage.partition_location(context.partition_key), INTERNAL_REPORT)),
        **index,
        "review": "published without disclosure review (PERSONATWIN_APPROVALS_REQUIRED=0)",
        "verdict": dg.MetadataValue.md(_verdict(release, manifest, context.partition_key)),
        "files": dg.MetadataValue.json({k: v["sha256"][:16] for k, v in manifest["files"].items()}),
        **float_metadata({f"seconds_{k}": v for k, v in (manifest.get("timings") or {}).items()}),
        **seconds_since(t0),
    })
    yield manifest_matches_files(release_storage, context.partition_key)


def _republished(release: ReleaseTables, release_storage: ReleaseStorageResource, partition_key: str,
                 created_at: str | None) -> ReleaseTables:
    """Unchanged data (``created_at`` of its published version): republished byte for byte, with its first run's
    timings."""
    if created_at is None:
        return release
    return replace(release, timings=published_timings(release_storage, partition_key,
                                                      int(release.series["version"])) or release.timings)


def _verdict(release: ReleaseTables, manifest: dict, partition_key: str) -> str:
    m = manifest["metrics"]
    return (report_verdict(release).markdown(partition_key)
            + f"\n\nRelease risk {m['release_risk']:.4f} (target {manifest['policy']['target_risk']}), "
            f"k = {int(m['k_anonymity'])}, {int(m['n_personas'])} personas, {int(m['n_events'])} events.")
