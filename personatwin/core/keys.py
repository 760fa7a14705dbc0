"""The release key: every random draw derives from it, so noise is reproducible only with the key."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

import numpy as np

from personatwin.core.errors import InvalidKeyError, MissingKeyError

KEY_ENV = "PERSONATWIN_RELEASE_KEY"
MIN_KEY_BYTES = 16


class ReleaseKey:
    """A secret key; its repr and str never show the secret."""

    __slots__ = ("_secret",)

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
        if len(raw) < MIN_KEY_BYTES:
            raise InvalidKeyError(f"a release key needs at least {MIN_KEY_BYTES} bytes of secret, got {len(raw)}")
        self._secret = raw

    @classmethod
    def generate(cls) -> ReleaseKey:
        return cls(secrets.token_hex(32))

    @classmethod
    def from_env(cls, var: str = KEY_ENV) -> ReleaseKey:
        value = os.environ.get(var)
        if not value:
            raise MissingKeyError(
                f"no release key: set the environment variable {var} to a secret of at least "
                f"{MIN_KEY_BYTES} characters (e.g. "
                f"`export {var}=$(python -c 'import secrets; print(secrets.token_hex(32))')`)"
            )
        return cls(value)

    def fingerprint(self) -> str:
        """A short one-way tag to tell keys apart in manifests without revealing them."""
        return hmac.new(self._secret, b"personatwin-fingerprint", hashlib.sha256).hexdigest()[:12]

    def tag(self, label: str, data: bytes) -> str:
        """A keyed one-way tag of some bytes (HMAC-SHA256, hex): nobody without the key can test a guess."""
        return hmac.new(self._secret, label.encode("utf-8") + b"\x1f" + data, hashlib.sha256).hexdigest()

    def rng(self, *purpose: str) -> np.random.Generator:
        """A generator for one purpose (e.g. partition key + stage); independent across purposes."""
        msg = "\x1f".join(purpose).encode("utf-8")
        digest = hmac.new(self._secret, msg, hashlib.sha256).digest()
        words = np.frombuffer(digest, dtype=np.uint32)
        return np.random.Generator(np.random.PCG64(np.random.SeedSequence(words.tolist())))

    def __eq__(self, other: object) -> bool:
        """Same secret (constant-time comparison): two resources reading one key compare equal."""
        return isinstance(other, ReleaseKey) and hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.fingerprint())

    def __repr__(self) -> str:
        return "ReleaseKey(<secret>)"

    __str__ = __repr__

    def __reduce__(self):
        raise TypeError("a ReleaseKey is not serialized")


DEMO_KEY_FILE = os.path.join(".personatwin", "demo.key")


def demo_key(project_dir) -> tuple[ReleaseKey, str]:
    """The key from the environment, else a local demo key file (created once, mode 600), and a
    note saying which: only demos use the file; real releases set the environment variable."""
    if os.environ.get(KEY_ENV):
        return ReleaseKey.from_env(), f"release key from ${KEY_ENV}"
    path = os.path.join(os.fspath(project_dir), DEMO_KEY_FILE)
    created = not os.path.exists(path)
    if created:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    with open(path, encoding="utf-8") as f:
        key = ReleaseKey(f.read().strip())
    verb = "created" if created else "using"
    return key, f"{verb} the local demo release key in {path} (set ${KEY_ENV} for real releases)"


def as_key(key: ReleaseKey | str | bytes | None) -> ReleaseKey:
    """Accept a key object or secret; None reads the environment variable."""
    if isinstance(key, ReleaseKey):
        return key
    if key is None:
        return ReleaseKey.from_env()
    return ReleaseKey(key)
