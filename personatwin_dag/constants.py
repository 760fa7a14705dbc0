"""Names used across the code location: job, schedule, sensor and environment variables
(asset names: assets.constants)."""

# Environment variables.
ENV_NAME = "PERSONATWIN_ENV"  # local (default) | ci | prod
ENV_SOURCE = "PERSONATWIN_SOURCE"
ENV_RELEASES = "PERSONATWIN_RELEASES"
ENV_INTERNAL = "PERSONATWIN_INTERNAL"  # internal reports (original vs release); never under the releases root
ENV_ASSET_STORE = "PERSONATWIN_ASSET_STORE"
ENV_SERIES = "PERSONATWIN_SERIES"  # the series ledger (internal, a local or mounted folder)
ENV_RECIPIENTS = "PERSONATWIN_RECIPIENTS"  # who receives the releases (recorded in the ledger)
ENV_DOMAIN = "PERSONATWIN_DOMAIN"
ENV_LEVEL = "PERSONATWIN_PRIVACY_LEVEL"
ENV_TARGET = "PERSONATWIN_TARGET_RISK"
ENV_SERIES_RELEASES = "PERSONATWIN_SERIES_EXPECTED_RELEASES"  # planning share of the series budget
ENV_DP_RHO = "PERSONATWIN_DP_RHO"  # DP tables: zCDP rho per release (unset: no DP tables)
ENV_DP_RHO_CAP = "PERSONATWIN_DP_RHO_CAP"  # the window's rho budget (unset: 12 releases' worth)
ENV_APPROVALS = "PERSONATWIN_APPROVALS_REQUIRED"  # distinct reviewers a staged release needs (default 2)
ENV_POLICY_FROM = "PERSONATWIN_POLICY_FROM"  # [<series>:]<period>: pin that published release's policy
ENV_OVERLAPPING = "PERSONATWIN_OVERLAPPING_PUBLIC_DATA"  # known linkable public data sets, ';'-separated
# SQL source (resources/sql_source.py): set PERSONATWIN_SOURCE_URL and it replaces the file source.
ENV_SOURCE_URL = "PERSONATWIN_SOURCE_URL"  # SQLAlchemy URL; postgresql:// is read as postgresql+psycopg2://
ENV_SOURCE_PASSWORD = "PERSONATWIN_SOURCE_PASSWORD"  # optional: the password apart from the URL
ENV_SOURCE_PEOPLE = "PERSONATWIN_SOURCE_PEOPLE"  # people table (schema.table) or SELECT query; default people
ENV_SOURCE_EVENTS = "PERSONATWIN_SOURCE_EVENTS"  # events table or SELECT query; default events
ENV_SOURCE_DATE_COLUMN = "PERSONATWIN_SOURCE_DATE_COLUMN"  # events' date column (source name); default event_date
ENV_SOURCE_PERSON_COLUMN = "PERSONATWIN_SOURCE_PERSON_COLUMN"  # person id column (source name); default person_id
ENV_SOURCE_CHANGE_COLUMN = "PERSONATWIN_SOURCE_CHANGE_COLUMN"  # optional last-modified column (the SQL sensor)
ENV_SOURCE_COLUMN_MAPPING = "PERSONATWIN_SOURCE_COLUMN_MAPPING"  # optional JSON {source column: contract column}

JOB_NAME = "release_job"
PUBLISH_JOB_NAME = "publish_job"
APPROVALS_SENSOR_NAME = "approved_releases"
SCHEDULE_NAME = "release_last_complete_period"
SENSOR_NAME = "new_source_files"
SQL_SENSOR_NAME = "new_source_rows"  # replaces new_source_files when the source is a SQL database
ENV_SHARDS = "PERSONATWIN_SHARDS"  # "" (one piece), sequential, dask (personatwin.scale; resources.shards)
ENV_DASK_WORKERS = "PERSONATWIN_DASK_WORKERS"  # worker processes of a local Dask cluster (no scheduler address set)
ENV_ADVISOR = "PERSONATWIN_ADVISOR"  # "" (none), rules, anthropic, openai (PERSONATWIN_ADVISOR_*: personatwin.advisor)
# Release calendar (personatwin_dag/automation.py).
ENV_RELEASE_DAY = "PERSONATWIN_RELEASE_DAY"  # day of the month after a period closes when it is released (5)
ENV_DEADLINE_DAY = "PERSONATWIN_RELEASE_DEADLINE_DAY"  # day by which it must be published (10)
OBSERVE_SENSOR_NAME = "observe_source"  # records the source's data version per period (source_data)
CALENDAR_SENSOR_NAME = "release_calendar"  # the automation condition sensor of the stage assets
DEADLINE_SENSOR_NAME = "release_deadline"  # the freshness sensor of the publication deadline
