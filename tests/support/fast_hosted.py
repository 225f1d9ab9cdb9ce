"""Hosted adapters with test-speed polling, for end-to-end runs against the local fakes.

Production adapters poll no faster than each provider allows (Runway: every 6 s); against a
fake on loopback that only slows the suite down. Same protocol code, shorter interval."""

from __future__ import annotations

from videofoundry.adapters.luma import LumaAdapter
from videofoundry.adapters.runway import RunwayAdapter


class FastRunway(RunwayAdapter):
    poll_interval = 0.1


class FastLuma(LumaAdapter):
    poll_interval = 0.1
