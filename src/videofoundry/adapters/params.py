"""The one place segment params are checked against a model's JSON schema.

The API validates on write (422 naming the field, through `Registry.validate_segment`); adapters
check again before paying, because params stored before a schema changed can still arrive.
"""

from __future__ import annotations

from typing import Any

import jsonschema

from videofoundry.core.errors import PromptRejected


def params_problem(schema: dict[str, Any], params: dict[str, Any]) -> tuple[str, str] | None:
    """`(field, message)` of the most relevant schema violation, or None when params are valid.

    `field` is `params` or `params.<path>`, as the API names it in a 422.
    """
    validator = jsonschema.Draft202012Validator(schema)
    error = jsonschema.exceptions.best_match(validator.iter_errors(params))
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    return (f"params.{where}" if where else "params"), error.message


def validate_params(schema: dict[str, Any], params: dict[str, Any], model_id: str) -> None:
    """Raise PromptRejected naming the model and the field when params break the schema."""
    problem = params_problem(schema, params)
    if problem is not None:
        field_name, message = problem
        raise PromptRejected(f"{model_id}: {field_name}: {message}")
