"""`callbridge cluster` and `callbridge themes` from the command line."""

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from cli import app

DATA = Path(__file__).parent / "data" / "themes"


def test_cluster_writes_one_row_per_input_in_order(tmp_path):
    out = tmp_path / "a.csv"
    model = tmp_path / "m.joblib"
    r = CliRunner().invoke(app, ["cluster", str(DATA / "objections.csv"), "--out", str(out),
                                 "--vectors", "tfidf", "--save-model", str(model)])
    assert r.exit_code == 0, r.output
    df = pd.read_csv(out, keep_default_na=False)
    src = pd.read_csv(DATA / "objections.csv")
    assert df["id"].tolist() == src["id"].tolist() and df["text"].tolist() == src["text"].tolist()
    assert {"theme_id", "theme_label", "outlier"} <= set(df.columns)
    assert set(df["outlier"].astype(str).str.lower()) <= {"true", "false"}
    assert (df[df["outlier"].astype(str).str.lower() == "true"]["theme_id"] == -1).all()
    # assign the same rows again with the saved model: same theme ids
    out2 = tmp_path / "b.csv"
    r = CliRunner().invoke(app, ["cluster", str(DATA / "objections.csv"), "--out", str(out2), "--model", str(model)])
    assert r.exit_code == 0, r.output
    df2 = pd.read_csv(out2, keep_default_na=False)
    keep = df["theme_id"] >= 0
    assert (df2["theme_id"][keep] == df["theme_id"][keep]).mean() > 0.8


def test_cluster_bad_inputs(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("id,body\n1,hello\n", encoding="utf-8")
    r = CliRunner().invoke(app, ["cluster", str(csv), "--out", str(tmp_path / "o.csv")])
    assert r.exit_code == 2 and "no column 'text'" in r.output
    r = CliRunner().invoke(app, ["cluster", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o.csv")])
    assert r.exit_code == 2 and "no such file" in r.output
    empty = tmp_path / "e.csv"
    empty.write_text("", encoding="utf-8")
    r = CliRunner().invoke(app, ["cluster", str(empty), "--out", str(tmp_path / "o.csv")])
    assert r.exit_code == 2 and "empty" in r.output


def test_cluster_header_only_csv_gives_header_only_output(tmp_path):
    csv = tmp_path / "t.csv"
    csv.write_text("text\n", encoding="utf-8")
    out = tmp_path / "o.csv"
    r = CliRunner().invoke(app, ["cluster", str(csv), "--out", str(out), "--vectors", "tfidf"])
    assert r.exit_code == 0, r.output
    assert out.read_text(encoding="utf-8").strip() == "text,theme_id,theme_label,outlier"


def test_themes_needs_an_existing_store(tmp_path):
    r = CliRunner().invoke(app, ["themes", "--store", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "no store" in r.output
