"""Approvals of staged releases: who signed off which staged release, in an append-only, hash-chained log.

A staged release is named by its period and the SHA-256 of its ``manifest.json`` (the manifest lists every
file's SHA-256, so the hash names exactly what the reviewers looked at). Each decision (approve or reject)
is one JSON line of ``approvals.jsonl``; every line holds the SHA-256 of the line before it, so a line
edited or removed in place breaks the chain and the log is refused as a whole (``ApprovalLogError``):
decisions are added, never changed. The chain cannot show its last line removed: publication records the
log's head with the release, so a later truncation shows there. A staged release is complete when the
policy's number of distinct reviewers approved it, none of them the person who launched its run (the
"four eyes" of a disclosure review board); one rejection closes it for good (a new run stages anew). A
decision on a staging whose files no longer match their manifest is refused: what is approved is what
was reviewed.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from personatwin.core.errors import ApprovalLogError, ApprovalRefusedError
from personatwin.core.locks import exclusive_lock

APPROVALS_FILE = "approvals.jsonl"
APPROVE, REJECT = "approve", "reject"
GENESIS = "0" * 64  # the "previous line" of the first decision
APPROVAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,63}")  # e.g. CBDRB-FY23-DSEP-001: published in every file


@dataclass(frozen=True)
class ApprovalPolicy:
    """How many distinct reviewers must approve a staged release, and whether its launcher may be one."""

    required: int = 2
    launcher_may_approve: bool = False

    def __post_init__(self) -> None:
        if self.required < 1:
            raise ValueError(f"required approvals must be at least 1, got {self.required}")


@dataclass(frozen=True)
class Staging:
    """What a decision is about: one staged release folder of one period, as its run left it."""

    period: str
    folder: Path
    launched_by: str  # who launched the run that staged it (never one of its approvers by default)
    full_review: str = ""  # why an approval must be a full review (a pinned configuration changed); "": not needed

    @property
    def manifest_sha256(self) -> str:
        path = self.folder / "manifest.json"
        if not path.is_file():
            raise ApprovalRefusedError(f"{self.folder}: no staged release of {self.period} here (no manifest.json)")
        return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass(frozen=True)
class Decision:
    """One reviewer's approval or rejection of one staged release (a line of the log)."""

    period: str
    manifest_sha256: str
    reviewer: str
    decision: str  # APPROVE or REJECT
    at: str  # UTC, ISO 8601 to the second
    approval_id: str = ""  # the review board's number, e.g. CBDRB-FY23-DSEP-001
    comment: str = ""
    previous: str = GENESIS  # SHA-256 of the log's previous line
    full_review: bool = False  # the reviewer confirmed a full review (needed where a pinned configuration changed)

    def line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True, ensure_ascii=False)


@dataclass(frozen=True)
class Review:
    """Where one staged release stands: its approvals so far, a rejection if any, and what is still needed."""

    period: str
    manifest_sha256: str
    required: int
    approvals: tuple[Decision, ...]
    rejection: Decision | None

    @property
    def approvers(self) -> tuple[str, ...]:
        return tuple(d.reviewer for d in self.approvals)

    @property
    def approval_id(self) -> str:
        """The review board's number: the latest one an approver gave (empty if none gave one)."""
        ids = [d.approval_id for d in self.approvals if d.approval_id]
        return ids[-1] if ids else ""

    @property
    def complete(self) -> bool:
        return self.rejection is None and len(self.approvals) >= self.required

    @property
    def state(self) -> str:
        """One line for people: approved, rejected (by whom, why), or waiting (n of required)."""
        if self.rejection is not None:
            return f"rejected by {self.rejection.reviewer}: {self.rejection.comment}"
        if self.complete:
            return f"approved by {', '.join(self.approvers)}"
        return f"waiting for approvals ({len(self.approvals)} of {self.required})"


def _digest(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


def now_utc() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


class ApprovalLog:
    """The approval log of one releases root (``<root>/approvals.jsonl``; see the module docstring)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)

    @property
    def path(self) -> Path:
        return self.root / APPROVALS_FILE

    def _lines(self) -> list[str]:
        if not self.path.exists():
            return []
        return [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]

    def decisions(self) -> list[Decision]:
        """Every decision, oldest first, after checking the hash chain (``ApprovalLogError`` where it breaks)."""
        out, previous = [], GENESIS
        for number, line in enumerate(self._lines(), start=1):
            try:
                decision = Decision(**json.loads(line))
            except (ValueError, TypeError) as exc:
                raise ApprovalLogError(f"{self.path}, line {number}: not a decision ({type(exc).__name__}); "
                                       "the log was edited: restore it from backup") from None
            if decision.previous != previous:
                raise ApprovalLogError(f"{self.path}, line {number}: the hash chain breaks (a decision before it "
                                       "was changed or removed); no approval is trusted until the log is restored")
            out.append(decision)
            previous = _digest(line)
        return out

    def head(self) -> str:
        """SHA-256 of the log's last line (``GENESIS`` when empty), after checking the chain: what a publication
        records, so a later truncation of the log shows."""
        self.decisions()
        lines = self._lines()
        return _digest(lines[-1]) if lines else GENESIS

    def review(self, staging: Staging, policy: ApprovalPolicy = ApprovalPolicy()) -> Review:
        """The decisions on this very staged release (same period and manifest hash)."""
        return self.review_in(self.decisions(), staging.period, staging.manifest_sha256, policy)

    @staticmethod
    def review_in(decisions: list[Decision], period: str, manifest_sha256: str, policy: ApprovalPolicy) -> Review:
        """The review of one staged release among ``decisions`` (read once, for listing many stagings)."""
        mine = [d for d in decisions if d.period == period and d.manifest_sha256 == manifest_sha256]
        rejection = next((d for d in mine if d.decision == REJECT), None)
        return Review(period, manifest_sha256, policy.required,
                      tuple(d for d in mine if d.decision == APPROVE), rejection)

    def _locked(self):
        self.root.mkdir(parents=True, exist_ok=True)
        return exclusive_lock(self.root / ".approvals.lock")  # reviewers decide one at a time: the chain stays one

    def decide(self, staging: Staging, reviewer: str, decision: str, *, policy: ApprovalPolicy = ApprovalPolicy(),
               approval_id: str = "", comment: str = "", at: str | None = None, full_review: bool = False) -> Review:
        """Record one reviewer's approval or rejection of a staged release, or refuse it with the reason
        (``ApprovalRefusedError``: nothing recorded); returns the staging's review after it."""
        from personatwin.publish.export import verify_manifest

        reviewer = reviewer.strip()
        if decision not in (APPROVE, REJECT):
            raise ApprovalRefusedError(f"unknown decision {decision!r}: use {APPROVE!r} or {REJECT!r}")
        if not reviewer:
            raise ApprovalRefusedError("a decision needs the reviewer's name")
        if decision == REJECT and not comment.strip():
            raise ApprovalRefusedError("a rejection needs a reason")
        if approval_id.strip() and not APPROVAL_ID.fullmatch(approval_id.strip()):
            raise ApprovalRefusedError(f"approval id {approval_id.strip()[:80]!r} is not a board number (letters, "
                                       "digits, '-', '_', '.', '/', up to 64): it is published in every file")
        manifest_sha256 = staging.manifest_sha256
        problems = verify_manifest(staging.folder)
        if problems:
            raise ApprovalRefusedError(f"{staging.period}: the staged files no longer match their manifest ("
                                       + "; ".join(problems[:5]) + "): it cannot be approved; rerun the partition")
        with self._locked():
            decisions = self.decisions()
            review = self.review_in(decisions, staging.period, manifest_sha256, policy)
            if review.rejection is not None:
                raise ApprovalRefusedError(f"{staging.period}: this staged release was rejected by "
                                           f"{review.rejection.reviewer}; a new run stages a new one")
            if decision == APPROVE and not policy.launcher_may_approve and reviewer == staging.launched_by.strip():
                raise ApprovalRefusedError(f"{staging.period}: {reviewer} launched this run and cannot approve it")
            if decision == APPROVE and staging.full_review and not full_review:
                raise ApprovalRefusedError(f"{staging.period}: {staging.full_review}; approve with --full-review "
                                           "once the whole dossier is reviewed")
            if decision == APPROVE and reviewer in review.approvers:
                raise ApprovalRefusedError(f"{staging.period}: {reviewer} has already approved this staged release")
            if decision == APPROVE and review.complete:
                raise ApprovalRefusedError(f"{staging.period}: this staged release already has its "
                                           f"{policy.required} approvals")
            lines = self._lines()
            record = Decision(staging.period, manifest_sha256, reviewer, decision, at or now_utc(),
                              approval_id.strip(), comment.strip(), _digest(lines[-1]) if lines else GENESIS,
                              bool(full_review) and decision == APPROVE)
            with open(self.path, "a", encoding="utf-8") as f:
                f.write(record.line() + "\n")
                f.flush()
                os.fsync(f.fileno())
            return self.review_in(decisions + [record], staging.period, manifest_sha256, policy)
