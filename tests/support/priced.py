"""A paid-looking model for budget tests: procedural pixels at $0.10 per second."""

from __future__ import annotations

from dataclasses import replace

from videofoundry.adapters.base import ModelInfo
from videofoundry.adapters.procedural import MODEL, ProceduralAdapter


class PricedProcedural(ProceduralAdapter):
    name = "priced"

    def models(self) -> list[ModelInfo]:
        return [replace(MODEL, id="priced", label="Priced test model", price_per_second=0.1)]
