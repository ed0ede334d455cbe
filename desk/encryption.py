"""Encryption at rest of what people wrote and what the bot keeps about them.

The desk's columns that hold a person's words or data (``desk.encrypted_columns``) are
stored encrypted with a :class:`KeyRing`: Fernet keys (AES-128-CBC and HMAC-SHA256,
``cryptography``'s ``MultiFernet``), the first of which encrypts while every one decrypts,
so a new key is put first and the old ones stay until ``parley privacy rotate-keys`` has
re-encrypted every row under the new one (``desk.key_rotation``).

A stored ciphertext reads ``penc1:<key id>:<Fernet token>``: the marker tells it from a
plaintext written while encryption was off (or before it existed), and the key id — the
first 8 hex digits of a SHA-256 of the key, which says nothing about the key — names the
key that opens it, so that decryption tries one key, a missing key is named in the error,
and rotation skips what is already under the newest key without decrypting it. With
encryption off a text that happens to start with a marker is stored behind ``praw1:``, so
every stored value reads back as what was written. ``""`` stays ``""`` (queries compare
texts to the empty text; an empty text says nothing about anyone), and so do an empty
JSON list and object.

The keys come from the environment (:func:`ring_from_env`), once, at start-up; the process
then hands the ring to :func:`configure`, and the column types take it from there — from
any thread and any event loop (a ring is immutable; Fernet holds no state). A process that
writes an encrypted column before configuring a ring gets
:class:`~desk.errors.EncryptionNotConfiguredError`, never a plaintext row.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from desk.errors import (
    DecryptionError,
    EncryptionKeyError,
    EncryptionNotConfiguredError,
)

__all__ = ["KEY_FILE", "MARK", "RAW", "KeyRing", "configure", "current", "ensure_key_file",
           "new_key", "require", "ring_from_env"]

MARK = "penc1:"   # a ciphertext: MARK, the key's id, ":", the Fernet token
RAW = "praw1:"    # a plaintext that starts with a marker, written with encryption off
KEY_FILE = Path(".parley") / "encryption.key"  # `parley run`'s key, in the bot folder
_ID_LENGTH = 8
_KEY_FORM = ("is not a Fernet key (32 random bytes in URL-safe base64: 44 characters; "
             "`parley privacy new-key` makes one)")


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"parley key id\x00" + key).hexdigest()[:_ID_LENGTH]


def _fernet(key: str, where: str) -> tuple[str, Fernet]:
    """The key's id and its Fernet, or :class:`EncryptionKeyError` naming ``where`` (never
    the key itself)."""
    text = key.strip()
    if not text:
        raise EncryptionKeyError(f"{where} is empty (keys are separated by commas)")
    try:
        raw = base64.urlsafe_b64decode(text.encode("ascii"))
        fernet = Fernet(text)
    except (ValueError, TypeError, binascii.Error, UnicodeEncodeError):
        raise EncryptionKeyError(f"{where} {_KEY_FORM}") from None
    return _key_id(raw), fernet


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Keys, newest first, and whether new values are encrypted (``encrypt_writes``; off:
    ``PARLEY_ENCRYPTION=off``, when any keys given still read what they encrypted)."""

    key_ids: tuple[str, ...]
    encrypt_writes: bool
    _fernets: Mapping[str, Fernet] = field(repr=False, compare=False)

    @classmethod
    def from_keys(cls, keys: Sequence[str], *, encrypt_writes: bool = True,
                  source: str = "the key list") -> KeyRing:
        """A ring of ``keys`` (Fernet keys as text, the encrypting one first). A bad key is
        :class:`EncryptionKeyError` naming ``source`` and its position."""
        pairs = [_fernet(key, f"{source}: key {n}") for n, key in enumerate(keys, 1)]
        if encrypt_writes and not pairs:
            raise EncryptionKeyError(f"{source} holds no key")
        ids = tuple(dict.fromkeys(kid for kid, _ in pairs))  # a repeated key counts once
        return cls(key_ids=ids, encrypt_writes=encrypt_writes, _fernets=dict(pairs))

    @classmethod
    def disabled(cls) -> KeyRing:
        """No keys, nothing encrypted (``PARLEY_ENCRYPTION=off``)."""
        return cls(key_ids=(), encrypt_writes=False, _fernets={})

    @property
    def primary_id(self) -> str | None:
        """The id of the key that encrypts (``None``: no keys)."""
        return self.key_ids[0] if self.key_ids else None

    def seal(self, plain: bytes) -> str:
        """``plain`` encrypted under the first key, as stored."""
        kid = self.primary_id
        if kid is None:
            raise EncryptionKeyError("no encryption key is configured: set "
                                     "PARLEY_ENCRYPTION_KEYS")
        return f"{MARK}{kid}:{self._fernets[kid].encrypt(plain).decode('ascii')}"

    def unseal(self, stored: str) -> bytes:
        """The plaintext of a stored ciphertext (``MARK…``), with the key it names."""
        kid, _, token = stored[len(MARK):].partition(":")
        fernet = self._fernets.get(kid)
        if fernet is None:
            known = ", ".join(self.key_ids) or "none"
            raise DecryptionError(f"a stored value is encrypted with key {kid[:_ID_LENGTH]!r}, "
                                  f"which the configured keys (ids: {known}) do not hold: add "
                                  "it to PARLEY_ENCRYPTION_KEYS")
        try:
            return fernet.decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            raise DecryptionError(f"a stored value under key {kid!r} does not decrypt: it "
                                  "was damaged or changed in the database") from None

    def encode_text(self, value: str) -> str:
        """What is stored for the text ``value`` (``""`` stays ``""``)."""
        if not value:
            return value
        if self.encrypt_writes:
            return self.seal(value.encode("utf-8"))
        return RAW + value if value.startswith((MARK, RAW)) else value

    def decode_text(self, stored: str) -> str:
        """The text that ``stored`` holds: decrypted, unescaped, or as it is."""
        if stored.startswith(MARK):
            return self.unseal(stored).decode("utf-8")
        return stored[len(RAW):] if stored.startswith(RAW) else stored

    def is_current(self, stored: str) -> bool:
        """``stored`` is a ciphertext under the encrypting key (rotation leaves it)."""
        return self.primary_id is not None and stored.startswith(
            f"{MARK}{self.primary_id}:")


def new_key() -> str:
    """A new random Fernet key, as text."""
    return Fernet.generate_key().decode("ascii")


# --- the process's ring -----------------------------------------------------------------------

_configured: KeyRing | None = None


def configure(ring: KeyRing | None) -> None:
    """Make ``ring`` the one every encrypted column of this process uses (``None``: none,
    so writes fail). Called once at start-up, before the database is written."""
    global _configured
    _configured = ring


def current() -> KeyRing | None:
    return _configured


def require() -> KeyRing:
    """The configured ring, or :class:`EncryptionNotConfiguredError`."""
    ring = _configured
    if ring is None:
        raise EncryptionNotConfiguredError(
            "an encrypted column was written before this process configured its encryption "
            "keys (desk.encryption.configure): nothing was stored")
    return ring


# --- from the environment -----------------------------------------------------------------------

def ring_from_env(env: Mapping[str, str]) -> KeyRing | None:
    """The ring ``PARLEY_ENCRYPTION_KEYS`` or ``PARLEY_ENCRYPTION_KEYS_FILE`` (a file) names
    (keys comma-separated or one a line, the encrypting one first); with ``PARLEY_ENCRYPTION=off``
    a ring that encrypts nothing (its keys, if any, still decrypt). ``None``: encryption is
    on and no key is set — the caller decides (``parley run`` makes one, servers refuse)."""
    mode = env.get("PARLEY_ENCRYPTION", "").strip().lower()
    if mode not in ("", "on", "off"):
        raise EncryptionKeyError(f"PARLEY_ENCRYPTION must be on or off, got "
                                 f"{env['PARLEY_ENCRYPTION'][:40]!r}")
    keys = _keys_from_env(env)
    if keys is None:
        return KeyRing.disabled() if mode == "off" else None
    return KeyRing.from_keys(keys[1], encrypt_writes=mode != "off", source=keys[0])


def _keys_from_env(env: Mapping[str, str]) -> tuple[str, list[str]] | None:
    listed, named = env.get("PARLEY_ENCRYPTION_KEYS", ""), env.get(
        "PARLEY_ENCRYPTION_KEYS_FILE", "")
    if listed.strip() and named.strip():
        raise EncryptionKeyError("set PARLEY_ENCRYPTION_KEYS or PARLEY_ENCRYPTION_KEYS_FILE, "
                                 "not both")
    if listed.strip():  # the CLI puts a _FILE's text here (channels.secret_values): lines too
        return "PARLEY_ENCRYPTION_KEYS", _split_keys(listed)
    if named.strip():
        path = Path(named.strip())
        return f"PARLEY_ENCRYPTION_KEYS_FILE ({path})", _read_key_file(
            path, f"PARLEY_ENCRYPTION_KEYS_FILE names {path}, which")
    return None


def _split_keys(text: str) -> list[str]:
    """Keys one a line or comma-separated; blank lines and ``#`` comments are skipped (a
    Kubernetes secret mounted as a file ends in a newline)."""
    keys: list[str] = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keys.extend(line.strip().split(","))
    return keys


def _read_key_file(path: Path, subject: str) -> list[str]:
    """The keys of the file ``path``; ``subject`` starts the error's line."""
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(
            exc).__name__
        raise EncryptionKeyError(f"{subject} cannot be read: {reason}") from None
    keys = _split_keys(text)
    if not keys:
        raise EncryptionKeyError(f"{subject} holds no key")
    return keys


def _make_key_file(path: Path) -> bool:
    """A new key in ``path`` (0600, in a 0700 folder git ignores); False if another process
    made it first."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    ignore = path.parent / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# Parley's local secrets: never commit them\n*\n", "utf-8")
    try:
        handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(handle, "w", encoding="ascii") as out:
        out.write(new_key() + "\n")
        out.flush()
        os.fsync(out.fileno())
    return True


def ensure_key_file(bot_dir: Path) -> tuple[Path, KeyRing, bool]:
    """The ring of the bot folder's generated key file (:data:`KEY_FILE`), made when
    missing: a new key, the file readable by its owner only (0600, in a 0700 folder that
    git ignores). Returns the file, its ring, and whether it was made now. Two processes
    making it at once get one key (``O_EXCL``)."""
    path = bot_dir / KEY_FILE
    created = False
    if not path.exists():
        try:
            created = _make_key_file(path)
        except OSError as exc:  # a read-only bot folder (a container's image), a full disk
            raise EncryptionKeyError(
                f"cannot make the key file {path} for the desk's records: "
                f"{exc.strerror or exc}; set PARLEY_ENCRYPTION_KEYS (make a key with "
                "`parley privacy new-key`) or PARLEY_ENCRYPTION_KEYS_FILE") from None
    ring = KeyRing.from_keys(_read_key_file(path, f"the key file {path}"),
                             source=f"the key file {path}")
    return path, ring, created
