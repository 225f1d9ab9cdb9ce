"""Webhook signing, event mapping and backoff, checked against the Standard Webhooks reference
library where it has an opinion."""

from __future__ import annotations

import random
import time

import pytest
from standardwebhooks import Webhook

from tests.support.app import make_settings
from videofoundry.services import webhook_delivery, webhooks


def test_signature_verifies_with_the_reference_library() -> None:
    secret = webhooks.new_secret()
    body = webhook_delivery.body_bytes({"type": "render.completed", "data": {"b": 1, "a": 2}})
    timestamp = int(time.time())
    headers = {
        "webhook-id": "evt_1",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": webhook_delivery.sign(secret, "evt_1", timestamp, body),
    }
    Webhook(secret).verify(body, headers)
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(webhooks.new_secret()).verify(body, headers)


def test_body_bytes_are_the_same_whatever_the_key_order() -> None:
    first = webhook_delivery.body_bytes({"a": 1, "b": {"y": 2, "x": 3}})
    second = webhook_delivery.body_bytes({"b": {"x": 3, "y": 2}, "a": 1})
    assert first == second


def test_event_ids_are_stable_and_distinct() -> None:
    assert webhooks.event_id("job1", 3) == webhooks.event_id("job1", 3)
    assert webhooks.event_id("job1", 3) != webhooks.event_id("job1", 4)
    assert webhooks.event_id("job1", 3).startswith("evt_")


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"type": "job", "status": "completed"}, "render.completed"),
        ({"type": "job", "status": "failed"}, "render.failed"),
        ({"type": "job", "status": "cancelled"}, "render.cancelled"),
        ({"type": "job", "status": "composing"}, None),
        ({"type": "segment", "status": "completed"}, "segment.completed"),
        ({"type": "segment", "status": "failed"}, "segment.failed"),
        ({"type": "segment", "status": "running"}, None),
        ({"type": "segment", "status": "cancelled"}, None),
    ],
)
def test_job_events_map_to_webhook_types(payload: dict[str, str], kind: str | None) -> None:
    assert webhooks.event_type_of(payload) == kind


def test_backoff_grows_by_four_up_to_the_cap_and_spans_over_a_day(tmp_path: object) -> None:
    settings = make_settings(tmp_path)  # type: ignore[arg-type]
    rng = random.Random(1)
    delays = [webhook_delivery.retry_delay(settings, n, rng) for n in range(1, 13)]
    assert 5 <= delays[0] <= 5.5 and 20 <= delays[1] <= 22
    assert max(delays) <= settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS * 1.1
    assert sum(delays) > 24 * 3600
    assert settings.WEBHOOK_RETRY_WINDOW_SECONDS > 24 * 3600
