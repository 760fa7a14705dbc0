"""Stamping an approved staged release for publication: the approval id in every file.

The published folder is the staged one with its approval carried by each file, the data unchanged:
Parquet files hold it as key-value metadata (``personatwin.approval``), CSV and JSON files get a sidecar
``<file>.approval.json``, the published report an "Approval" section, and the new ``manifest.json`` an
``approval`` block naming the staged manifest that was reviewed (its SHA-256) and the approval log's head
at publication (so a later truncation of the log shows). Reviewers' names stay internal (the approval log,
the dossier, the Dagster metadata); the published files carry the approval id, when and how many approved.
A release without a review board number gets ``PT-<period>-<12 hex of the reviewed manifest's hash>``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from personatwin.core.errors import ApprovalRefusedError
from personatwin.govern.approvals import Review

APPROVAL_METADATA_KEY = b"personatwin.approval"
SIDECAR_SUFFIX = ".approval.json"
REPORT_NAME = "privacy_report.html"  # gets an Approval section; other files are copied


def approval_id(review: Review) -> str:
    """The review board's number, or one derived from the period and the reviewed manifest's hash."""
    return review.approval_id or f"PT-{review.period}-{review.manifest_sha256[:12]}"


def approval_stamp(review: Review, log_head: str) -> dict:
    """What every published file of an approved release carries (no reviewer names)."""
    if not review.complete:
        raise ApprovalRefusedError(f"{review.period}: {review.state}; it cannot be published")
    return {"approval_id": approval_id(review), "approved_at": review.approvals[-1].at,
            "approvals": len(review.approvals), "required": review.required,
            "staged_manifest_sha256": review.manifest_sha256, "approval_log_head": log_head}


def _stamp_parquet(src: Path, dst: Path, stamp: dict) -> None:
    import pyarrow.parquet as pq

    table = pq.read_table(src)
    metadata = dict(table.schema.metadata or {})
    metadata[APPROVAL_METADATA_KEY] = json.dumps(stamp, sort_keys=True).encode("utf-8")
    pq.write_table(table.replace_schema_metadata(metadata), dst)


def _stamp_report(staged: Path, dst: Path, stamp: dict, partition: str) -> None:
    """The published report rebuilt from the staged folder with the approval (what a reader rebuilds from the
    published folder, byte for byte)."""
    from dataclasses import replace

    from personatwin.publish.published import PublishedRelease
    from personatwin.publish.report import render_report

    pub = replace(PublishedRelease.from_folder(staged), approval=stamp)
    dst.write_text(render_report(pub, partition=partition), encoding="utf-8")


def stamp_release(staged: Path, out: Path, review: Review, log_head: str) -> dict:
    """Write the published form of an approved staged folder into ``out`` (empty or new); returns its manifest.
    Refused (``ApprovalRefusedError``) unless the review is complete and is of these very staged files."""
    from personatwin.publish.export import sha256 as _sha256
    from personatwin.publish.export import verify_manifest

    staged, out = Path(staged), Path(out)
    stamp = approval_stamp(review, log_head)
    manifest_path = staged / "manifest.json"
    if not manifest_path.is_file() or hashlib.sha256(manifest_path.read_bytes()).hexdigest() != review.manifest_sha256:
        raise ApprovalRefusedError(f"{staged}: its manifest is not the one reviewed ({review.manifest_sha256[:12]}); "
                                   "nothing is published")
    problems = verify_manifest(staged)
    if problems:
        raise ApprovalRefusedError(f"{staged}: the staged files no longer match their manifest ("
                                   + "; ".join(problems[:5]) + "); nothing is published")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}
    for name, info in manifest["files"].items():
        src, dst = staged / name, out / name
        if name.endswith(".parquet"):
            _stamp_parquet(src, dst, stamp)
        elif name == REPORT_NAME:
            _stamp_report(staged, dst, stamp, str(manifest.get("partition", review.period)))
        else:
            shutil.copyfile(src, dst)
        if name.endswith((".csv", ".json")):
            sidecar = out / f"{name}{SIDECAR_SUFFIX}"
            sidecar.write_text(json.dumps({"file": name, "sha256": info["sha256"], **stamp}, indent=1,
                                          sort_keys=True), encoding="utf-8")
            files[sidecar.name] = {"sha256": _sha256(sidecar), "bytes": sidecar.stat().st_size}
        files[name] = {**info, "sha256": _sha256(dst), "bytes": dst.stat().st_size}
    published = {**manifest, "files": dict(sorted(files.items())), "approval": stamp}
    (out / "manifest.json").write_text(json.dumps(published, indent=1, sort_keys=True), encoding="utf-8")
    return published
