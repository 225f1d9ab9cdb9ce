"""`videofoundry users ...`: the operator's account commands (create, budget, invite, list).

Budgets are the operator's: these commands are the only way to raise or lift a cap. The main
CLI calls `register(users_app)`; this module owns only the commands.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from videofoundry.core.errors import VideoFoundryError

if TYPE_CHECKING:
    # The database stack and settings load when a command runs, not with the CLI: every
    # other command (and --help) starts without them.
    from sqlalchemy.ext.asyncio import AsyncSession

    from videofoundry.core.config import Settings

T = TypeVar("T")
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Where the embedded run keeps its files.")
]
NO_CAP = {"none", "unlimited"}


def _settings(data_dir: Path | None) -> Settings:
    from videofoundry.core.config import get_settings

    try:
        settings = get_settings()
    except ValueError as exc:
        typer.echo(f"configuration error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if data_dir is not None:
        settings = settings.model_copy(update={"DATA_DIR": data_dir})
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    return settings


def _in_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    import asyncio

    from videofoundry.database.engine import make_engine, make_sessionmaker
    from videofoundry.database.migrate import upgrade

    upgrade(settings.database_url)

    async def main() -> T:
        engine = make_engine(settings)
        try:
            async with make_sessionmaker(engine)() as session:
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except VideoFoundryError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(1) from exc


def parse_budget(text: str) -> Decimal | None:
    """`none`/`unlimited` for no cap, else a non-negative amount in USD."""
    if text.strip().lower() in NO_CAP:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation as exc:
        raise typer.BadParameter(f"{text!r} is not an amount in USD or `none`") from exc
    if not amount.is_finite() or amount < 0 or amount >= Decimal("1e8"):
        raise typer.BadParameter("the budget must be between 0 and 99999999.99 USD")
    return amount


def _shown(budget: Decimal | None) -> str:
    return "no cap" if budget is None else f"{budget:.2f} USD"


def register(users_app: typer.Typer) -> None:
    @users_app.command("create")
    def create(
        email: str,
        password: Annotated[
            str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
        ],
        budget: Annotated[
            str | None,
            typer.Option(help="Spending cap in USD, or `none`; default: DEFAULT_BUDGET_USD."),
        ] = None,
        data_dir: DataDir = None,
    ) -> None:
        """Create a user account (works whatever REGISTRATION says)."""
        from videofoundry.services import users

        settings = _settings(data_dir)
        cap = settings.DEFAULT_BUDGET_USD if budget is None else parse_budget(budget)

        async def work(session: AsyncSession) -> str:
            user = await users.create_user(session, email, password, cap)
            await session.commit()
            return user.id

        user_id = _in_session(settings, work)
        typer.echo(f"created user {email} ({user_id}), budget: {_shown(cap)}")

    @users_app.command("budget")
    def budget(
        email: str,
        amount: Annotated[str, typer.Argument(help="Cap in USD, or `none` to remove it.")],
        data_dir: DataDir = None,
    ) -> None:
        """Set, raise or remove an account's spending cap for paid models."""
        from videofoundry.services import users

        settings = _settings(data_dir)
        cap = parse_budget(amount)
        user = _in_session(settings, lambda s: users.set_budget(s, email, cap))
        typer.echo(f"{user.email}: budget {_shown(cap)}, spent {user.spent_usd:.2f} USD")

    @users_app.command("list")
    def list_accounts(data_dir: DataDir = None) -> None:
        """Every account with its budget and what it has spent."""
        from videofoundry.services import users

        settings = _settings(data_dir)
        for user in _in_session(settings, users.list_users):
            typer.echo(
                f"{user.email}\tbudget: {_shown(user.budget_usd)}\t"
                f"spent: {user.spent_usd:.2f} USD\tsince {user.created_at:%Y-%m-%d}"
            )

    @users_app.command("invite")
    def invite(
        email: str,
        days: Annotated[int, typer.Option(min=1, max=90, help="Days the invitation is good.")] = 7,
        data_dir: DataDir = None,
    ) -> None:
        """Print an invitation for EMAIL to register (REGISTRATION=invite)."""
        from videofoundry.core.security import sign_invite
        from videofoundry.services import users

        settings = _settings(data_dir)
        code = sign_invite(settings, users.normalize_email(email), days)
        if settings.REGISTRATION != "invite":
            typer.echo(
                f"note: REGISTRATION is {settings.REGISTRATION!r}; invitations are only "
                "checked when it is 'invite'",
                err=True,
            )
        typer.echo(code)
