"""Publishing a release into the releases root, shared by the export (no review) and publish (after review)
assets: the series ledger's recheck and record under its lock, the DP budget, the published ledger, the
manifest check."""


import datetime
import json
import os
from pathlib import Path

import dagster as dg

from assets.constants import CHECK_MANIFEST, DP_BUDGET_FILE
from personatwin.core.errors import BudgetExceededError
from personatwin.publish.export import verify_manifest
from personatwin.release.tables import ReleaseTables
from personatwin.series import dp_tables as dp
from personatwin.series.budget import BudgetLedger
from personatwin.series.composition import series_risk
from personatwin.series.ledger import Ledger, LedgerEntry
from personatwin.series.publication import series_missed
from resources.storage import ReleaseStorageResource


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


def record_release(ledger: Ledger, release: ReleaseTables, recipients: tuple[str, ...], recorded_at: str,
                   approval_id: str = "") -> None:
    """Append the release to the ledger with its exposure and, after review, its approval id (what pinning its
    configuration needs); idempotent for an unchanged rerun."""
    s = release.series
    supersedes = int(s["supersedes"]) if s.get("supersedes") is not None else None
    ledger.record(LedgerEntry(s["series"], s["period"], int(s["version"]), s["release_id"], s["data_tag"],
                              recipients, supersedes, s.get("nonce"), recorded_at,
                              {**(s.get("ledger_figures") or {}), "salt": s["salt"],
                               **({"approval_id": approval_id} if approval_id else {})}), release.exposure)


def write_published_ledger(ledger: Ledger, root: Path) -> Path:
    """``<releases root>/ledger.json``: the identity of every published version (no figures about people)."""
    path = root / "ledger.json"
    tmp = root / f".ledger.json.tmp-{os.getpid()}"
    tmp.write_text(json.dumps([e.published() for e in ledger.entries()], indent=1, sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)
    return path


def manifest_matches_files(release_storage: ReleaseStorageResource, partition_key: str,
                           check_name: str = CHECK_MANIFEST, asset_key: str | None = None) -> dg.AssetCheckResult:
    """The published folder, read back from storage, against its manifest's SHA-256s."""
    location = release_storage.partition_location(partition_key)
    with release_storage.reading(partition_key) as folder:  # not replaced while verified
        return folder_matches_manifest(Path(folder), location, check_name, asset_key)


def folder_matches_manifest(folder: Path, location: str, check_name: str = CHECK_MANIFEST,
                            asset_key: str | None = None) -> dg.AssetCheckResult:
    """One release folder against its manifest's SHA-256s (a check result naming every problem)."""
    key = {"asset_key": asset_key} if asset_key else {}
    if not (folder / "manifest.json").exists():
        return dg.AssetCheckResult(check_name=check_name, passed=False, description=f"{location}: no manifest.json",
                                   **key)
    problems = verify_manifest(folder)
    files = len(json.loads((folder / "manifest.json").read_text())["files"])
    return dg.AssetCheckResult(check_name=check_name, passed=not problems,
                               metadata={"files": files, "problems": dg.MetadataValue.json(problems)},
                               description="manifest matches files" if not problems else "; ".join(problems)[:2000],
                               **key)


def launched_by(context) -> str:
    """Who launched the run (never one of its approvers): the run's ``personatwin/launched_by`` tag (set it in the
    launchpad), else the user Dagster recorded, else the schedule or sensor, else ``PERSONATWIN_LAUNCHED_BY``, else
    the operating-system user running it."""
    import getpass

    tags = context.run.tags
    for tag, prefix in (("personatwin/launched_by", ""), ("dagster/user", ""), ("dagster/schedule_name", "schedule "),
                        ("dagster/sensor_name", "sensor ")):
        if tags.get(tag):
            return prefix + str(tags[tag])
    return os.environ.get("PERSONATWIN_LAUNCHED_BY") or getpass.getuser()


def stage_dossier(release: ReleaseTables, domain, ledger: Ledger, partition_key: str, folder: Path) -> Path:
    """The staged release's disclosure-review dossier (JSON, and HTML not yet signed) in its internal folder."""
    from personatwin.govern.dossier import build_dossier, dossier_json, render_dossier

    s = release.series
    earlier = [e.release_id for e in ledger.window(s.get("series", domain.name), partition_key, s.get("window_months"))
               if e.release_id != release.release_id]
    dossier = build_dossier(release, domain, partition_key, earlier_releases=earlier)
    (folder / DOSSIER_JSON).write_text(dossier_json(dossier), encoding="utf-8")
    path = folder / DOSSIER_HTML
    path.write_text(render_dossier(dossier), encoding="utf-8")
    return path


DOSSIER_JSON, DOSSIER_HTML = "dossier.json", "dossier.html"
