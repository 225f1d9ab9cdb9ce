"""How `videofoundry --help` names parameters: words, not Python types.

typer labels every parameter with its annotation (`--port <int>`, `--help <bool>`, a required
argument as `{storyboard}`). Here a flag shows no value at all, a valued option shows its
metavar (`--port PORT`, `--output FILE`), and an argument its upper-case name. The root group
hands these parameter classes to every command and sub-group it resolves, so commands that
other modules register (`compose`, `users ...`) read the same way.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption


class _Option(TyperOption):
    def display_type_rich(self, ctx: Any) -> str | None:
        if self.is_flag or self.count:
            return None  # a flag takes no value, so there is nothing to name
        return self.metavar or (self.name or "value").upper()


class _Argument(TyperArgument):
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
