"""PersonaTwin: privacy-protected personas from sensitive people-events data.

    import personatwin as pt
    result = pt.create_safe_personas(data, privacy_level="high", domain="criminal_justice", target_risk=0.05)
"""

from personatwin.adjust import PrivacyTargetError, UtilityGateError
from personatwin.api import (
    create_safe_personas,
    export_personas,
    export_privacy_report,
    personas_to_dataframe,
    personas_to_event_dataframe,
)
from personatwin.domains import BUILTIN_DOMAINS, Domain, get_domain, load_domain_yaml
from personatwin.identifiers import DirectIdentifierError
from personatwin.ingest import InputError, load_input
from personatwin.keys import MissingKeyError, ReleaseKey
from personatwin.loaders import load_criminal_justice_data, load_healthcare_data
from personatwin.merge import TooFewPeopleError
from personatwin.models import Event, Person
from personatwin.policy import PrivacyLevel, PrivacyPolicy, UtilityGates, policy_for_level
from personatwin.release import Release, make_release
from personatwin.risk import RiskReport
from personatwin.validate import validate
from personatwin.views import Demographics, EventPatterns, Persona, PersonaCollection, PrivacyMetadata

RiskMetrics = RiskReport
ProcessingResult = Release

__version__ = "0.1.0"

__all__ = [
    "BUILTIN_DOMAINS", "Demographics", "DirectIdentifierError", "Domain", "Event", "EventPatterns", "InputError",
    "MissingKeyError", "Person", "Persona", "PersonaCollection", "PrivacyLevel", "PrivacyMetadata", "PrivacyPolicy",
    "PrivacyTargetError", "ProcessingResult", "Release", "ReleaseKey", "RiskMetrics", "RiskReport",
    "TooFewPeopleError", "UtilityGateError", "UtilityGates", "create_safe_personas", "export_personas",
    "export_privacy_report", "get_domain", "load_criminal_justice_data", "load_domain_yaml", "load_healthcare_data",
    "load_input", "make_release", "personas_to_dataframe", "personas_to_event_dataframe", "policy_for_level",
    "validate",
]
