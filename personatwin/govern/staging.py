"""The staging area: each run's release waits here, outside the published root, for its disclosure review.

Layout (internal: beside the internal reports, never under the releases root)::

    <root>/<period>/<staging id>/staging.json   who launched which run, when
    <root>/<period>/<staging id>/release/       the release folder as it would be published (data, report, manifest)
    <root>/<period>/<staging id>/internal/      its internal report and figures (the dossier's source)

A staging is written under a hidden temporary name and renamed into place whole, so a reviewer never sees
an unfinished one. Stagings are never removed here: rejected and superseded ones stay for audit (what
became of each is derived from the approval log and the published manifests, see ``describe``).
"""

from __future__ import annotations

import datetime
import json
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from personatwin.core.errors import ApprovalRefusedError
from personatwin.govern.approvals import Review, Staging

STAGING_FILE = "staging.json"
RELEASE_DIR, INTERNAL_DIR = "release", "internal"
SAFE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z_.-]{0,63}$")  # a period or staging id is a folder name


def _checked(name: str, what: str) -> str:
    if not SAFE_NAME.match(name) or ".." in name:
        raise ApprovalRefusedError(f"{what} {name!r} is not a period or staging name (letters, digits, '-', '_', '.')")
    return name


@dataclass(frozen=True)
class StagedRelease:
    """One staged release of one period, as its run left it."""

    period: str
    staging_id: str
    folder: Path
    launched_by: str
    run_id: str = ""
    staged_at: str = ""
    data_tag: str = ""  # the keyed tag of the data it releases (internal: which stored release it is)
    # a pinned configuration the run changed (PERSONATWIN_POLICY_FROM): why each approval must be a full review
    # ("" : approvals as usual)
    full_review: str = ""

    @property
    def release_folder(self) -> Path:
        return self.folder / RELEASE_DIR

    @property
    def internal_folder(self) -> Path:
        return self.folder / INTERNAL_DIR

    def staging(self) -> Staging:
        """What approvals are about: the release folder as staged."""
        return Staging(self.period, self.release_folder, self.launched_by, self.full_review)

    def record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "folder"}


class StagingArea:
    """The stagings of one deployment (see the module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @contextmanager
    def stage(self, period: str, launched_by: str, run_id: str = "", staged_at: str | None = None,
              data_tag: str = "", full_review: str = "") -> Iterator[StagedRelease]:
        """A new staging of ``period``: yields it to be written (``release_folder``, ``internal_folder``), then
        renames it into place whole; on an error it is removed and nothing waits for review."""
        _checked(period, "period")
        if not launched_by.strip():
            raise ApprovalRefusedError(f"{period}: a staging needs the name of who launched its run")
        at = staged_at or datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        staging_id = f"{at[:19].replace(':', '').replace('-', '')}-{uuid.uuid4().hex[:8]}"
        final = self.root / period / staging_id
        tmp = self.root / period / f".{staging_id}.tmp"
        (tmp / RELEASE_DIR).mkdir(parents=True)
        (tmp / INTERNAL_DIR).mkdir()
        staged = StagedRelease(period, staging_id, tmp, launched_by.strip(), run_id, at, data_tag, full_review)
        try:
            yield staged
            (tmp / STAGING_FILE).write_text(json.dumps(staged.record(), indent=1, sort_keys=True), encoding="utf-8")
            tmp.rename(final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def stagings(self, period: str | None = None) -> list[StagedRelease]:
        """Every complete staging (of one period), oldest first."""
        periods = [self.root / _checked(period, "period")] if period else sorted(self.root.glob("*"))
        out = []
        for p in periods:
            for record in sorted(p.glob(f"*/{STAGING_FILE}")):
                d = json.loads(record.read_text(encoding="utf-8"))
                out.append(StagedRelease(d["period"], d["staging_id"], record.parent, d["launched_by"],
                                         d.get("run_id", ""), d.get("staged_at", ""), d.get("data_tag", ""),
                                         d.get("full_review", "")))
        return sorted(out, key=lambda s: (s.period, s.staged_at, s.staging_id))

    def find(self, period: str, staging_id: str | None = None) -> StagedRelease:
        """The named staging of ``period``, or its latest; ``ApprovalRefusedError`` naming what exists if none."""
        found = self.stagings(period)
        if staging_id is not None:
            found = [s for s in found if s.staging_id == _checked(staging_id, "staging")]
        if not found:
            known = sorted({s.period for s in self.stagings()})
            raise ApprovalRefusedError(
                f"no staged release of {period}" + (f" with id {staging_id}" if staging_id else "")
                + (f"; staged periods: {', '.join(known)}" if known else "; nothing is staged"))
        return found[-1]


def describe(staged: StagedRelease, review: Review, latest: StagedRelease, published_sha256: str | None) -> str:
    """What became of a staging: published, superseded by a later one, rejected (why), approved, or waiting."""
    if published_sha256 is not None and published_sha256 == review.manifest_sha256:
        return "published"
    if review.rejection is not None:
        return review.state
    if staged.staging_id != latest.staging_id:
        return f"superseded by {latest.staging_id}"
    return review.state
