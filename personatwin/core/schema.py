"""The data contract (DESIGN §2): canonical column names and dtypes of the people and events tables."""

from __future__ import annotations

PERSON_ID = "person_id"
BIRTH_DATE = "birth_date"
AGE = "age"
EVENT_TYPE = "event_type"
EVENT_DATE = "event_date"
END_DATE = "end_date"
OUTCOME = "outcome"
LOCATION = "location"
VALUE = "value"
PERSONA_ID = "persona_id"
PERSONA_SIZE = "size"
EVENT_PERIOD = "event_period"

PEOPLE_REQUIRED = (PERSON_ID,)
EVENTS_REQUIRED = (PERSON_ID, EVENT_TYPE, EVENT_DATE, OUTCOME)
EVENTS_OPTIONAL = (END_DATE, LOCATION, VALUE)
EVENT_COLUMNS = EVENTS_REQUIRED + EVENTS_OPTIONAL

# Canonical dtypes after validation (Arrow-backed strings, datetime64 days).
STRING = "string"
DATE = "datetime64[s]"
