"""Disclosure review from the command line: list what waits, approve or reject a staged release.

    personatwin-approve --list
    personatwin-approve <period> --approver NAME [--approval-id CBDRB-FY25-DSEP-017] [--comment TEXT] [--staging ID]
                        [--full-review]     needed where the run changed a pinned configuration
    personatwin-approve <period> --approver NAME --reject --reason TEXT
    personatwin-approve <period> --dossier-pdf FILE           the staging's dossier, signed so far, as PDF

Decisions go to the environment's approval log (``personatwin_dag.environments.governance_for``); the latest
staging of the period is meant unless ``--staging`` names another. A refusal (self-approval, a second vote,
files changed since staging, an unknown period, a rejected staging) prints why and exits with 2; nothing is
recorded then.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from personatwin.core.errors import ApprovalLogError, ApprovalRefusedError
from personatwin.govern.approvals import APPROVE, REJECT, ApprovalLog
from personatwin.govern.staging import StagingArea, describe
from personatwin_dag.environments import Governance, governance_for
from resources import fs


def published_manifest_sha256(releases: str, period: str) -> str | None:
    """The reviewed manifest hash a period's published release names (None: not published under review)."""
    path = fs.join(releases, period, "manifest.json")
    if fs.is_url(path) or not Path(fs.local_path(path)).is_file():
        return None
    approval = json.loads(Path(fs.local_path(path)).read_text(encoding="utf-8")).get("approval") or {}
    return approval.get("staged_manifest_sha256")


def listing(gov: Governance) -> list[str]:
    """One line per staging: period, staging id, launched by, what became of it."""
    area, log = StagingArea(gov.staging_root), ApprovalLog(gov.approvals_root)
    decisions = log.decisions()
    lines = []
    for staged in area.stagings():
        review = ApprovalLog.review_in(decisions, staged.period, staged.staging().manifest_sha256, gov.policy)
        state = describe(staged, review, area.find(staged.period),
                         published_manifest_sha256(gov.releases, staged.period))
        lines.append(f"{staged.period}  {staged.staging_id}  launched by {staged.launched_by}  {state}"
                     + (f"  [full review: {staged.full_review}]" if staged.full_review else ""))
    return lines


def dossier_pdf(gov: Governance, staged, pdf: Path) -> Path:
    """The staging's dossier with the sign-off recorded so far, printed to ``pdf`` by headless Chromium."""
    import tempfile

    from personatwin.govern.dossier import dossier_from_json, render_dossier, with_sign_off, write_pdf

    source = staged.internal_folder / "dossier.json"
    if not source.is_file():
        raise ApprovalRefusedError(f"{staged.period} {staged.staging_id}: no dossier was staged with it")
    review = ApprovalLog(gov.approvals_root).review(staged.staging(), gov.policy)
    html = render_dossier(with_sign_off(dossier_from_json(source.read_text(encoding="utf-8")), review))
    with tempfile.TemporaryDirectory() as tmp:
        page = Path(tmp) / "dossier.html"
        page.write_text(html, encoding="utf-8")
        return write_pdf(page, pdf)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="personatwin-approve", description=__doc__.split("\n\n")[0])
    ap.add_argument("period", nargs="?", help="the release period (partition key), e.g. 2024-06")
    ap.add_argument("--list", action="store_true", help="every staged release and what became of it")
    ap.add_argument("--approver", help="your name, as the approval log records it")
    ap.add_argument("--approval-id", default="", help="the review board's approval number")
    ap.add_argument("--comment", default="")
    ap.add_argument("--full-review", action="store_true",
                    help="confirm a full review of the dossier (needed where the run changed a pinned configuration)")
    ap.add_argument("--reject", action="store_true", help="reject the staged release (needs --reason)")
    ap.add_argument("--reason", default="")
    ap.add_argument("--staging", help="a staging id of the period (default: its latest)")
    ap.add_argument("--dossier-pdf", type=Path, help="print the staging's disclosure-review dossier to this PDF")
    args = ap.parse_args(argv)
    try:
        gov = governance_for()
        if args.list:
            lines = listing(gov)
            print("\n".join(lines) if lines else "nothing is staged")
            return 0
        if args.period and args.dossier_pdf:
            staged = StagingArea(gov.staging_root).find(args.period, args.staging)
            print(dossier_pdf(gov, staged, args.dossier_pdf))
            return 0
        if not args.period or not args.approver:
            ap.error("give a period and --approver (or --list)")
        staged = StagingArea(gov.staging_root).find(args.period, args.staging)
        review = ApprovalLog(gov.approvals_root).decide(
            staged.staging(), args.approver, REJECT if args.reject else APPROVE, policy=gov.policy,
            approval_id=args.approval_id, comment=args.reason if args.reject else args.comment,
            full_review=args.full_review)
    except (ApprovalRefusedError, ApprovalLogError, RuntimeError) as exc:
        print(f"personatwin-approve: {exc}", file=sys.stderr)
        return 2
    print(f"{args.period} {staged.staging_id}: {review.state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
