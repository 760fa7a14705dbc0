"""One error family: every error is a PersonaTwinError of a family that says what happened."""

from __future__ import annotations

import warnings

import pytest

import personatwin as pt
from personatwin.api import EphemeralKeyWarning, resolve_key
from personatwin.core import errors
from personatwin.core.keys import KEY_ENV


@pytest.mark.parametrize("cls, family, builtin", [
    (errors.InputError, errors.InputRejectedError, ValueError),
    (errors.DirectIdentifierError, errors.InputRejectedError, ValueError),
    (errors.TooFewPeopleError, errors.InputRejectedError, ValueError),
    (errors.PrivacyTargetError, errors.ReleaseRefusedError, RuntimeError),
    (errors.UtilityGateError, errors.ReleaseRefusedError, RuntimeError),
    (errors.AttackRiskError, errors.ReleaseRefusedError, RuntimeError),
    (errors.AttackRefusedError, errors.ReleaseRefusedError, RuntimeError),
    (errors.AnonymeterUnavailableError, errors.EvaluationUnavailableError, RuntimeError),
    (errors.AnonymeterError, errors.EvaluationUnavailableError, RuntimeError),
    (errors.MissingKeyError, errors.ReleaseKeyError, RuntimeError),
    (errors.InvalidKeyError, errors.ReleaseKeyError, ValueError),
])
def test_every_error_has_a_family_and_keeps_its_builtin_base(cls, family, builtin):
    """Old ``except ValueError`` / ``except RuntimeError`` code keeps working; new code catches a family."""
    assert issubclass(cls, family) and issubclass(cls, errors.PersonaTwinError) and issubclass(cls, builtin)
    assert getattr(pt, cls.__name__) is cls


def test_refusals_carry_the_loop_history():
    exc = errors.PrivacyTargetError("no", history=(1, 2), best="pass")
    assert exc.history == (1, 2) and exc.best == "pass" and isinstance(exc, errors.ReleaseRefusedError)
    assert errors.UtilityGateError("gates", (3,)).history == (3,)
    refused = errors.AttackRefusedError("attack", evaluation="figures", history=(4,))
    assert refused.evaluation == "figures" and refused.history == (4,)


def test_a_bad_key_is_an_error_never_a_silent_random_key(monkeypatch):
    """A key that is set but too short names the problem; only a missing key falls back (with a warning)."""
    monkeypatch.setenv(KEY_ENV, "short")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning either
        with pytest.raises(errors.InvalidKeyError, match="at least 16 bytes") as info:
            resolve_key(None)
    assert "short" not in str(info.value)  # the message never shows the secret
    with pytest.raises(errors.InvalidKeyError):
        resolve_key("also-short")
    monkeypatch.delenv(KEY_ENV)
    with pytest.warns(EphemeralKeyWarning):
        key = resolve_key(None)
    assert isinstance(key, pt.ReleaseKey)


def test_direct_identifier_error_keeps_its_findings():
    exc = errors.DirectIdentifierError(("finding",), "columns look like identifiers")
    assert exc.findings == ("finding",) and "identifiers" in str(exc)
