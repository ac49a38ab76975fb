"""One exception tree for everything the service raises on purpose.

Each class says when it is raised and carries the HTTP status and code it leaves the API
with (`moderation.http.errors` turns it into `{"error": {"code", "message", "field"}}`);
the CLI shows its message. Errors of dependencies (a model, the broker, PostgreSQL) are
wrapped into one of these at the boundary where they occur.
"""

from __future__ import annotations


class ModerationError(Exception):
    """Base of every error the service raises on purpose."""

    status_code = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}
        if code is not None:
            self.code = code


class BadRequest(ModerationError):
    """The request cannot be parsed: malformed JSON, bad encoding, a broken cursor."""

    status_code = 400
    code = "bad_request"


class InvalidJSON(BadRequest):
    """The body is not valid JSON."""

    code = "invalid_json"


class InvalidEncoding(BadRequest):
    """The body is not valid UTF-8."""

    code = "invalid_encoding"


class Unauthorized(ModerationError):
    """A key or token is missing, wrong or revoked."""

    status_code = 401
    code = "unauthorized"


class Forbidden(ModerationError):
    """The caller is known but may not do this (a banned author, a moderator's role)."""

    status_code = 403
    code = "forbidden"


class NotFound(ModerationError):
    """The site, article, comment or route does not exist (or is not the caller's to see)."""

    status_code = 404
    code = "not_found"


class Conflict(ModerationError):
    """The resource is not in a state that allows this (a closed article, a stale decision)."""

    status_code = 409
    code = "conflict"


class PayloadTooLarge(ModerationError):
    """The request body is over the service's size limit."""

    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(ModerationError):
    """The body is not `application/json`."""

    status_code = 415
    code = "unsupported_media_type"


class ValidationFailed(ModerationError):
    """The JSON parsed but a field is missing, empty, too long or of the wrong kind."""

    status_code = 422
    code = "validation_failed"


class ImportFailed(ValidationFailed):
    """An import file is malformed; the message names the line or element, nothing is kept."""

    code = "import_failed"


class WebhookTargetRefused(ValidationFailed):
    """A webhook URL is not one the service sends to (not http(s), or not public)."""

    code = "webhook_target_refused"


class RateLimited(ModerationError):
    """Too many comments from one author or address; `Retry-After` says when to retry."""

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, field: str | None = None) -> None:
        headers = {"Retry-After": str(retry_after)}
        super().__init__(message, field=field, headers=headers)
        self.retry_after = retry_after


class Unavailable(ModerationError):
    """A dependency (database, broker, model) is not reachable right now; `Retry-After`
    says when to try again."""

    status_code = 503
    code = "unavailable"
    # Long enough for a database restart or failover, short enough that a widget's retry
    # lands soon after the service is back.
    retry_after = 5

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None) -> None:
        headers = {"Retry-After": str(self.retry_after)}
        super().__init__(message, field=field, code=code, headers=headers)


class DatabaseUnavailable(Unavailable):
    """PostgreSQL is stopped, restarting or out of connections while a worker's task runs;
    the task fails as expected (one line, no traceback) and a later one does its work."""


class DeadlineExceeded(ModerationError):
    """A worker took a scoring request but did not answer before the deadline."""

    status_code = 504
    code = "deadline_exceeded"


class MigrationError(ModerationError):
    """The database's recorded migrations do not match the files this code ships."""

    code = "migration_mismatch"


class ModelsError(ModerationError):
    """A models folder operation failed: a bad checkpoint, missing config files, a failed
    download or checksum."""

    code = "models_error"


class ModelMissing(Unavailable):
    """A toxicity model, or a file of its entry, is not in the models folder."""

    code = "model_missing"


class ModelBroken(Unavailable):
    """A toxicity model's files are all there but do not load."""

    code = "model_broken"


class DeviceUnavailable(Unavailable):
    """The configured toxicity device, dtype or backend cannot run on this machine."""

    code = "device_unavailable"


class ExportError(ModerationError):
    """An ONNX export failed, or disagrees with the eager model beyond the tolerance."""

    code = "onnx_export_failed"


class SpamModelError(ModerationError):
    """A stored spam model cannot be loaded: not ours, another format, or corrupt."""

    code = "spam_model_unusable"
