"""Release series: budget ledger and differentially private tables across a series of periodic releases."""
