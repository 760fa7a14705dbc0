"""Publish: an approved staged release swapped into the releases root, its approval id in every file."""


import json
import shutil
import time
from pathlib import Path

import dagster as dg

from assets.common import PARTITIONS, seconds_since
from assets.constants import CHECK_APPROVALS, CHECK_PUBLISHED_MANIFEST, PUBLISH
from assets.publication import (
    DOSSIER_HTML,
    DOSSIER_JSON,
    charge_dp_budget,
    manifest_matches_files,
    recheck_series,
    record_release,
    write_published_ledger,
)
from personatwin.core.errors import ApprovalLogError, ApprovalRefusedError
from personatwin.govern.approvals import Review
from personatwin.govern.dossier import dossier_from_json, render_dossier, with_sign_off
from personatwin.govern.stamp import approval_id, stamp_release
from personatwin.publish.history import write_index
from personatwin.release.tables import ReleaseTables
from resources import fs
from resources.governance import GovernanceResource
from resources.series import SeriesLedgerResource
from resources.storage import ReleaseStorageResource


@dg.asset(group_name=PUBLISH, partitions_def=PARTITIONS, deps=["release_files"], kinds={"parquet", "csv", "json"},
          output_required=False,
          check_specs=[
              dg.AssetCheckSpec(CHECK_APPROVALS, asset="published_release", partitions_def=PARTITIONS, blocking=True,
                                description="The staged release has the policy's approvals (distinct reviewers, "
                                            "none its launcher) and was published with its approval id."),
              dg.AssetCheckSpec(CHECK_PUBLISHED_MANIFEST, asset="published_release", partitions_def=PARTITIONS,
                                description="Every published file matches the SHA-256 in its manifest."),
          ])
def published_release(context: dg.AssetExecutionContext, release_storage: ReleaseStorageResource,
                      internal_storage: ReleaseStorageResource, series_ledger: SeriesLedgerResource,
                      governance: GovernanceResource, release: ReleaseTables):
    """The partition's approved staged release, published with its approval id in every file and recorded in the
    series ledger; until the policy's approvals exist it is not materialized and its check fails."""
    t0 = time.perf_counter()
    key = context.partition_key
    if not governance.reviewed:
        yield dg.Output(None, metadata={"review": "no disclosure review configured: release_files published it"})
        yield dg.AssetCheckResult(check_name=CHECK_APPROVALS, passed=True,
                                  description="no disclosure review configured (PERSONATWIN_APPROVALS_REQUIRED=0)")
        yield published_files_check(release_storage, key)
        return
    try:
        staged = governance.area().find(key)
        log = governance.log()
        review = log.review(staged.staging(), governance.policy())
    except (ApprovalRefusedError, ApprovalLogError) as exc:
        raise dg.Failure(description=f"partition {key}: {exc}") from None
    info = {"staging_id": staged.staging_id, "launched_by": staged.launched_by, "review": review.state,
            "approvers": dg.MetadataValue.json(list(review.approvers)),
            "dossier_path": dg.MetadataValue.path(str(staged.internal_folder / DOSSIER_HTML))}
    if not review.complete:  # not published: no materialization (the deadline's freshness check sees it missing)
        yield dg.AssetCheckResult(check_name=CHECK_APPROVALS, passed=False, description=review.state,
                                  metadata={**info, "approvals": len(review.approvals), "required": review.required,
                                            **seconds_since(t0)})
        yield published_files_check(release_storage, key)
        return
    staged_manifest = json.loads((staged.release_folder / "manifest.json").read_text(encoding="utf-8"))
    if (staged_manifest.get("series") or {}).get("release_id") != release.series.get("release_id") or \
            staged.data_tag != release.series.get("data_tag"):
        raise dg.Failure(description=f"partition {key}: the stored release is not the staged one (a later run "
                                     "replaced it); rerun the partition and review its new staging")
    if published_review(release_storage, key) != review.manifest_sha256:
        publish(context, staged, review, log.head(), release, release_storage, internal_storage, series_ledger,
                staged_manifest["created_at"])
    location = release_storage.partition_location(key)
    index = {}
    if not fs.is_url(release_storage.location):
        index = {"index_path": dg.MetadataValue.path(str(write_index(fs.local_path(release_storage.location))))}
    yield dg.Output(None, metadata={**info, "approval_id": approval_id(review),
                                    "release_path": dg.MetadataValue.path(location), **index, **seconds_since(t0)})
    yield dg.AssetCheckResult(check_name=CHECK_APPROVALS, passed=True, description=review.state,
                              metadata={"approval_id": approval_id(review)})
    yield published_files_check(release_storage, key)


def published_files_check(release_storage: ReleaseStorageResource, partition_key: str) -> dg.AssetCheckResult:
    """The partition's published folder against its manifest (nothing published yet: nothing to mismatch)."""
    if not fs.exists(fs.join(release_storage.partition_location(partition_key), "manifest.json")):
        return dg.AssetCheckResult(check_name=CHECK_PUBLISHED_MANIFEST, passed=True,
                                   description="nothing is published for this period yet")
    return manifest_matches_files(release_storage, partition_key, CHECK_PUBLISHED_MANIFEST)


def published_review(release_storage: ReleaseStorageResource, partition_key: str) -> str | None:
    """The reviewed manifest hash the partition's published release names (None: none published under review)."""
    path = fs.join(release_storage.partition_location(partition_key), "manifest.json")
    if not fs.exists(path):
        return None
    with release_storage.reading(partition_key) as folder:
        manifest = json.loads((Path(folder) / "manifest.json").read_text(encoding="utf-8"))
    return (manifest.get("approval") or {}).get("staged_manifest_sha256")


def publish(context, staged, review: Review, log_head: str, release: ReleaseTables,
            release_storage: ReleaseStorageResource, internal_storage: ReleaseStorageResource,
            series_ledger: SeriesLedgerResource, created_at: str) -> dict:
    """Under the series ledger's lock: the series risk rechecked with every release recorded since staging, the DP
    budget charged, the release recorded, the version it supersedes kept, then the internal folder (signed
    dossier) and the stamped release folder swapped into place."""
    key = context.partition_key
    ledger = series_ledger.ledger()
    with ledger.locked():
        recheck_series(ledger, release, key)
        charge_dp_budget(ledger, release, key)
        record_release(ledger, release, series_ledger.recipient_list(), created_at, approval_id(review))
        if release.series.get("supersedes") is not None:
            archived = release_storage.archive_current(key)
            if archived:
                context.log.info(f"version {release.series['supersedes']} stays published at {archived}")
        with internal_storage.staged(key) as folder:
            shutil.copytree(staged.internal_folder, folder, dirs_exist_ok=True)
            signed = with_sign_off(dossier_from_json((staged.internal_folder / DOSSIER_JSON).read_text("utf-8")),
                                   review)
            (Path(folder) / DOSSIER_HTML).write_text(render_dossier(signed), encoding="utf-8")
        with release_storage.staged(key) as folder:
            manifest = stamp_release(staged.release_folder, Path(folder), review, log_head)
        if not fs.is_url(release_storage.location):
            write_published_ledger(ledger, fs.local_path(release_storage.location))
    return manifest
