"""Hypothesis settings profiles for the whole test suite.

* ``ci``: derandomized (the examples depend only on each test's source, so a CI run is repeatable)
  and prints a ``@reproduce_failure`` blob for any failure. Like Hypothesis's own ``ci`` profile,
  which this one replaces, it also drops the deadline and the too-slow health check: a slow shared
  runner must not fail a test. A derandomized run uses no example database and ignores
  ``--hypothesis-seed``: to replay a seed reported by a dev run, use ``HYPOTHESIS_PROFILE=dev``.
* ``dev`` (default): randomized, Hypothesis's defaults otherwise.

``ci`` is loaded when the environment variable ``CI`` or ``PERSONATWIN_CI`` is set (to anything but
empty, ``0``, ``false`` or ``no``), else ``dev``; ``HYPOTHESIS_PROFILE`` overrides both, and the
pytest option ``--hypothesis-profile`` overrides that. Profiles only set defaults: a test's own
``@settings(...)`` values still win.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# parent: Hypothesis's own defaults, not whatever profile Hypothesis itself loaded on import (its ci on CI)
_DEFAULTS = settings.get_profile("default")
settings.register_profile("ci", _DEFAULTS, derandomize=True, print_blob=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", _DEFAULTS)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def _profile() -> str:
    """The profile to load: HYPOTHESIS_PROFILE, else ``ci`` on CI, else ``dev``."""
    return os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _flag("CI") or _flag("PERSONATWIN_CI") else "dev")


settings.load_profile(_profile())
