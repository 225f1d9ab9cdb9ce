"""The command line as a user meets it: first start, headless render, account creation."""

from __future__ import annotations

import os
import re
import socket
import stat
import subprocess
import threading
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
    # The user's file, with the permissions the umask gives (not a temp file's 0600).
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
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
    assert f"{board}: segment 1: prompt: " in result.stderr


def test_an_unavailable_model_is_the_error_not_its_params(tmp_path: Path) -> None:
    board = tmp_path / "board.yaml"
    board.write_text(
        "segments:\n  - {prompt: fine, duration: 1}\n"
        "  - {prompt: paid, duration: 5, model: runway/gen4_turbo, params: {bogus: 1}}\n"
    )
    env = base_env(tmp_path)
    env.pop("RUNWAY_API_KEY", None)
    result = run("render", str(board), "-o", str(tmp_path / "x.mp4"), env=env)
    assert result.returncode == 2
    expected = f"{board}: segment 2: model runway/gen4_turbo is not available: RUNWAY_API_KEY"
    assert expected in result.stderr
    assert "bogus" not in result.stderr


def test_a_refused_param_names_the_file_and_the_segment(tmp_path: Path) -> None:
    board = tmp_path / "board.yaml"
    board.write_text(
        "segments:\n  - {prompt: fine, duration: 1}\n"
        "  - {prompt: odd, duration: 1, params: {bogus: 1}}\n"
    )
    result = run("render", str(board), "-o", str(tmp_path / "x.mp4"), env=base_env(tmp_path))
    assert result.returncode == 2
    assert f"{board}: segment 2: params: " in result.stderr
    assert "'bogus' was unexpected" in result.stderr
    assert not (tmp_path / "x.mp4").exists()


def test_up_on_a_busy_port_fails_before_the_login_banner(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = run(
            "up", "--port", str(port), "--data-dir", str(tmp_path / "d"), env=base_env(tmp_path)
        )
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in result.stderr
    assert "log in as" not in result.stdout + result.stderr
    assert not (tmp_path / "d").exists()  # nothing was set up either


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
    process = subprocess.Popen(
        [str(BIN), "up", "--port", str(port), "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    lines: list[str] = []
    serving = threading.Event()

    def read() -> None:  # also keeps the pipe drained while the server runs
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Application startup complete" in line:
                serving.set()
        serving.set()  # the process ended: let the test fail with its output

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        assert serving.wait(120) and process.poll() is None, "".join(lines)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/docs", timeout=10).status_code == 200
        match = re.search(r"log in as (\S+) with password (\S+)", "".join(lines))
        assert match, "".join(lines)
        token = httpx.post(
            f"{base}/api/auth/token",
            data={"username": match.group(1), "password": match.group(2)},
        )
        assert token.status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=20)
        reader.join(timeout=20)
    # PyJWT warns when the signing key is short; the generated development key is not.
    assert "InsecureKeyLengthWarning" not in "".join(lines)
