"""Old home of the hosted adapters' plumbing, now split by concern under `adapters/hosted/`.

Kept for one release so imports of the old path keep working; import from
`videofoundry.adapters.hosted` (or `videofoundry.adapters.params` for `validate_params`).
"""

from videofoundry.adapters.hosted import *  # noqa: F403 - re-exported for old imports
from videofoundry.adapters.hosted import __all__ as __all__
