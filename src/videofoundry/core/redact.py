"""Credentials out of every text the product keeps or prints.

Bearer tokens in query strings (the WebSocket's `?token=`), media link signatures, presigned
storage URLs' signatures and provider API keys are replaced by `[redacted]`, in log lines (a
filter on the handlers, so the access log too) and in failure texts before they are stored.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from videofoundry.core.config import Settings

MASK = "[redacted]"
# Query parameters that carry a credential, in any case (X-Amz-Signature, access_token...).
_QUERY_SECRET = re.compile(
    r"(?i)([?&;](?:token|access_token|api_key|apikey|key|signature|sig|invite|password|"
    r"x-amz-signature|x-amz-credential|x-amz-security-token)=)[^&#\s\"'<>]+"
)
_BEARER = re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}")
_API_TOKEN = re.compile(r"\bvf_[A-Za-z0-9_-]{16,}")
_SHORTEST_SECRET = 6  # shorter configured values would mask ordinary words


def provider_secrets(settings: Settings) -> list[str]:
    """Every configured credential whose value must never appear in a text."""
    values = [
        settings.RUNWAY_API_KEY,
        settings.LUMA_API_KEY,
        settings.REPLICATE_API_TOKEN,
        settings.STABILITY_API_KEY,
        settings.AWS_SECRET_ACCESS_KEY,
        settings.SECRET_KEY,
    ]
    return [v for v in values if len(v) >= _SHORTEST_SECRET]


class Redactor:
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a key that contains another is masked whole.
        self.secrets = sorted({s for s in secrets if len(s) >= _SHORTEST_SECRET}, key=len)[::-1]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        text = _QUERY_SECRET.sub(rf"\g<1>{MASK}", text)
        text = _BEARER.sub(rf"\g<1>{MASK}", text)
        return _API_TOKEN.sub(MASK, text)


def redactor_for(settings: Settings) -> Redactor:
    return Redactor(provider_secrets(settings))


class RedactingFilter(logging.Filter):
    """Rewrites a record's message (and traceback) with the redactor before any handler
    formats it. Never drops a record."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("videofoundry-redaction")
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's business
            return True
        redacted = self.redact(message)
        if redacted != message:
            # Redact the arguments in place where that is enough: formatters such as uvicorn's
            # access log read `record.args` themselves and break on None.
            args = record.args
            if isinstance(args, tuple):
                record.args = tuple(self.redact(a) if isinstance(a, str) else a for a in args)
                rewritten = record.getMessage()
                if self.redact(rewritten) == rewritten:  # nothing left to hide
                    return self._traceback(record)
                record.args = args
            record.msg, record.args = redacted, None
        return self._traceback(record)

    def _traceback(self, record: logging.LogRecord) -> bool:
        if record.exc_info and not record.exc_text:
            record.exc_text = self.redact(logging.Formatter().formatException(record.exc_info))
        return True


def install_log_redaction(settings: Settings) -> None:
    """Put the filter on every handler of the root logger and uvicorn's loggers (the access
    log has its own handler). Safe to call more than once."""
    redacting = RedactingFilter(redactor_for(settings))
    for name in ("", "uvicorn", "uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        targets: list[logging.Filterer] = [logger, *logger.handlers]
        for target in targets:
            for old in [f for f in target.filters if isinstance(f, RedactingFilter)]:
                target.removeFilter(old)
            target.addFilter(redacting)
