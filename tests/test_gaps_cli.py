"""`callbridge gaps`: the command line over the library."""

from __future__ import annotations

import csv
from pathlib import Path

from typer.testing import CliRunner

from cli import app

DATA = Path(__file__).parent / "data" / "gaps"
runner = CliRunner()


def test_gaps_command_from_call_files(tmp_path):
    out = tmp_path / "out"
    store = tmp_path / "store"
    r = runner.invoke(app, ["gaps", "--script", str(DATA / "script_en.txt"), str(DATA / "calls_en"),
                            "--out", str(out), "--store", str(store)])
    assert r.exit_code == 0, r.output
    assert "3 calls x 5 steps" in r.output
    with open(out / "adherence.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 15 and {r["call_id"] for r in rows} == {"gaps-en-1", "gaps-en-2", "gaps-en-3"}
    # the same store again, without inputs
    r = runner.invoke(app, ["gaps", "--script", str(DATA / "script_en.txt"), "--store", str(store),
                            "--out", str(tmp_path / "out2")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "out2" / "steps.csv").read_text(encoding="utf-8").startswith("step_id,title")


def test_gaps_command_errors(tmp_path):
    bad = tmp_path / "bad.md"
    bad.write_text("no steps here\n", encoding="utf-8")
    r = runner.invoke(app, ["gaps", "--script", str(bad), str(DATA / "calls_en"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no script steps" in r.output
    r = runner.invoke(app, ["gaps", "--script", str(DATA / "script_en.txt"), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "nothing to analyse" in r.output
    r = runner.invoke(app, ["gaps", "--script", str(DATA / "script_en.txt"), "--store", str(tmp_path / "none"),
                            "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no store" in r.output
    empty = tmp_path / "empty"
    empty.mkdir()
    r = runner.invoke(app, ["gaps", "--script", str(DATA / "script_en.txt"), str(empty), "--out", str(tmp_path / "o")])
    assert r.exit_code == 2 and "no call JSON" in r.output
