"""Export: the release folder (Parquet, CSV, JSON, HTML report, manifest), written atomically."""


import json
from pathlib import Path

import dagster as dg

from assets.common import PARTITIONS
from assets.constants import CHECK_MANIFEST, EXPORT
from personatwin.publish.export import INTERNAL_REPORT, verify_manifest, write_internal_folder, write_release_folder
from personatwin.publish.history import write_index
from personatwin.publish.report import report_verdict
from personatwin.release.tables import ReleaseTables
from resources import fs
from resources.storage import ReleaseStorageResource


@dg.asset(group_name=EXPORT, kinds={"parquet", "csv", "json", "html"}, partitions_def=PARTITIONS, check_specs=[
    dg.AssetCheckSpec(CHECK_MANIFEST, asset="release_files", partitions_def=PARTITIONS, blocking=True,
                      description="Every file of the release folder matches the SHA-256 in its manifest.")])
def release_files(context: dg.AssetExecutionContext, release_storage: ReleaseStorageResource,
                  internal_storage: ReleaseStorageResource, release: ReleaseTables):
    """The partition's release folder (data, published report, manifest with checksums) and its internal report."""
    with internal_storage.staged(context.partition_key) as folder:  # original vs release: never published
        write_internal_folder(release, folder, partition=context.partition_key)
    with release_storage.staged(context.partition_key) as folder:
        manifest = write_release_folder(release, folder, partition=context.partition_key)
    location = release_storage.partition_location(context.partition_key)
    m = manifest["metrics"]
    verdict = (report_verdict(release).markdown(context.partition_key)
               + f"\n\nRelease risk {m['release_risk']:.4f} (target {manifest['policy']['target_risk']}), "
               f"k = {int(m['k_anonymity'])}, {int(m['n_personas'])} personas, {int(m['n_events'])} events.")
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
        "verdict": dg.MetadataValue.md(verdict),
        "files": dg.MetadataValue.json({k: v["sha256"][:16] for k, v in manifest["files"].items()}),
    })
    yield manifest_matches_files(release_storage, context.partition_key)


def manifest_matches_files(release_storage: ReleaseStorageResource, partition_key: str) -> dg.AssetCheckResult:
    """The published folder, read back from storage, against its manifest's SHA-256s."""
    location = release_storage.partition_location(partition_key)
    with release_storage.reading(partition_key) as folder:  # not replaced while verified
        if not (Path(folder) / "manifest.json").exists():
            return dg.AssetCheckResult(check_name=CHECK_MANIFEST, passed=False,
                                       description=f"{location}: no manifest.json")
        problems = verify_manifest(folder)
        files = len(json.loads((Path(folder) / "manifest.json").read_text())["files"])
    return dg.AssetCheckResult(check_name=CHECK_MANIFEST, passed=not problems,
                               metadata={"files": files, "problems": dg.MetadataValue.json(problems)},
                               description="manifest matches files" if not problems else "; ".join(problems)[:2000])
