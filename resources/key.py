"""The release key: read from an environment variable at run time, never stored in config."""

from __future__ import annotations

import dagster as dg

from personatwin.core.errors import MissingKeyError
from personatwin.core.keys import KEY_ENV, ReleaseKey


class ReleaseKeyResource(dg.ConfigurableResource):
    """Names the environment variable holding the secret; the secret itself never enters config."""

    env_var: str = KEY_ENV

    def key(self) -> ReleaseKey:
        """The key; a missing or too short secret fails the step with how to set it (no traceback)."""
        try:
            return ReleaseKey.from_env(self.env_var)
        except (MissingKeyError, ValueError) as exc:
            raise dg.Failure(description=str(exc)) from None
