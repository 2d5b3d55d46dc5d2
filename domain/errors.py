"""The one family of domain errors, each with a stable machine code and an HTTP status."""

from __future__ import annotations


class DomainError(Exception):
    """A refusal by a rule. `code` is stable (clients branch on it); `message` is for people; `details`, when
    given, are facts a client can act on (e.g. the id of the record a new one clashes with)."""

    status = 422

    def __init__(self, code: str, message: str, fields: dict | None = None, details: dict | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = fields
        self.details = details


class Invalid(DomainError):
    """The input is malformed."""

    status = 400


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    """Not there, or outside the caller's scope: the two are deliberately indistinguishable."""

    status = 404


class Conflict(DomainError):
    """Refused because of the current state (already claimed, already decided ...)."""

    status = 409


class Refused(DomainError):
    """Well-formed but refused by a rule."""

    status = 422


class Unauthenticated(DomainError):
    """No credentials, or credentials that are wrong, expired or revoked."""

    status = 401


class TooSoon(DomainError):
    """Refused for now, not for good: asked again after `retry_after` seconds, it may pass."""

    status = 429

    def __init__(self, code: str, message: str, retry_after: int):
        super().__init__(code, message)
        self.retry_after = retry_after
