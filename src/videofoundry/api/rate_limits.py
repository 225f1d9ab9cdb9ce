"""Rate limits on sign-in, registration, token creation and renders, per account and per
client address, with the `limits` library: in memory in the embedded run, in Redis (shared
by every API process) when REDIS_URL is set.

A limit reached answers 429 with Retry-After. If Redis is unreachable the limit is not
enforced (logged): sign-in stays possible while the cache is down.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from typing import Annotated

from fastapi import Depends, Query, Request
from limits import RateLimitItem, parse_many
from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import MovingWindowRateLimiter

from videofoundry.api.deps import CurrentUser
from videofoundry.core.config import Settings
from videofoundry.core.errors import RateLimited

log = logging.getLogger(__name__)


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.rules: dict[str, list[RateLimitItem]] = {
            name: parse_many(text) for name, text in settings.rate_limits().items()
        }
        self.storage: Storage
        if settings.REDIS_URL:
            self.storage = RedisStorage(
                "async+" + settings.REDIS_URL,
                implementation="redispy",
                key_prefix=f"{settings.QUEUE_PREFIX}videofoundry-limits",
            )
        else:
            self.storage = MemoryStorage()
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def hit(self, rule: str, key: str) -> None:
        """Count one request against `rule` for `key`; RateLimited if that is one too many."""
        await self._apply(rule, key, consume=True)

    async def check(self, rule: str, key: str) -> None:
        """RateLimited if `key` has used up `rule`, without counting this request."""
        await self._apply(rule, key, consume=False)

    async def _apply(self, rule: str, key: str, consume: bool) -> None:
        key = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]  # bounded
        for item in self.rules.get(rule, []):
            try:
                if consume:
                    allowed = await self.strategy.hit(item, rule, key)
                else:
                    allowed = await self.strategy.test(item, rule, key)
                if allowed:
                    continue
                stats = await self.strategy.get_window_stats(item, rule, key)
            except Exception:  # the store is down: fail open, loudly
                log.warning("rate limit store unavailable; %s not enforced", rule, exc_info=True)
                return
            wait = max(1, math.ceil(stats.reset_time - time.time()))
            raise RateLimited(
                f"too many requests ({item}); try again in {wait} s", retry_after=wait
            )


def limiter_of(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


def client_address(request: Request) -> str:
    # Behind a reverse proxy this is the proxy's address unless uvicorn is told to trust its
    # X-Forwarded-For (FORWARDED_ALLOW_IPS); docs/operations.md says so.
    return request.client.host if request.client else "unknown"


LimiterDep = Annotated[RateLimiter, Depends(limiter_of)]


async def limit_render(
    request: Request,
    limiter: LimiterDep,
    user: CurrentUser,
    dry_run: Annotated[bool, Query(include_in_schema=False)] = False,
) -> None:
    """Renders started per account and per address; dry runs (plans) are not counted."""
    if dry_run:
        return
    await limiter.hit("render_address", client_address(request))
    await limiter.hit("render_account", user.id)
