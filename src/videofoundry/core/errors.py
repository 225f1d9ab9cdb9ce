"""Every error the product raises on purpose.

    VideoFoundryError                 base; `status_code` is what the API answers
    ├── NotFound                      404: absent, or owned by someone else
    ├── InvalidInput                  422: the request is well formed but not acceptable
    ├── Conflict                      409
    ├── BudgetExceeded                402: the render would cost more than is left
    ├── Unauthorized                  401
    ├── Forbidden                     403: allowed to nobody in this role (e.g. closed sign-up)
    ├── RateLimited                   429: too many attempts; `retry_after` seconds
    ├── NotAvailable                  501/503: a feature or backend that is not there
    └── GenerationError               raised by adapters and media code inside workers
        ├── RetryableError            transient: worth another attempt after a backoff
        │   ├── ProviderUnavailable   429, 5xx, connection errors, capacity
        │   └── TaskFailed            the provider's task ended failed; a new task may work
        └── PermanentError            retrying unchanged cannot help
            ├── PromptRejected        moderation or provider-side validation
            ├── InvalidMedia          a clip or audio file that cannot be used
            └── Cancelled             the job was cancelled while working

Services raise these; only the API layer turns them into HTTP answers.
"""

from __future__ import annotations


class VideoFoundryError(Exception):
    """Base of all deliberate errors. `message` is safe to show to the user."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(VideoFoundryError):
    status_code = 404


class InvalidInput(VideoFoundryError):
    status_code = 422

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Conflict(VideoFoundryError):
    status_code = 409


class BudgetExceeded(VideoFoundryError):
    status_code = 402


class Unauthorized(VideoFoundryError):
    status_code = 401


class Forbidden(VideoFoundryError):
    status_code = 403


class RateLimited(VideoFoundryError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotAvailable(VideoFoundryError):
    status_code = 503


class GenerationError(VideoFoundryError):
    """A segment could not be generated or a video could not be composed."""

    status_code = 500


class RetryableError(GenerationError):
    """Transient failure. `retry_after` (seconds) is a hint from the provider, if any."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ProviderUnavailable(RetryableError):
    pass


class TaskFailed(RetryableError):
    """The provider task itself failed transiently: retry with a *new* task (the worker forgets
    the stored task id), unlike ProviderUnavailable where the same task is polled again."""


class PermanentError(GenerationError):
    pass


class PromptRejected(PermanentError):
    pass


class InvalidMedia(PermanentError):
    pass


class Cancelled(PermanentError):
    pass
