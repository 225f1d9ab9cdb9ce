"""Provider answers as untrusted input: redaction of secrets, replies read whole, JSON checked
against pydantic models, and the provider's own reason picked out of an error body."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from videofoundry.core.errors import ProviderUnavailable

M = TypeVar("M", bound=BaseModel)

REDACTED = "[REDACTED]"


class Redactor:
    """Removes secrets from any text before it reaches an error, a log line or an event."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Very short values would blank out ordinary words; real keys are long.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------
# Replies and untrusted JSON


@dataclass(frozen=True)
class Reply:
    """One HTTP answer, read completely (or streamed to `path` when a sink was given)."""

    status: int
    headers: httpx.Headers
    content: bytes
    provider: str
    redact: Redactor
    path: Path | None = None

    def json(self) -> Any:
        """The body as JSON; a clear `ProviderUnavailable` when it is not JSON."""
        try:
            return json.loads(self.content.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            text = self.content.decode("utf-8", "replace")
            raise ProviderUnavailable(
                f"{self.provider} sent malformed JSON (HTTP {self.status}): "
                f"{self.redact(snippet(text, 120))!r}"
            ) from None

    def json_object(self) -> dict[str, Any]:
        data = self.json()
        if not isinstance(data, dict):
            raise ProviderUnavailable(
                f"{self.provider} sent a JSON {type(data).__name__} where an object was expected"
            )
        return data


def parse_model(
    model: type[M], data: Any, provider: str, what: str, redact: Callable[[str], str]
) -> M:
    """Validate an untrusted provider document against a pydantic model.

    Raises ProviderUnavailable naming the first offending fields (values redacted).
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '(root)'}: {err['msg']}"
            for err in exc.errors(include_input=False)[:3]
        )
        raise ProviderUnavailable(
            redact(f"{provider} sent an unexpected {what}: {problems}")
        ) from None


ReasonFn = Callable[[Any], str | None]


def default_reason(body: Any) -> str | None:
    """Common error members: `error`, `detail`, `message`, `title`."""
    if isinstance(body, dict):
        for key in ("error", "detail", "message", "title"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
    return None
