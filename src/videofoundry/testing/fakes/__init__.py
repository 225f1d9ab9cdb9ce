"""Protocol-faithful fake servers of the hosted video providers, for tests and local runs.

Each fake follows the "How the fake should behave" section of docs/providers.md, serves real
small MP4s made with PyAV, keeps a ledger of every paid create and takes injected faults.

Start one from a shell (loopback only unless told otherwise)::

    python -m videofoundry.testing.fakes runway --port 8101 --key key_abc...

or in-process from a test::

    async with serve_fake("runway", running_seconds=0.2, video_scale=0.125) as fake:
        fake.set_faults(http=[{"on": "create", "status": 429, "retry_after": 1}])
        ...
        assert fake.creates == 1

See `_common.py` for the control endpoints (`/_fake/ledger`, `/_fake/faults`, ...).
"""

from videofoundry.testing.fakes._common import FakeConfig, Faults, HttpFault, TaskFault
from videofoundry.testing.fakes._server import (
    DEFAULT_KEYS,
    PROVIDERS,
    FakeServer,
    create_app,
    fake_ledger,
    run_fake,
    serve_fake,
)

__all__ = [
    "DEFAULT_KEYS",
    "PROVIDERS",
    "FakeConfig",
    "FakeServer",
    "Faults",
    "HttpFault",
    "TaskFault",
    "create_app",
    "fake_ledger",
    "run_fake",
    "serve_fake",
]
