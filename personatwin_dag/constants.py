"""Names used across the code location: asset groups, check names, environment variables."""

# Asset groups, one per stage (DESIGN §3).
INGEST = "ingest"
VALIDATE = "validate"
MERGE = "merge"
NOISE = "noise"
RISK = "risk_assess"
ADJUST = "auto_adjust"
EXPORT = "export"
STAGE_GROUPS = (INGEST, VALIDATE, MERGE, NOISE, RISK, ADJUST, EXPORT)

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

# Environment variables.
ENV_NAME = "PERSONATWIN_ENV"  # local (default) | ci | prod
ENV_SOURCE = "PERSONATWIN_SOURCE"
ENV_RELEASES = "PERSONATWIN_RELEASES"
ENV_ASSET_STORE = "PERSONATWIN_ASSET_STORE"
ENV_DOMAIN = "PERSONATWIN_DOMAIN"
ENV_LEVEL = "PERSONATWIN_PRIVACY_LEVEL"
ENV_TARGET = "PERSONATWIN_TARGET_RISK"
ENV_PERIOD = "PERSONATWIN_PERIOD"  # day | week | month | quarter
ENV_START = "PERSONATWIN_START"  # first partition, e.g. 2023-01-01

JOB_NAME = "release_job"
SCHEDULE_NAME = "release_last_complete_period"
SENSOR_NAME = "new_source_files"
