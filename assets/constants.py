"""Names the assets share: stage groups (one per module of this package), check names, partition settings."""

# Asset groups, one per stage (DESIGN §3).
INGEST = "ingest"
VALIDATE = "validate"
MERGE = "merge"
NOISE = "noise"
RISK_ASSESS = "risk_assess"
AUTO_ADJUST = "auto_adjust"
EXPORT = "export"
STAGE_GROUPS = (INGEST, VALIDATE, MERGE, NOISE, RISK_ASSESS, AUTO_ADJUST, EXPORT)
PUBLISH = "publish"  # after disclosure review: its own job, launched by the approvals sensor
SOURCE_DATA = "source_data"  # the observed source (a data version per period), upstream of the ingest stage

# Asset checks.
CHECK_VALID_PEOPLE_SUITE = "valid_people_suite"
CHECK_VALID_EVENTS_SUITE = "valid_events_suite"
CHECK_RECONCILIATION = "rows_reconcile"
CHECK_QUARANTINE_RATE = "quarantine_rate_within_limit"
CHECK_PERSONAS_MIN_K = "personas_at_least_k"
CHECK_DATE_PRECISION = "no_date_finer_than_precision"
CHECK_RISK_METRICS = "risk_metrics_recorded"
CHECK_RELEASE_GUARANTEES = "release_guarantees"
CHECK_RELEASE_UTILITY = "release_utility_gates"
CHECK_MANIFEST = "manifest_matches_files"
CHECK_APPROVALS = "approvals_complete"
CHECK_PUBLISHED_MANIFEST = "published_manifest_matches_files"

# Release periods (personatwin_dag reads the same variables for its environments).
ENV_PERIOD = "PERSONATWIN_PERIOD"  # day | week | month | quarter
ENV_START = "PERSONATWIN_START"  # first partition, e.g. 2023-01-01

# The series' DP budget ledger, inside the series ledger folder (personatwin.series.budget).
DP_BUDGET_FILE = "dp_budget.jsonl"
