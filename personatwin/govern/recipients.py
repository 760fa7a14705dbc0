"""Issuing a published release to named recipients under a data-use agreement.

An issue is one copy of a published release handed to one recipient: its package holds the published files
unchanged and a ``manifest.json`` that is the published one plus an ``issue`` block (recipient, agreement id,
allowed use, expiry, when, the published manifest's SHA-256). Every issue is one line of the series' append-only
``issues.jsonl`` (beside the release ledger), so the same period issued to two recipients is two issues of one
release (same ``release_id``). Only a published release is issued, and only while its files match its manifest.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import re
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from personatwin.core.errors import ApprovalRefusedError
from personatwin.core.locks import exclusive_lock

ISSUES_FILE = "issues.jsonl"
AGREEMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")  # a data-use agreement number, published to its recipient


@dataclass(frozen=True)
class Issue:
    """One release issued to one recipient under one data-use agreement."""

    period: str
    release_id: str
    recipient: str
    agreement_id: str
    allowed_use: str
    expires: str  # ISO date: the agreement's end
    issued_at: str
    issued_by: str
    manifest_sha256: str  # the published manifest the package copies

    def block(self) -> dict:
        """What the recipient's manifest records."""
        return {k: v for k, v in asdict(self).items() if k != "issued_by"}


class IssueLog:
    """The issues of one series' releases (``<root>/issues.jsonl``, append-only, written under a lock)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    @property
    def path(self) -> Path:
        return self.root / ISSUES_FILE

    def issues(self, period: str | None = None) -> list[Issue]:
        if not self.path.exists():
            return []
        found = [Issue(**json.loads(line)) for line in self.path.read_text(encoding="utf-8").splitlines() if line]
        return [i for i in found if period is None or i.period == period]

    def record(self, issue: Issue) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with exclusive_lock(self.root / ".issues.lock"), open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(issue), sort_keys=True, ensure_ascii=False) + "\n")


def _checked(recipient: str, agreement_id: str, allowed_use: str, expires: str, today: datetime.date) -> str:
    if not recipient.strip() or len(recipient) > 200:
        raise ApprovalRefusedError("an issue needs the recipient's name (at most 200 characters)")
    if not AGREEMENT.fullmatch(agreement_id.strip()):
        raise ApprovalRefusedError(f"data-use agreement {agreement_id.strip()[:80]!r} is not an agreement number "
                                   "(letters, digits, '-', '_', '.', '/', up to 64)")
    if not allowed_use.strip():
        raise ApprovalRefusedError("an issue needs the allowed use the agreement grants")
    try:
        end = datetime.date.fromisoformat(expires.strip())
    except ValueError:
        raise ApprovalRefusedError(f"expiry {expires!r} is not a date (YYYY-MM-DD)") from None
    if end <= today:
        raise ApprovalRefusedError(f"the agreement expires on {end.isoformat()}: nothing is issued under it")
    return end.isoformat()


def issue_release(published: Path, out: Path, log: IssueLog, *, recipient: str, agreement_id: str,
                  allowed_use: str, expires: str, issued_by: str, now: datetime.datetime | None = None) -> Issue:
    """Copy the published release folder to the recipient's package ``out`` (new or empty) with the issue in its
    manifest, and record the issue; refused (``ApprovalRefusedError``) for an unpublished or altered release, an
    expired or malformed agreement."""
    from personatwin.publish.export import verify_manifest

    now = now or datetime.datetime.now(datetime.UTC)
    published, out = Path(published), Path(out)
    manifest_path = published / "manifest.json"
    if not manifest_path.is_file():
        raise ApprovalRefusedError(f"{published}: no published release here (no manifest.json): only a published "
                                   "release is issued")
    end = _checked(recipient, agreement_id, allowed_use, expires, now.date())
    problems = verify_manifest(published)
    if problems:
        raise ApprovalRefusedError(f"{published}: its files no longer match their manifest ("
                                   + "; ".join(problems[:5]) + "): nothing is issued")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    issue = Issue(str(manifest.get("partition") or published.name), str(manifest.get("release_id", "")),
                  recipient.strip(), agreement_id.strip(), allowed_use.strip(), end,
                  now.isoformat(timespec="seconds"), issued_by.strip(),
                  hashlib.sha256(manifest_path.read_bytes()).hexdigest())
    if out.exists() and any(out.iterdir()):
        raise ApprovalRefusedError(f"{out}: not empty; an issue is written to a new folder")
    out.mkdir(parents=True, exist_ok=True)
    for name in manifest["files"]:
        shutil.copyfile(published / name, out / name)
    (out / "manifest.json").write_text(json.dumps({**manifest, "issue": issue.block()}, indent=1, sort_keys=True),
                                       encoding="utf-8")
    log.record(issue)
    return issue
