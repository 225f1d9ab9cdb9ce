"""Presigned links are signed once per asset and link period (services/assets.urls_for): the
same links in every answer of a period, and no signing for a view whose links are known."""

from __future__ import annotations

import time
from dataclasses import dataclass

import pytest

from videofoundry.core.config import Settings
from videofoundry.services import assets
from videofoundry.storage.s3 import S3Storage


@dataclass
class Link:
    id: str
    storage_key: str


class CountingS3(S3Storage):
    """Real SigV4 signing (obstore; no server is contacted), counting the keys signed."""

    signed: list[str]

    async def presigned_urls(self, keys: list[str], expires: int = 3600) -> list[str | None]:
        self.signed.extend(keys)
        return await super().presigned_urls(keys, expires)


def _storage() -> CountingS3:
    storage = CountingS3("bucket", "http://127.0.0.1:9", access_key="key", secret_key="secret")
    storage.signed = []
    return storage


async def test_links_are_signed_once_per_period(monkeypatch: pytest.MonkeyPatch) -> None:
    storage, settings = _storage(), Settings()
    links = [Link(f"a{i}", f"clips/owner/{i:064d}.mp4") for i in range(3)]
    first = await assets.urls_for(settings, storage, [links[0], None, links[1]])
    assert first[1] is None and all(u and "X-Amz-Signature" in u for u in (first[0], first[2]))
    again = await assets.urls_for(settings, storage, [links[1], links[0], links[2], links[2]])
    assert again[:2] == [first[2], first[0]]
    assert again[2] == again[3]
    assert storage.signed == [links[0].storage_key, links[1].storage_key, links[2].storage_key]

    # The next period signs again; another storage (another bucket) never shares links.
    period = assets.LINK_PERIOD_SECONDS
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + period)
    await assets.urls_for(settings, storage, [links[0]])
    assert storage.signed[-1] == links[0].storage_key and len(storage.signed) == 4
    other = _storage()
    await assets.urls_for(settings, other, [links[0]])
    assert other.signed == [links[0].storage_key]
