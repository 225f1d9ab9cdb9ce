"""Shared plumbing of the hosted adapters (Runway, Luma, Replicate, Stability), by concern:

- `retry`: the one retry policy (tenacity; honours `Retry-After`), used by every call;
- `transport`: the HTTP client, error mapping, capped reads and result downloads;
- `replies`: answers as untrusted input: redaction of keys, JSON checked against models;
- `urls`: checks on result URLs and task ids a provider hands back;
- `inputs`: init images as data URIs, nearest allowed duration and ratio;
- `polling` and `base`: the poll loop and `HostedAdapter`, the one create/save/poll/download
  flow the task-based providers share.

Protocol facts live in docs/providers.md.
"""

from videofoundry.adapters.hosted.base import HostedAdapter, HostedOptions
from videofoundry.adapters.hosted.inputs import (
    image_data_uri,
    nearest_ratio,
    pick_duration,
    sniff_image,
)
from videofoundry.adapters.hosted.polling import TaskView, poll_until
from videofoundry.adapters.hosted.replies import Redactor, Reply, parse_model
from videofoundry.adapters.hosted.retry import RetryPolicy, parse_retry_after
from videofoundry.adapters.hosted.transport import (
    SEGMENT_HEADER,
    ExpiredURL,
    ProviderHTTP,
    probe_video,
)
from videofoundry.adapters.hosted.urls import check_result_url, check_task_id
from videofoundry.adapters.params import validate_params

__all__ = [
    "SEGMENT_HEADER",
    "ExpiredURL",
    "HostedAdapter",
    "HostedOptions",
    "ProviderHTTP",
    "Redactor",
    "Reply",
    "RetryPolicy",
    "TaskView",
    "check_result_url",
    "check_task_id",
    "image_data_uri",
    "nearest_ratio",
    "parse_model",
    "parse_retry_after",
    "pick_duration",
    "poll_until",
    "probe_video",
    "sniff_image",
    "validate_params",
]
