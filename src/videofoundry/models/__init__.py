"""SQLAlchemy models, one module per table; importing this package registers them all."""

from videofoundry.models.asset import Asset
from videofoundry.models.outbox import JobEvent, OutboxMessage
from videofoundry.models.project import Project
from videofoundry.models.render_job import RenderJob
from videofoundry.models.segment import Segment
from videofoundry.models.segment_render import SegmentRender
from videofoundry.models.user import ApiToken, User
from videofoundry.models.webhook import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
    WebhookJobCursor,
)

__all__ = [
    "ApiToken",
    "Asset",
    "JobEvent",
    "OutboxMessage",
    "Project",
    "RenderJob",
    "Segment",
    "SegmentRender",
    "User",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEndpoint",
    "WebhookEvent",
    "WebhookJobCursor",
]
