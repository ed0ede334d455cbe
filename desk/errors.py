"""Errors of the desk: a user, an operator or a bad record can cause each of them, so each
carries a message fit to show as it is (the CLI prints it on one line; the HTTP layer maps
the family to a status). Messages never hold a password, a token or a database password.

    DeskError
    ├── DatabaseError                the database of record cannot be used
    │   ├── DatabaseUrlError         PARLEY_DATABASE_URL is malformed or unsupported
    │   ├── DatabaseUnavailableError the database does not answer (down, wrong host or name)
    │   └── SchemaNotCurrentError    the schema is behind the code: run `parley db upgrade`
    ├── desk.retention.ArchiveRetentionError  a bad PARLEY_ARCHIVE_RETENTION_DAYS
    ├── EncryptionError              encryption at rest cannot work as configured (desk.encryption)
    │   ├── EncryptionKeyError       PARLEY_ENCRYPTION_KEYS(_FILE) is malformed, or none is set
    │   ├── EncryptionNotConfiguredError  a value was written before the keys were configured
    │   └── DecryptionError          a stored value that no key of the ring opens
    ├── AccountError                 a request about accounts cannot be done      (→ 4xx)
    │   ├── InvalidAccountError      bad email, role, team name or name           (→ 400)
    │   ├── PasswordPolicyError      a new password is too short or too long      (→ 400)
    │   ├── DuplicateEmailError      another account has this email               (→ 409)
    │   ├── UnknownUserError         no account has this id                       (→ 404)
    │   └── LastAdminError           the change would leave no active admin       (→ 409)
    └── RecordError                  a record or a request about records is malformed (→ 400)
        ├── UnknownHandoffError      no handoff has this id                       (→ 404)
        ├── desk.people.PersonIdError            a person id that is not CHANNEL:USER
        ├── desk.analytics.AnalyticsRangeError   a range, channel or zone to report on
        └── desk.review_labels.ReviewError       a review label (UnknownTurnError → 404)

All take one message argument, so they pickle.
"""

from __future__ import annotations

__all__ = ["AccountError", "DatabaseError", "DatabaseUnavailableError", "DatabaseUrlError",
           "DecryptionError", "DeskError", "DuplicateEmailError", "EncryptionError",
           "EncryptionKeyError", "EncryptionNotConfiguredError", "InvalidAccountError",
           "LastAdminError", "PasswordPolicyError", "RecordError", "SchemaNotCurrentError",
           "UnknownHandoffError", "UnknownUserError"]


class DeskError(Exception):
    """Root of the desk's errors."""


class DatabaseError(DeskError):
    pass


class DatabaseUrlError(DatabaseError):
    pass


class DatabaseUnavailableError(DatabaseError):
    pass


class SchemaNotCurrentError(DatabaseError):
    pass


class EncryptionError(DeskError):
    pass


class EncryptionKeyError(EncryptionError):
    pass


class EncryptionNotConfiguredError(EncryptionError):
    pass


class DecryptionError(EncryptionError):
    pass


class AccountError(DeskError):
    pass


class InvalidAccountError(AccountError):
    pass


class PasswordPolicyError(AccountError):
    pass


class DuplicateEmailError(AccountError):
    pass


class UnknownUserError(AccountError):
    pass


class LastAdminError(AccountError):
    pass


class RecordError(DeskError):
    pass


class UnknownHandoffError(RecordError):
    pass
