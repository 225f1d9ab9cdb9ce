"""The web UI's typed client is generated from frontend/openapi.json: it must be the server's
document, or the UI compiles against an API that is not there. (The frontend's own test checks
that src/api/generated/schema.ts is generated from this file.)"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.app import make_settings
from videofoundry.main import create_app

COMMITTED = Path(__file__).resolve().parents[2] / "frontend" / "openapi.json"


def test_committed_openapi_document_is_the_servers(tmp_path: Path) -> None:
    served = create_app(make_settings(tmp_path)).openapi()
    committed = json.loads(COMMITTED.read_text())
    assert committed == served, (
        "frontend/openapi.json is out of date with the API; regenerate it and the client types "
        "with `cd frontend && npm run gen:api`, then commit both"
    )
