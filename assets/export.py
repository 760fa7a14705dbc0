"""Export: the release folder (Parquet, CSV, JSON, HTML report, manifest), written atomically."""


import datetime
import json
import os
import time
from dataclasses import replace
from pathlib import Path

import dagster as dg

from assets.common import PARTITIONS, float_metadata, seconds_since
from assets.constants import CHECK_MANIFEST, DP_BUDGET_FILE, EXPORT
from personatwin.core.errors import BudgetExceededError
from personatwin.publish.export import INTERNAL_REPORT, verify_manifest, write_internal_folder, write_release_folder
from personatwin.publish.history import write_index
from personatwin.publish.report import report_verdict
from personatwin.release.tables import ReleaseTables
from personatwin.series import dp_tables as dp
from personatwin.series.budget import BudgetLedger
from personatwin.series.composition import series_risk
from personatwin.series.ledger import Ledger, LedgerEntry
from personatwin.series.publication import series_missed
from resources import fs
from resources.series import SeriesLedgerResource
from resources.storage import ReleaseStorageResource


@dg.asset(group_name=EXPORT, kinds={"parquet", "csv", "json", "html"}, partitions_def=PARTITIONS, check_specs=[
    dg.AssetCheckSpec(CHECK_MANIFEST, asset="release_files", partitions_def=PARTITIONS, blocking=True,
                      description="Every file of the release folder matches the SHA-256 in its manifest.")])
def release_files(context: dg.AssetExecutionContext, release_storage: ReleaseStorageResource,
                  internal_storage: ReleaseStorageResource, series_ledger: SeriesLedgerResource,
                  release: ReleaseTables):
    """The partition's release folder (data, published report, manifest with checksums), its internal report,
    and its entry in the series ledger; a new version keeps the one it supersedes published beside it."""
    t0 = time.perf_counter()
    ledger = series_ledger.ledger()
    with ledger.locked():  # releases of one series are checked against the ledger and recorded one at a time
        created_at = recheck_series(ledger, release, context.partition_key)
        if created_at is not None:  # unchanged data: republished byte for byte, with its first run's timings
            release = replace(release, timings=published_timings(
                release_storage, context.partition_key, int(release.series["version"])) or release.timings)
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
        **float_metadata({f"seconds_{k}": v for k, v in (manifest.get("timings") or {}).items()}),
        **seconds_since(t0),
    })
    yield manifest_matches_files(release_storage, context.partition_key)


def published_timings(release_storage: ReleaseStorageResource, partition_key: str, version: int) -> dict:
    """The timings in the manifest of a published version (empty when there is none)."""
    try:
        with release_storage.reading_version(partition_key, version) as folder:
            path = Path(folder) / "manifest.json"
            return dict(json.loads(path.read_text()).get("timings") or {}) if path.exists() else {}
    except (OSError, ValueError, KeyError):
        return {}


def now_iso() -> str:
    """The publication time as the manifest shows it (UTC, seconds)."""
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def recheck_series(ledger: Ledger, release: ReleaseTables, partition_key: str) -> str | None:
    """Under the ledger's lock: the version is still free (or this very data) and the series risk still
    holds with every release recorded meanwhile; returns the manifest time of a republished version."""
    s = release.series
    same = [e for e in ledger.versions(s["series"], partition_key) if e.version == s["version"]]
    if same and same[0].data_tag != s["data_tag"]:
        raise dg.Failure(description=f"partition {partition_key}: {s['release_id']} was published meanwhile with "
                                     "other data; rerun the partition to release it as the next version")
    if same:  # unchanged data: the very same version again, with its first publication time
        return same[0].recorded_at
    if release.exposure is None:
        raise dg.Failure(description=f"partition {partition_key}: the release carries no exposure table")
    earlier = [ledger.exposure(e) for e in ledger.window(s["series"], partition_key, s.get("window_months"))
               if not (e.period == partition_key and e.version == s["version"])]
    missed = series_missed(series_risk(release.exposure, earlier), release.policy)
    if missed:
        raise dg.Failure(description=(
            f"partition {partition_key}: " + "; ".join(text for _, text in missed) + " with the releases recorded "
            "since this one was checked; nothing is published: rerun the partition so the privacy loop accounts "
            "for them"))
    return None


def charge_dp_budget(ledger: Ledger, release: ReleaseTables, partition_key: str) -> None:
    """Charge the DP tables' rho to the series budget before they are published (once per version)."""
    if release.dp_tables is None:
        return
    s, pol = release.series, release.policy
    window = s.get("window_months") or dp.ALL_TIME_MONTHS
    try:
        BudgetLedger(ledger.root / DP_BUDGET_FILE).charge(
            s["series"], partition_key, s["release_id"], int(s["version"]), float(pol["dp_rho_per_release"]),
            float(pol["dp_rho_cap"]), int(window))
    except BudgetExceededError as exc:
        raise dg.Failure(description=f"partition {partition_key}: nothing is released: {exc}") from None


def record_release(ledger: Ledger, release: ReleaseTables, recipients: tuple[str, ...], recorded_at: str) -> None:
    """Append the release to the ledger with its exposure (idempotent for an unchanged rerun)."""
    s = release.series
    supersedes = int(s["supersedes"]) if s.get("supersedes") is not None else None
    ledger.record(LedgerEntry(s["series"], s["period"], int(s["version"]), s["release_id"], s["data_tag"],
                              recipients, supersedes, s.get("nonce"), recorded_at,
                              {**(s.get("ledger_figures") or {}), "salt": s["salt"]}), release.exposure)


def write_published_ledger(ledger: Ledger, root: Path) -> Path:
    """``<releases root>/ledger.json``: the identity of every published version (no figures about people)."""
    path = root / "ledger.json"
    tmp = root / f".ledger.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps([e.published() for e in ledger.entries()], indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


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
