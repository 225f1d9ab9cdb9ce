"""Prometheus metrics. The API serves them at /metrics; a worker process serves them on
METRICS_PORT when set (0, the default, means off)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

RENDERS = Counter("videofoundry_renders_total", "Render jobs started", ["outcome"])
SEGMENTS_PLANNED = Counter(
    "videofoundry_segments_planned_total",
    "Segments of started renders, by whether their clip was reused or must be generated",
    ["action"],
)
GENERATION_SECONDS = Histogram(
    "videofoundry_generation_seconds",
    "Wall time of one clip generation, normalisation and upload",
    ["model"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800),
)
GENERATION_FAILURES = Counter(
    "videofoundry_generation_failures_total",
    "Failed generation attempts, by adapter and error class",
    ["adapter", "error"],
)
COMPOSITION_SECONDS = Histogram(
    "videofoundry_composition_seconds",
    "Wall time of composing one final video",
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
COST_USD = Counter("videofoundry_cost_usd_total", "Recorded cost of generated clips", ["adapter"])
