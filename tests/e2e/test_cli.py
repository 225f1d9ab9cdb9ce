"""The command line as a user meets it: first start, headless render, account creation."""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.services import free_port
from tests.support.counting import read_ledger
from tests.support.media_checks import facts
from tests.support.stack import BIN, base_env

pytestmark = pytest.mark.timeout(180)

STORYBOARD = """
name: tiny
output: {width: 320, height: 180, fps: 12}
segments:
  - {prompt: "red sunrise", duration: 1, seed: 1}
  - {prompt: "blue dusk", duration: 1.5, seed: 2, params: {style: orbs}}
"""


def run(*args: str, env: dict[str, str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args], env=env, capture_output=True, text=True, timeout=150, **kw
    )


def test_render_storyboard_then_rerender_for_free(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    board = tmp_path / "board.yaml"
    board.write_text(STORYBOARD)
    out = tmp_path / "out.mp4"
    first = run("render", str(board), "-o", str(out), "--data-dir", str(tmp_path / "d"), env=env)
    assert first.returncode == 0, first.stderr
    info = facts(out)
    assert abs(info["duration"] - 2.5) <= 1 / 12
    assert (info["width"], info["height"]) == (320, 180)
    assert len(read_ledger(tmp_path / "ledger.jsonl")) == 2

    again = run("render", str(board), "-o", str(out), "--data-dir", str(tmp_path / "d"), env=env)
    assert again.returncode == 0, again.stderr
    assert "2 reused" in again.stderr
    assert len(read_ledger(tmp_path / "ledger.jsonl")) == 2


def test_bad_storyboard_names_the_problem(tmp_path: Path) -> None:
    board = tmp_path / "board.yaml"
    board.write_text("segments:\n  - {prompt: '', duration: 1}\n")
    result = run("render", str(board), "-o", str(tmp_path / "x.mp4"), env=base_env(tmp_path))
    assert result.returncode == 2
    assert "segments.0.prompt" in result.stderr


def test_users_create(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    args = ["users", "create", "ops@example.com", "--password", "a good password"]
    created = run(*args, "--data-dir", str(tmp_path), env=env)
    assert created.returncode == 0, created.stderr
    assert "created user ops@example.com" in created.stdout
    again = run(*args, "--data-dir", str(tmp_path), env=env)
    assert again.returncode == 1
    assert "already exists" in again.stderr


def test_newcomer_up_serves_docs_and_the_printed_login_works(tmp_path: Path) -> None:
    env = base_env(tmp_path)
    env["ENVIRONMENT"] = "development"
    del env["SECRET_KEY"]
    port = free_port()
    log = tmp_path / "up.log"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [str(BIN), "up", "--port", str(port), "--data-dir", str(tmp_path / "d")],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{base}/docs", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        else:
            raise AssertionError(log.read_text())
        match = re.search(r"log in as (\S+) with password (\S+)", log.read_text())
        assert match, log.read_text()
        token = httpx.post(
            f"{base}/api/auth/token",
            data={"username": match.group(1), "password": match.group(2)},
        )
        assert token.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)
