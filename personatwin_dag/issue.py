"""Issue a published release to a named recipient under a data-use agreement.

    personatwin-issue <period> --recipient NAME --agreement DUA-2025-007 --use TEXT --expires YYYY-MM-DD [--out DIR]
    personatwin-issue --list [<period>]

The package (default ``<releases root>/../issued/<agreement>/<period>/``, never under the published root) holds
the published files and a manifest recording the issue; the issue is a line of the series' ``issues.jsonl``
beside the release ledger. A refusal (an unpublished period, altered files, an expired or malformed agreement)
prints why and exits with 2.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from personatwin.core.errors import ApprovalRefusedError
from personatwin.govern.recipients import IssueLog, issue_release
from personatwin_dag.environments import resources_for
from resources import fs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="personatwin-issue", description=__doc__.split("\n\n")[0])
    ap.add_argument("period", nargs="?", help="the published release period, e.g. 2024-06")
    ap.add_argument("--list", action="store_true", help="every issue (of the period)")
    ap.add_argument("--recipient")
    ap.add_argument("--agreement", help="the data-use agreement number")
    ap.add_argument("--use", default="", help="the use the agreement allows")
    ap.add_argument("--expires", default="", help="the agreement's end, YYYY-MM-DD")
    ap.add_argument("--out", type=Path, help="where to write the recipient's package")
    args = ap.parse_args(argv)
    try:
        res = resources_for()
        log = IssueLog(res["series_ledger"].ledger().root)
        if args.list:
            issues = log.issues(args.period)
            for i in issues:
                print(f"{i.period}  {i.release_id}  {i.recipient}  {i.agreement_id}  until {i.expires}  "
                      f"{i.allowed_use}")
            if not issues:
                print("nothing is issued")
            return 0
        if not (args.period and args.recipient and args.agreement):
            ap.error("give a period, --recipient, --agreement, --use and --expires (or --list)")
        releases = res["release_storage"].location
        if fs.is_url(releases):
            raise ApprovalRefusedError(f"issuing reads a local releases root; {releases} is remote")
        root = Path(fs.local_path(releases))
        out = args.out or root.resolve().parent / "issued" / args.agreement / args.period
        issue = issue_release(root / args.period, out, log, recipient=args.recipient, agreement_id=args.agreement,
                              allowed_use=args.use, expires=args.expires,
                              issued_by=os.environ.get("PERSONATWIN_LAUNCHED_BY") or getpass.getuser())
    except (ApprovalRefusedError, RuntimeError, ValueError) as exc:
        print(f"personatwin-issue: {exc}", file=sys.stderr)
        return 2
    print(f"{issue.period} {issue.release_id} issued to {issue.recipient} under {issue.agreement_id} until "
          f"{issue.expires}: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
