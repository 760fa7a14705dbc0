"""The series ledger: where the release ledger and each person's exposure are kept (internal, locked)."""

from __future__ import annotations

import dagster as dg

from personatwin.series.ledger import Ledger
from resources import fs


class SeriesLedgerResource(dg.ConfigurableResource):
    """A local (or mounted) folder beside the internal reports, never under the releases root.

    It must be a filesystem path: the ledger is checked and recorded under an exclusive lock, which
    object stores do not offer. ``recipients`` is recorded with every release (comma-separated)."""

    location: str
    recipients: str = ""

    def ledger(self) -> Ledger:
        if fs.is_url(self.location):
            raise ValueError(f"series ledger location {self.location!r} is a URL: the ledger needs a local or "
                             "mounted folder (it is locked while a release is checked and recorded); set "
                             "PERSONATWIN_SERIES to one")
        return Ledger(fs.local_path(self.location))

    def recipient_list(self) -> tuple[str, ...]:
        return tuple(r.strip() for r in self.recipients.split(",") if r.strip())
