"""PersonaTwin: privacy-protected personas from sensitive people-events data.

    import personatwin as pt
    result = pt.create_safe_personas(data, privacy_level="high", domain="criminal_justice", target_risk=0.05)
"""

from personatwin.api import (
    create_safe_personas,
    export_internal_report,
    export_personas,
    export_privacy_report,
    personas_to_dataframe,
    personas_to_event_dataframe,
)
from personatwin.core.domains import BUILTIN_DOMAINS, Domain, get_domain, load_domain_yaml
from personatwin.core.errors import (
    AnonymeterError,
    AnonymeterUnavailableError,
    AttackRefusedError,
    AttackRiskError,
    DirectIdentifierError,
    EvaluationUnavailableError,
    InputError,
    InputRejectedError,
    InvalidKeyError,
    MissingKeyError,
    PersonaTwinError,
    PrivacyTargetError,
    ReleaseKeyError,
    ReleaseRefusedError,
    ResearchValidationError,
    TooFewPeopleError,
    UtilityGateError,
)
from personatwin.core.keys import ReleaseKey
from personatwin.core.models import Event, Person
from personatwin.core.policy import PrivacyLevel, PrivacyPolicy, UtilityGates, policy_for_level
from personatwin.core.version import __version__ as __version__
from personatwin.ingest.loaders import load_criminal_justice_data, load_healthcare_data
from personatwin.ingest.tables import load_input
from personatwin.measure.analyses import AdjustedOddsRatio, EventCounts, RateDisparity
from personatwin.measure.risk import RiskReport
from personatwin.release.release import Release, make_release
from personatwin.release.views import Demographics, EventPatterns, Persona, PersonaCollection, PrivacyMetadata
from personatwin.validate.validation import validate

RiskMetrics = RiskReport
ProcessingResult = Release


__all__ = [
    "AdjustedOddsRatio", "AnonymeterError", "AnonymeterUnavailableError", "AttackRefusedError", "AttackRiskError",
    "BUILTIN_DOMAINS", "create_safe_personas", "Demographics", "DirectIdentifierError", "Domain",
    "EvaluationUnavailableError", "Event", "EventCounts", "EventPatterns", "export_internal_report",
    "export_personas", "export_privacy_report", "get_domain", "InputError", "InputRejectedError", "InvalidKeyError",
    "load_criminal_justice_data", "load_domain_yaml", "load_healthcare_data", "load_input", "make_release",
    "MissingKeyError", "Person", "Persona", "PersonaCollection", "personas_to_dataframe",
    "personas_to_event_dataframe", "PersonaTwinError", "policy_for_level", "PrivacyLevel", "PrivacyMetadata",
    "PrivacyPolicy", "PrivacyTargetError", "ProcessingResult", "RateDisparity", "Release", "ReleaseKey",
    "ReleaseKeyError", "ReleaseRefusedError", "ResearchValidationError", "RiskMetrics", "RiskReport",
    "TooFewPeopleError", "UtilityGateError", "UtilityGates", "validate",
]
