"""desk.encryption: the key ring from the environment (keys, a key file, off), what a stored
value looks like, and the bot folder's generated key file — no database here."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from desk import encryption
from desk.encryption import (
    KEY_FILE,
    MARK,
    RAW,
    KeyRing,
    ensure_key_file,
    new_key,
    require,
    ring_from_env,
)
from desk.errors import DecryptionError, EncryptionKeyError, EncryptionNotConfiguredError

A, B = new_key(), new_key()


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    old, both = KeyRing.from_keys([A]), KeyRing.from_keys([B, A])
    stored = old.encode_text("my card is 4111")
    assert stored.startswith(MARK) and "4111" not in stored
    assert both.decode_text(stored) == "my card is 4111"  # A still decrypts
    new = both.encode_text("hello")
    assert new.startswith(f"{MARK}{both.primary_id}:") and both.is_current(new)
    assert not both.is_current(stored)
    assert Fernet(B).decrypt(new.split(":", 2)[2].encode()) == b"hello"  # a Fernet token
    with pytest.raises(DecryptionError, match=f"key '{both.primary_id}'.*add it to "
                       "PARLEY_ENCRYPTION_KEYS"):
        old.decode_text(new)  # A alone cannot read what B wrote: the key is named
    assert old.encode_text("") == ""  # the empty text says nothing about anyone


def test_a_damaged_ciphertext_is_an_error_not_garbage() -> None:
    ring = KeyRing.from_keys([A])
    stored = ring.encode_text("hello")
    with pytest.raises(DecryptionError, match="damaged or changed"):
        ring.decode_text(stored[:-4] + "AAAA")


def test_the_ring_never_shows_its_keys() -> None:
    ring = KeyRing.from_keys([A, B])
    assert A not in repr(ring) and B not in repr(ring) and A not in str(ring)
    assert repr(ring) == f"KeyRing(key_ids={ring.key_ids!r}, encrypt_writes=True)"
    assert len(ring.key_ids) == 2 and all(len(kid) == 8 for kid in ring.key_ids)


def test_keys_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    assert ring_from_env({}) is None  # on, and no key: the caller decides
    listed = ring_from_env({"PARLEY_ENCRYPTION_KEYS": f" {B} , {A} "})
    assert listed is not None and listed == KeyRing.from_keys([B, A])
    secret = tmp_path / "keys"
    secret.write_text(f"# newest first\n{B}\n\n{A},{A}\n")  # a mounted secret: lines
    from_file = ring_from_env({"PARLEY_ENCRYPTION_KEYS_FILE": str(secret)})
    assert from_file is not None and from_file.key_ids == listed.key_ids
    # what the CLI makes of PARLEY_ENCRYPTION_KEYS_FILE (channels.secret_values): the lines
    resolved = ring_from_env({"PARLEY_ENCRYPTION_KEYS": secret.read_text()})
    assert resolved is not None and resolved.key_ids == listed.key_ids


def test_encryption_off_says_so_and_its_keys_still_read() -> None:
    off = ring_from_env({"PARLEY_ENCRYPTION": "off"})
    assert off == KeyRing.disabled() and not off.encrypt_writes
    assert off.encode_text("plain") == "plain"
    stored = KeyRing.from_keys([A]).encode_text("old secret")
    reading = ring_from_env({"PARLEY_ENCRYPTION": "OFF", "PARLEY_ENCRYPTION_KEYS": A})
    assert reading is not None and not reading.encrypt_writes
    assert reading.encode_text("new") == "new" and reading.decode_text(stored) == "old secret"
    with pytest.raises(DecryptionError):
        off.decode_text(stored)


def test_a_plaintext_that_looks_like_a_ciphertext_reads_back_as_written() -> None:
    off = KeyRing.disabled()
    for text in (f"{MARK}abcd:nothing", f"{RAW}x", "praw", "penc1"):
        assert off.decode_text(off.encode_text(text)) == text
        assert KeyRing.from_keys([A]).decode_text(off.encode_text(text)) == text


@pytest.mark.parametrize(("env", "said"), [
    ({"PARLEY_ENCRYPTION_KEYS": f"{A},not-a-key"},
     "PARLEY_ENCRYPTION_KEYS: key 2 is not a Fernet key"),
    ({"PARLEY_ENCRYPTION_KEYS": f"{A},,{B}"}, "PARLEY_ENCRYPTION_KEYS: key 2 is empty"),
    ({"PARLEY_ENCRYPTION_KEYS": A[:-2]}, "PARLEY_ENCRYPTION_KEYS: key 1 is not a Fernet key"),
    ({"PARLEY_ENCRYPTION_KEYS": "é" * 44}, "PARLEY_ENCRYPTION_KEYS: key 1 is not a Fernet"),
    ({"PARLEY_ENCRYPTION": "maybe"}, "PARLEY_ENCRYPTION must be on or off, got 'maybe'"),
    ({"PARLEY_ENCRYPTION_KEYS": A, "PARLEY_ENCRYPTION_KEYS_FILE": "/k"},
     "set PARLEY_ENCRYPTION_KEYS or PARLEY_ENCRYPTION_KEYS_FILE, not both"),
    ({"PARLEY_ENCRYPTION_KEYS_FILE": "/nonexistent/keys"},
     "PARLEY_ENCRYPTION_KEYS_FILE names /nonexistent/keys, which cannot be read: No such"),
])
def test_a_bad_setting_is_one_line_naming_it_and_never_the_key(env: dict[str, str],
                                                               said: str) -> None:
    with pytest.raises(EncryptionKeyError) as caught:
        ring_from_env(env)
    message = str(caught.value)
    assert message.startswith(said) and "\n" not in message
    assert A not in message and A[:-2] not in message and "not-a-key" not in message


def test_a_key_file_with_a_bad_key_names_the_file_and_the_position(tmp_path: Path) -> None:
    secret = tmp_path / "keys"
    secret.write_text(f"{A}\nhunter2hunter2\n")
    with pytest.raises(EncryptionKeyError) as caught:
        ring_from_env({"PARLEY_ENCRYPTION_KEYS_FILE": str(secret)})
    assert str(caught.value).startswith(f"PARLEY_ENCRYPTION_KEYS_FILE ({secret}): key 2 is "
                                        "not a Fernet key")
    assert "hunter2" not in str(caught.value)
    secret.write_text("# nothing yet\n")
    with pytest.raises(EncryptionKeyError, match="which holds no key"):
        ring_from_env({"PARLEY_ENCRYPTION_KEYS_FILE": str(secret)})


def test_writing_before_a_ring_is_configured_is_refused() -> None:
    encryption.configure(None)
    with pytest.raises(EncryptionNotConfiguredError, match="nothing was stored"):
        require()


def test_the_bot_folders_key_is_made_once_for_its_owner_only(tmp_path: Path) -> None:
    path, ring, created = ensure_key_file(tmp_path)
    assert created and path == tmp_path / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (path.parent / ".gitignore").read_text().splitlines()[-1] == "*"
    again_path, again, created_again = ensure_key_file(tmp_path)
    assert (again_path, again, created_again) == (path, ring, False)
    # the file is in PARLEY_ENCRYPTION_KEYS_FILE's format: production can take it as it is
    assert ring_from_env({"PARLEY_ENCRYPTION_KEYS_FILE": str(path)}) == ring


def test_a_bot_folder_where_no_key_can_be_made_is_one_line_saying_what_to_set(
        tmp_path: Path) -> None:
    """A read-only bot folder (the image's /app/bot): here, .parley is a file, so the key's
    folder cannot be made (root ignores permissions, so a chmod would not show it)."""
    (tmp_path / KEY_FILE).parent.write_text("not a folder")
    with pytest.raises(EncryptionKeyError) as caught:
        ensure_key_file(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"cannot make the key file {tmp_path / KEY_FILE} for the desk's "
                              "records: ")
    assert message.endswith("set PARLEY_ENCRYPTION_KEYS (make a key with `parley privacy "
                            "new-key`) or PARLEY_ENCRYPTION_KEYS_FILE")
    assert "\n" not in message
