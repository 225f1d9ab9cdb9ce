"""Webhook endpoints of the current user: register, list, remove, inspect deliveries, test.

Deliveries follow Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`,
`webhook-timestamp` and `webhook-signature` headers; the `whsec_` secret is shown once, in the
answer to the registration.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from videofoundry.api.deps import CurrentUser, RuntimeDep, SessionDep
from videofoundry.models import WebhookEndpoint
from videofoundry.services import webhook_delivery, webhooks

router = APIRouter(prefix="/api/webhooks", tags=["webhooks"])


class WebhookCreate(BaseModel):
    url: str = Field(min_length=1, max_length=2048, description="http(s) URL of a public host")
    events: list[str] = Field(
        min_length=1,
        max_length=len(webhooks.EVENT_TYPES),
        description=f"Any of: {', '.join(webhooks.EVENT_TYPES)}",
    )


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime


class WebhookCreated(WebhookPublic):
    secret: str = Field(description="Signing secret (`whsec_...`); shown only in this answer")


class AttemptPublic(BaseModel):
    at: datetime
    status_code: int | None
    error: str | None
    duration_ms: float


class DeliveryPublic(BaseModel):
    id: str
    event_id: str
    event_type: str
    status: str
    """pending, delivered or failed (gave up after the retry window)."""
    next_attempt_at: datetime | None
    created_at: datetime
    attempts: list[AttemptPublic]


class TestQueued(BaseModel):
    delivery_id: str
    event_id: str


def _public(endpoint: WebhookEndpoint) -> WebhookPublic:
    return WebhookPublic(
        id=endpoint.id, url=endpoint.url, events=endpoint.events, created_at=endpoint.created_at
    )


@router.post("", status_code=201, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookCreate, user: CurrentUser, session: SessionDep, runtime: RuntimeDep
) -> WebhookCreated:
    """Register an endpoint. Private and loopback addresses are refused (422 on `url`) unless
    the operator lists the host in WEBHOOK_ALLOWED_HOSTS."""
    endpoint = await webhooks.create_endpoint(
        session, runtime.settings, user.id, body.url, body.events
    )
    await session.commit()
    return WebhookCreated(**_public(endpoint).model_dump(), secret=endpoint.secret)


@router.get("", response_model=list[WebhookPublic])
async def list_webhooks(user: CurrentUser, session: SessionDep) -> list[WebhookPublic]:
    return [_public(e) for e in await webhooks.list_endpoints(session, user.id)]


@router.delete("/{webhook_id}", status_code=204)
async def delete_webhook(webhook_id: str, user: CurrentUser, session: SessionDep) -> Response:
    """Remove the endpoint; deliveries still pending for it are dropped."""
    await webhooks.delete_endpoint(session, user.id, webhook_id)
    await session.commit()
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryPublic])
async def list_deliveries(
    webhook_id: str, user: CurrentUser, session: SessionDep
) -> list[DeliveryPublic]:
    """The latest 50 deliveries, newest first, each with every attempt (time, status, error)."""
    rows = await webhooks.recent_deliveries(session, user.id, webhook_id)
    return [
        DeliveryPublic(
            id=delivery.id,
            event_id=event.id,
            event_type=event.type,
            status=delivery.status,
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            attempts=[
                AttemptPublic(
                    at=a.at, status_code=a.status_code, error=a.error, duration_ms=a.duration_ms
                )
                for a in attempts
            ],
        )
        for delivery, event, attempts in rows
    ]


@router.post("/{webhook_id}/test", status_code=202, response_model=TestQueued)
async def test_webhook(webhook_id: str, user: CurrentUser, session: SessionDep) -> TestQueued:
    """Queue a `webhook.test` event to this endpoint; see its deliveries for the outcome."""
    delivery = await webhooks.send_test(session, user.id, webhook_id)
    await session.commit()
    webhook_delivery.wake()
    return TestQueued(delivery_id=delivery.id, event_id=delivery.event_id)
