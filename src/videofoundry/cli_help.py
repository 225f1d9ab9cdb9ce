"""How `videofoundry` reads and names its parameters.

Names: typer labels every parameter with its annotation (`--port <int>`, `--help <bool>`, a
required argument as `{storyboard}`). Here a flag shows no value at all, a valued option shows
its metavar (`--port PORT`, `--output FILE`), and an argument its upper-case name.

Values: typer converts every value with a pydantic TypeAdapter, and importing pydantic and
building the adapters is a quarter of a short command's start-up. The types our commands use
(str, int, float, bool, Path and lists of them, with min/max and typer's path checks) are
converted here instead; any other annotation still goes to typer's own conversion.

The root group hands these parameter classes to every command and sub-group it resolves, so
commands that other modules register (`compose`, `users ...`) behave the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

from typer._click import Context
from typer._click.exceptions import BadParameter
from typer._coercion import RuntimeParam
from typer._param_types import coerce_cli_path
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

_PLAIN_TYPES = (str, int, float, bool, Path)
_BOOLS = dict.fromkeys(("1", "true", "yes", "on"), True) | dict.fromkeys(
    ("0", "false", "no", "off"), False
)


@dataclass(frozen=True)
class _PlainValue(RuntimeParam):
    """Converts one value, or each value of a list, to `item`."""

    item: type

    def _coerce_value(self, value: Any, param: Any, ctx: Context) -> Any:
        if isinstance(value, (list, tuple)):
            return [self._one(v, param, ctx) for v in value]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: Context) -> Any:
        info = self.parameter_info
        if self.item is Path:
            return coerce_cli_path(Path(value), info, path_type=Path, param=param, ctx=ctx)
        if self.item is str:
            return str(value)
        if self.item is bool:  # flags arrive as bools; an explicit value is a word
            flag = value if isinstance(value, bool) else _BOOLS.get(str(value).strip().lower())
            if flag is None:
                raise BadParameter(f"{value!r} is not a boolean.", ctx=ctx, param=param)
            return flag
        try:
            number = self.item(value)
        except (TypeError, ValueError):
            word = "an integer" if self.item is int else "a number"
            raise BadParameter(f"{value!r} is not {word}.", ctx=ctx, param=param) from None
        low, high = info.min, info.max
        if (low is not None and number < low) or (high is not None and number > high):
            # The range as the help shows it: 16<=x<=7680, x>=0.
            if high is None:
                bounds = f"x>={low}"
            elif low is None:
                bounds = f"x<={high}"
            else:
                bounds = f"{low}<=x<={high}"
            raise BadParameter(f"{number} is not in the range {bounds}.", ctx=ctx, param=param)
        return number


def _plain_value(param: Any) -> RuntimeParam | None:
    descriptor = param.type_descriptor
    info = descriptor.parameter_info
    item = get_args(descriptor.annotation)[0] if descriptor.is_list else descriptor.annotation
    if item not in _PLAIN_TYPES or info.parser is not None or info.clamp or descriptor.is_choice:
        return None
    return _PlainValue(parameter_info=info, annotation=descriptor.annotation, item=item)


class _Option(TyperOption):
    def get_runtime_param(self) -> RuntimeParam:
        if self._runtime_param is None:
            self._runtime_param = _plain_value(self)
        return self._runtime_param or super().get_runtime_param()

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None  # a flag takes no value, so there is nothing to name
        return self.metavar or (self.name or "value").upper()


class _Argument(TyperArgument):
    def get_runtime_param(self) -> RuntimeParam:
        if self._runtime_param is None:
            self._runtime_param = _plain_value(self)
        return self._runtime_param or super().get_runtime_param()

    @property
    def display_name_raw(self) -> str:
        return self.metavar or (self.name or "argument").upper()

    def display_type_rich(self, ctx: Any) -> str | None:
        return None  # the name already says what it is

    def _usage_display_name(self) -> str:
        name = self.display_name_raw
        if not self.required:
            name = f"[{name}]"
        if self.nargs != 1 and not name.endswith("..."):
            name += "..."
        return name


def _plain(params: list[Any]) -> list[Any]:
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = _Option
        elif type(param) is TyperArgument:
            param.__class__ = _Argument
    return params


class PlainCommand(TyperCommand):
    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))


class PlainGroup(TyperGroup):
    """The root group: its commands and sub-groups, once resolved, name parameters plainly."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if type(command) is TyperCommand:
            command.__class__ = PlainCommand
        elif type(command) is TyperGroup:
            command.__class__ = PlainGroup
        return command
