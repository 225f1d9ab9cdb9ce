"""The command line's help and the storyboard errors, as a user reads them."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from videofoundry import cli, storyboard
from videofoundry.core.config import Settings
from videofoundry.core.errors import VideoFoundryError
from videofoundry.core.security import create_access_token, decode_access_token

COMMANDS = [
    [],
    ["up"],
    ["api"],
    ["render"],
    ["openapi"],
    ["compose"],
    ["db"],
    ["db", "upgrade"],
    ["db", "downgrade"],
    ["users"],
    ["users", "create"],
    ["worker"],
    ["worker", "ai"],
]
# What typer prints when a parameter has no metavar: its Python type, or `{name}` in usage.
TYPE_LABEL = re.compile(r"<(bool|str|int|float|path|file|list\[[^\]]*\]|[A-Za-z]+ range)>")
BRACED_NAME = re.compile(r"\{[a-z_]+\}")


def help_of(*command: str, columns: int = 100) -> str:
    result = CliRunner().invoke(cli.app, [*command, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "videofoundry")
def test_help_names_no_python_types_and_flags_take_no_value(command: list[str]) -> None:
    text = help_of(*command)
    assert TYPE_LABEL.findall(text) == []
    assert BRACED_NAME.findall(text) == []
    # A flag's row goes straight from its name to its description.
    assert re.search(r"--help\s+Show this message and exit", text)


def test_valued_options_and_arguments_show_a_word_for_their_value() -> None:
    up = help_of("up")
    assert re.search(r"--host\s+HOST\s", up) and re.search(r"--port\s+PORT\s", up)
    assert re.search(r"--data-dir\s+DIR\s", up)
    render = help_of("render")
    assert re.search(r"Usage: \S+ render \[OPTIONS\] STORYBOARD\s", render)
    assert re.search(r"-o, --output FILE\s", render)


def test_render_help_describes_the_storyboard_format() -> None:
    text = help_of("render")
    for member in ("segments:", "prompt:", "duration:", "model:", "params:", "seed:", "output:"):
        assert member in text
    # Each line of the format reads whole on an 80-column terminal.
    narrow = help_of("render", columns=80)
    for line in cli.STORYBOARD_FORMAT.splitlines()[1:]:
        assert line.rstrip() in narrow, line
    # The example it shows is a valid storyboard.
    example = cli.STORYBOARD_FORMAT.split("\n")[2:-1]
    board = storyboard.Storyboard.model_validate(yaml.safe_load("\n".join(example)))
    assert board.segments[0].prompt == "dawn over a quiet tide pool"


def error_of(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.app, list(args), env={"COLUMNS": "300"})
    return result.exit_code, result.output


def test_values_are_converted_and_checked_as_the_help_says(tmp_path: Path) -> None:
    clip = str(tmp_path / "a.mp4")
    code, output = error_of("compose", clip, "-o", "x.mp4", "--width", "wide")
    assert code == 2
    assert output.endswith("\nError: Invalid value for '--width': 'wide' is not an integer.\n")
    for args, message in [
        (["--width", "8"], "'--width': 8 is not in the range 16<=x<=7680."),
        (["--fps", "121"], "'--fps': 121 is not in the range 1<=x<=120."),
        (["--fade-in", "-1"], "'--fade-in': -1.0 is not in the range x>=0."),
        (["--soundtrack-volume", "loud"], "'--soundtrack-volume': 'loud' is not a number."),
    ]:
        code, output = error_of("compose", clip, "-o", "x.mp4", *args)
        assert code == 2 and f"Invalid value for {message}" in output, output
    code, output = error_of("render", str(tmp_path / "none.yaml"), "-o", "x.mp4")
    assert code == 2 and "'STORYBOARD': file" in output and "does not exist" in output


def test_values_reach_the_command_converted(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def run(paths: list[Path], output: Path, **kwargs: object) -> None:
        seen.update(paths=paths, output=output, **kwargs)
        raise ValueError("stop here")

    monkeypatch.setattr("videofoundry.media.cli_run.run", run)
    code, output = error_of(
        "compose", "a.mp4", "b.mp4", "-o", "out.mp4", "--width", "640", "--fps", "30",
        "--caption", "one", "--caption", "two", "--soundtrack-volume", "1.5",
    )  # fmt: skip
    assert (code, output) == (1, "error: stop here\n")
    assert seen["paths"] == [Path("a.mp4"), Path("b.mp4")] and seen["output"] == Path("out.mp4")
    assert seen["size"] == (640, None, 30) and seen["captions"] == ["one", "two"]
    options = seen["options"]
    assert getattr(options, "soundtrack_volume", None) == 1.5


@pytest.mark.parametrize(
    "args",
    [["compose", "--help"], ["render", "--help"], ["compose", "a.mp4", "-o", "x", "--width", "8"]],
)
def test_the_commands_start_without_pydantic_rich_or_the_database(args: list[str]) -> None:
    """Start-up: what `compose` and `render` load before their work begins (bench/composition/
    startup.py measures the time)."""
    script = f"""
import sys
from videofoundry.cli import app
try:
    app({args!r})
except SystemExit:
    pass
print(sorted({{m.split(".")[0] for m in sys.modules}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    loaded = set(ast.literal_eval(out.splitlines()[-1]))
    assert loaded & {"pydantic", "rich", "sqlalchemy", "av", "numpy", "yaml"} == set()


def load_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "board.yaml"
    path.write_text(text)
    with pytest.raises(VideoFoundryError) as caught:
        storyboard.load(path)
    assert caught.value.message.startswith(f"{path}: ")
    return caught.value.message


@pytest.mark.parametrize(
    ("text", "shape"),
    [("- prompt: a\n  duration: 1\n", "a list"), ("", "empty"), ("just words\n", "a string")],
)
def test_a_storyboard_that_is_not_a_mapping_says_so_in_words(
    tmp_path: Path, text: str, shape: str
) -> None:
    message = load_error(tmp_path, text)
    assert "a storyboard is a mapping with a `segments:` list" in message
    assert f"this file is {shape}" in message
    assert "Storyboard" not in message and "dict" not in message


def test_each_invalid_field_is_named_with_its_segment(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        "output: [1]\nsegments:\n  - {prompt: '', duration: 1}\n"
        "  - {prompt: a, duration: -1, transition: 3}\n",
    )
    lines = message.splitlines()[1:]
    assert lines[0] == "  output: should be a mapping"
    assert lines[1].startswith("  segment 1: prompt: ")
    assert lines[2].startswith("  segment 2: duration: ")
    assert lines[3] == "  segment 2: transition: should be a mapping"
    assert "Transition" not in message and "_Output" not in message


def test_unreadable_yaml_names_the_file(tmp_path: Path) -> None:
    assert "not valid YAML" in load_error(tmp_path, "segments: [unclosed\n")


def test_a_short_development_key_signs_without_pyjwt_warnings(tmp_path: Path) -> None:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        ENVIRONMENT="development",
        SECRET_KEY="short",
        DATA_DIR=tmp_path,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning, PyJWT's InsecureKeyLengthWarning included
        token = create_access_token(settings, "user-1")
        assert decode_access_token(settings, token) == "user-1"
    other = Settings(_env_file=None, ENVIRONMENT="development", SECRET_KEY="other")  # type: ignore[call-arg]
    assert decode_access_token(other, token) is None  # the key still decides


def test_render_refuses_a_directory_as_output_before_rendering(tmp_path: Path) -> None:
    board = tmp_path / "board.yaml"
    board.write_text("segments:\n  - {prompt: ok, duration: 1}\n")
    result = CliRunner().invoke(
        cli.app,
        ["render", str(board), "-o", str(tmp_path), "--data-dir", str(tmp_path / "d")],
        env={"COLUMNS": "300"},  # the message on one line, whatever the temp path's length
    )
    assert result.exit_code == 2
    assert "is a directory" in result.output
    assert not (tmp_path / "d").exists()  # nothing was set up, nothing rendered
