"""Spending is the operator's: budgets, registration policy, sign-in that tells nothing."""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from tests.security.conftest import instance
from tests.support.app import register
from videofoundry.core import config
from videofoundry.core.security import sign_invite, verify_invite
from videofoundry.services import users

pytestmark = pytest.mark.timeout(120)
PRICED = {"EXTRA_ADAPTERS": "tests.support.priced:PricedProcedural"}
PASSWORD = "correct horse battery"


def email() -> str:
    return f"u-{uuid.uuid4().hex[:8]}@example.com"


async def set_cap(client: httpx.AsyncClient, address: str, cap: Decimal | None) -> None:
    """What `videofoundry users budget` does, in the running instance's database."""
    runtime = client.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.sessions() as session:
        await users.set_budget(session, address, cap)


async def me(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, object]:
    response = await client.get("/api/me", headers=auth)
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def test_new_accounts_get_the_default_budget_and_cannot_spend_past_it(
    tmp_path: Path,
) -> None:
    async with instance(tmp_path, **PRICED) as client:
        auth = await register(client)
        assert (await me(client, auth))["budget_usd"] == 0
        project = await client.post("/api/projects", json={"name": "p"}, headers=auth)
        pid = project.json()["id"]
        segment = {"prompt": "x", "duration": 1, "model": "priced", "seed": 1}
        created = await client.post(f"/api/projects/{pid}/segments", json=segment, headers=auth)
        assert created.status_code == 201, created.text
        refused = await client.post(f"/api/projects/{pid}/render", headers=auth)
        assert refused.status_code == 402, refused.text


async def test_the_default_budget_is_configurable(tmp_path: Path) -> None:
    async with instance(tmp_path, DEFAULT_BUDGET_USD="2.5") as client:
        auth = await register(client)
        assert (await me(client, auth))["budget_usd"] == 2.5
    async with instance(tmp_path / "b", DEFAULT_BUDGET_USD="none") as client:
        auth = await register(client)
        assert (await me(client, auth))["budget_usd"] is None


@pytest.mark.parametrize(
    "body",
    [
        b'{"budget_usd": null}',
        b'{"budget_usd": false}',
        b'{"budget_usd": true}',
        b'{"budget_usd": "lots"}',
        b'{"budget_usd": NaN}',
        b'{"budget_usd": Infinity}',
        b'{"budget_usd": -Infinity}',
        b'{"budget_usd": 1e400}',
        b'{"budget_usd": -1}',
        b'{"budget_usd": 10.5}',  # a raise
        b'{"budget_usd": 0.00001}',
        b'{"budget_usd": [1]}',
        b"{}",
        b"[]",
        b"null",
        b'{"budget_usd": 1, "spent_usd": 0}',
    ],
)
async def test_a_user_cannot_raise_or_lift_their_own_budget(tmp_path: Path, body: bytes) -> None:
    async with instance(tmp_path, DEFAULT_BUDGET_USD="5") as client:
        auth = await register(client)
        answer = await client.patch(
            "/api/me", content=body, headers={**auth, "content-type": "application/json"}
        )
        assert 400 <= answer.status_code < 500, answer.text
        assert (await me(client, auth))["budget_usd"] == 5


async def test_a_user_may_lower_their_budget_but_not_take_it_back(tmp_path: Path) -> None:
    async with instance(tmp_path, DEFAULT_BUDGET_USD="5") as client:
        auth = await register(client)
        lowered = await client.patch("/api/me", json={"budget_usd": 1.25}, headers=auth)
        assert lowered.status_code == 200 and lowered.json()["budget_usd"] == 1.25
        again = await client.patch("/api/me", json={"budget_usd": 1.25}, headers=auth)
        assert again.status_code == 200  # the same value is not a raise
        back = await client.patch("/api/me", json={"budget_usd": 5}, headers=auth)
        assert back.status_code == 422 and "budget_usd" in back.text
        assert (await me(client, auth))["budget_usd"] == 1.25


async def test_only_the_operator_raises_or_lifts_a_cap(tmp_path: Path) -> None:
    async with instance(tmp_path) as client:
        address = email()
        auth = await register(client, address)
        await set_cap(client, address, Decimal("20"))
        assert (await me(client, auth))["budget_usd"] == 20
        await set_cap(client, address, None)
        assert (await me(client, auth))["budget_usd"] is None
        # Uncapped, any cap is lower; once set, it cannot be lifted again by the user.
        assert (await client.patch("/api/me", json={"budget_usd": 3}, headers=auth)).is_success
        lift = await client.patch("/api/me", json={"budget_usd": None}, headers=auth)
        assert lift.status_code == 422
        assert (await me(client, auth))["budget_usd"] == 3


async def test_closed_registration_refuses_everyone(tmp_path: Path) -> None:
    async with instance(tmp_path, REGISTRATION="closed") as client:
        for invite in (None, "whatever"):
            body = {"email": email(), "password": PASSWORD, "invite": invite}
            answer = await client.post("/api/auth/register", json=body)
            assert answer.status_code == 403
            assert "closed" in answer.json()["detail"]


async def test_invitation_only_registration(tmp_path: Path) -> None:
    async with instance(tmp_path, REGISTRATION="invite") as client:
        settings = client.app.state.runtime.settings  # type: ignore[attr-defined]
        address = email()
        good = sign_invite(settings, address)
        refused = [
            None,
            "",
            "garbage",
            "9999999999.",
            "1.abc",
            "ü.ü",
            "\u00e9" * 150,
            good.split(".")[0] + ".deadbeef",
            sign_invite(settings, email()),  # another address's invitation
            str(int(time.time()) - 10) + "." + good.split(".")[1],  # changed expiry
        ]
        for invite in refused:
            body = {"email": address, "password": PASSWORD, "invite": invite}
            answer = await client.post("/api/auth/register", json=body)
            assert answer.status_code == 403, (invite, answer.text)
            assert "invitation" in answer.json()["detail"]
        body = {"email": address.upper(), "password": PASSWORD, "invite": good}
        assert (await client.post("/api/auth/register", json=body)).status_code == 201
        assert (await client.post("/api/auth/register", json=body)).status_code == 409


def test_an_expired_invitation_is_refused(tmp_path: Path) -> None:
    settings = config.Settings(  # type: ignore[call-arg]
        _env_file=None, ENVIRONMENT="development", SECRET_KEY="", DATA_DIR=tmp_path
    )
    expired = sign_invite(settings, "a@example.com", days=-1)
    assert not verify_invite(settings, "a@example.com", expired)
    assert verify_invite(settings, "A@example.com", sign_invite(settings, "a@example.com"))


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
async def test_racing_registrations_of_one_email_make_one_account(
    tmp_path: Path, database: str
) -> None:
    async with instance(tmp_path, database) as client:
        address = email()
        body = {"email": address, "password": PASSWORD}
        answers = await asyncio.gather(
            *(client.post("/api/auth/register", json=body) for _ in range(8))
        )
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * 7, [a.text for a in answers]


async def test_login_takes_as_long_for_unknown_accounts(tmp_path: Path) -> None:
    async with instance(tmp_path) as client:
        address = email()
        await register(client, address)

        async def timed(username: str) -> float:
            start = time.perf_counter()
            answer = await client.post(
                "/api/auth/token", data={"username": username, "password": "wrong password"}
            )
            assert answer.status_code == 401
            return time.perf_counter() - start

        known, unknown = [], []
        for _ in range(5):
            known.append(await timed(address))
            unknown.append(await timed(email()))
        # Without the dummy check an unknown email answers ~50x faster than a wrong password.
        assert statistics.median(unknown) > 0.5 * statistics.median(known), (known, unknown)


def test_operator_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from videofoundry.cli import app

    monkeypatch.chdir(tmp_path)
    for name, value in {
        "ENVIRONMENT": "test",
        "SECRET_KEY": "k" * 40,
        "DATA_DIR": str(tmp_path),
        "DATABASE_URL": "",
        "DEFAULT_BUDGET_USD": "1",
    }.items():
        monkeypatch.setenv(name, value)
    config.get_settings.cache_clear()
    runner = CliRunner()
    try:
        created = runner.invoke(app, ["users", "create", "Ops@Example.com", "--password", "pw1"])
        assert created.exit_code == 0, created.output
        assert "budget: 1.00 USD" in created.output
        raised = runner.invoke(app, ["users", "budget", "ops@example.com", "12.5"])
        assert raised.exit_code == 0 and "budget 12.50 USD" in raised.output, raised.output
        listed = runner.invoke(app, ["users", "list"])
        assert "ops@example.com\tbudget: 12.50 USD" in listed.output
        lifted = runner.invoke(app, ["users", "budget", "ops@example.com", "none"])
        assert "no cap" in lifted.output
        for bad in ("-1", "lots", "nan", "inf", "1e9"):
            refused = runner.invoke(app, ["users", "budget", "ops@example.com", bad])
            assert refused.exit_code == 2, (bad, refused.output)
        unknown = runner.invoke(app, ["users", "budget", "nobody@example.com", "1"])
        assert unknown.exit_code == 1 and "no account" in unknown.output
        invited = runner.invoke(app, ["users", "invite", "new@example.com"])
        assert invited.exit_code == 0
        code = invited.output.strip().splitlines()[-1]
        assert verify_invite(config.get_settings(), "new@example.com", code)
    finally:
        config.get_settings.cache_clear()
