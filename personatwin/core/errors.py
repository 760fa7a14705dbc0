"""Every PersonaTwin error: one base class and a few families, so callers catch what they mean.

``PersonaTwinError`` is the root. The families say what happened, not where: the input was rejected
(nothing was read further), the release was refused (a target cannot be met: nothing is released, and
the loop's history is kept), an evaluation could not run (so nothing is released either), or the
release key is missing or unusable. The historical names stay, as subclasses, so user code keeps working.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class PersonaTwinError(Exception):
    """Base class of every error PersonaTwin raises on purpose."""


# --- input rejected -------------------------------------------------------------------------------

class InputRejectedError(PersonaTwinError, ValueError):
    """The input cannot be released from as given; the message names the file, table, column or row."""


class InputError(InputRejectedError):
    """An input could not be opened, parsed or understood; the message names the file or table."""


class DirectIdentifierError(InputRejectedError):
    """Unmapped columns look like direct identifiers; the run stops before anything is read further.

    ``findings`` says which columns and why (never a value); the message is built by
    ``personatwin.ingest.identifiers``."""

    def __init__(self, findings: Iterable[Any], message: str = "input columns look like direct identifiers"):
        self.findings = tuple(findings)
        super().__init__(message)


class TooFewPeopleError(InputRejectedError):
    """Fewer than k people: no persona of k members can exist, so nothing is released."""


# --- release refused ------------------------------------------------------------------------------

class ReleaseRefusedError(PersonaTwinError, RuntimeError):
    """No configuration meets every target: nothing is released. ``history`` holds every iteration tried."""

    def __init__(self, message: str, history: tuple = ()):
        super().__init__(message)
        self.history = tuple(history)


class PrivacyTargetError(ReleaseRefusedError):
    """The ladder is exhausted and a privacy target still fails; ``best`` is the lowest-risk pass tried."""

    def __init__(self, message: str, history: tuple = (), best: Any = None, refusal: Any = None):
        super().__init__(message, history)
        self.best = best
        self.refusal = refusal  # why, in numbers, and the changes tried (personatwin.release.refusal.Refusal)


class UtilityGateError(ReleaseRefusedError):
    """The privacy targets hold but a blocking utility gate fails."""


class AttackRiskError(ReleaseRefusedError):
    """An independent (Anonymeter) attack risk exceeds the policy's limit; ``evaluation`` holds its figures."""

    def __init__(self, message: str, evaluation: Any, history: tuple = ()):
        super().__init__(message, history)
        self.evaluation = evaluation


class AttackRefusedError(AttackRiskError):
    """The release fails the Anonymeter gate even after raising k (the history is kept)."""


class ResearchValidationError(ReleaseRefusedError):
    """A declared analysis does not hold on the release and the caller required it (``require_analyses``):
    nothing is released. The message names each failing analysis and why; ``validation`` holds every
    result (original-data figures included: internal, for the data steward)."""

    def __init__(self, message: str, validation: Any = None, history: tuple = ()):
        super().__init__(message, history)
        self.validation = validation


class BudgetExceededError(ReleaseRefusedError):
    """A DP release would take its series' privacy budget (zCDP rho) over the window's cap: nothing is charged."""


class SeriesRiskError(ReleaseRefusedError):
    """The release would take its people's series risk (composition over the window's releases) above the
    target, even after raising k: nothing is released."""


class DifferencingError(ReleaseRefusedError):
    """A new version of a published period would let an attacker who compares the versions single out
    the changed people beyond the policy's limit, even with fresh randomness: nothing is released."""


# --- evaluation unavailable -----------------------------------------------------------------------

class EvaluationUnavailableError(PersonaTwinError, RuntimeError):
    """A required evaluation could not run, so the release is not made (it never passes silently)."""


class AnonymeterUnavailableError(EvaluationUnavailableError):
    """The Anonymeter virtual environment is missing."""


class AnonymeterError(EvaluationUnavailableError):
    """The Anonymeter evaluation could not be completed (too few people, a failed or timed-out runner)."""


# --- release key ----------------------------------------------------------------------------------

class ReleaseKeyError(PersonaTwinError):
    """The release key is missing or unusable."""


class MissingKeyError(ReleaseKeyError, RuntimeError):
    """No release key was configured."""


class InvalidKeyError(ReleaseKeyError, ValueError):
    """A release key was given but cannot be used (e.g. too short); the message says what is wrong, never the key."""


# --- governance -----------------------------------------------------------------------------------

class ApprovalRefusedError(PersonaTwinError, ValueError):
    """An approval or rejection of a staged release cannot be recorded (self-approval, a second vote of one
    reviewer, a staged release whose files no longer match their manifest, an unknown period or staging, a
    staging already decided); the message says which, and nothing is recorded."""


class ApprovalLogError(PersonaTwinError, RuntimeError):
    """The approval log was changed in place (its hash chain breaks): no decision is trusted until it is restored."""


class PinnedConfigurationError(PersonaTwinError, ValueError):
    """A pinned configuration (``PERSONATWIN_POLICY_FROM``) that cannot be used: the period is not published,
    was published without review, or its recorded policy is not one this version reads. Nothing runs."""
