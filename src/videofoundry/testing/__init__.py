"""Test support shipped with the package: fake provider servers (`videofoundry.testing.fakes`).

Nothing here is imported by the product at run time.
"""

from videofoundry.testing.fakes import FakeServer, Faults, run_fake, serve_fake

__all__ = ["FakeServer", "Faults", "run_fake", "serve_fake"]
