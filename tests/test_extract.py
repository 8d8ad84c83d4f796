import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from nlp.callio import read_call
from nlp.errors import InputFormatError, ModelError
from nlp.extract import (StatementClassifier, call_units, extract_calls, extract_store, find_opening, load_model,
                         read_labelled, spans_match, train_extractor, training_set, unit_labels)
from nlp.store import Store
from nlp.types import Call, Turn

DATA = Path(__file__).parent / "data" / "extract"


def _call(biz: str) -> Call:
    return read_call(next((DATA / biz / "calls").glob("*.json")))


def _check_substrings(calls, stmts):
    by_id = {c.call_id: c for c in calls}
    for s in stmts:
        turn = by_id[s.call_id].turns[s.turn]
        assert turn.speaker == "customer"
        assert turn.text[s.char_start:s.char_start + len(s.text)] == s.text
        assert 0.0 <= s.confidence <= 1.0


@pytest.mark.parametrize("use_model", [False, True])
def test_extract_both_languages_statements_are_exact_substrings(use_model):
    calls = [_call(b) for b in ("ru-windows", "ru-it", "en-car", "en-security")]
    stmts = extract_calls(calls, use_model=use_model)
    _check_substrings(calls, stmts)
    for c in calls:
        kinds = {s.kind for s in stmts if s.call_id == c.call_id}
        assert "opening" in kinds, c.call_id
        assert kinds & {"motive", "need", "objection"}, c.call_id
    assert sum(1 for s in stmts if s.kind == "opening") == len(calls)  # at most one per call


def test_opening_skips_greetings_and_names():
    ru, en = _call("ru-windows"), _call("en-car")
    stmts = extract_calls([ru, en], use_model=False)
    op = {s.call_id: s for s in stmts if s.kind == "opening"}
    assert op[ru.call_id].text.startswith("мне бы окна поменять")  # "алло да здравствуйте" skipped
    assert "rav4" in op[en.call_id].text and not op[en.call_id].text.startswith("yeah hi")


def test_no_opening_for_wrong_number_and_robot():
    calls = [_call("en-wrong"), _call("ru-robot")]
    stmts = extract_calls(calls)
    assert not [s for s in stmts if s.kind == "opening"]
    assert find_opening(calls[0], call_units(calls[:1])[0]) is None


def test_price_shock_is_an_objection_in_both_languages():
    calls = [Call("r", [Turn("agent", "Курс стоит девяносто тысяч."),
                        Turn("customer", "Девяносто тысяч для меня это очень дорого, у конкурентов дешевле.")], "ru"),
             Call("e", [Turn("agent", "The course is ninety nine hundred dollars."),
                        Turn("customer", "That's way too expensive, the other company is much cheaper.")], "en")]
    for use_model in (False, True):
        kinds = {(s.call_id, s.kind) for s in extract_calls(calls, use_model=use_model)}
        assert ("r", "objection") in kinds and ("e", "objection") in kinds


def test_questions_are_extracted():
    c = Call("q", [Turn("agent", "Hello, how can I help?"),
                   Turn("customer", "Hi. Do you offer monthly payments? I need it by June.")], "en")
    qs = [s.text for s in extract_calls([c]) if s.kind == "question"]
    assert qs == ["Do you offer monthly payments?"]


def test_empty_inputs():
    assert extract_calls([]) == []
    assert extract_calls([Call("x", [], "ru")]) == []
    assert extract_calls([Call("y", [Turn("customer", "   "), Turn("agent", "")], "en")]) == []
    assert call_units([]) == []


def test_matching_rule():
    assert spans_match("i need it by june", "Hi. I need it by June, really.")  # containment
    assert spans_match("a b c d", "a b c e")  # Jaccard 3/5
    assert not spans_match("a b c d", "a e f g") and not spans_match("", "a")


def test_unit_labels_follow_gold_spans():
    c = _call("ru-it")
    lab = json.loads(next((DATA / "ru-it" / "labels").glob("*.json")).read_text())
    units = call_units([c])[0]
    y = unit_labels(units, lab["statements"])
    assert y.count("objection") >= 2 and y.count("need") >= 1 and "none" in y


def test_train_save_load_and_extract_store(tmp_path):
    out = tmp_path / "m" / "extractor-test.joblib"
    m = train_extractor([DATA], out)
    # the labelled calls hold all three kinds and unlabelled units: four classes, in sorted order
    assert out.exists() and isinstance(m, StatementClassifier)
    assert list(m.classes_) == ["motive", "need", "none", "objection"]
    m2 = load_model(out)
    calls = [_call("ru-windows"), _call("en-car")]
    X, _ = training_set([(c, {"statements": []}, "g") for c in calls])
    assert [p[0] for p in m2.predict(X)] == [p[0] for p in m.predict(X)]
    with Store(tmp_path / "s") as st:
        for c in calls:
            st.save_call(c, "imported")
        n = extract_store(st, out)
        rows = st.statements()
        assert n == len(rows) > 0
        assert {s.language for _, s in rows} == {"ru", "en"}
        _check_substrings(calls, [s for _, s in rows])
        assert extract_store(st, out) == n  # rerun replaces, never duplicates
        assert len(st.statements()) == n


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "missing.joblib")
    (tmp_path / "bad.joblib").write_text("not a model")
    with pytest.raises(ModelError):
        load_model(tmp_path / "bad.joblib")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputFormatError, match="no labelled calls"):
        read_labelled([tmp_path / "empty"])


def test_cli_extract_and_train(tmp_path):
    r = CliRunner()
    out = tmp_path / "st.jsonl"
    res = r.invoke(app, ["extract", str(DATA / "en-car" / "calls"), str(DATA / "ru-it" / "calls"), "--out", str(out)])
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows and {"call_id", "turn", "kind", "text", "confidence", "language", "char_start"} <= set(rows[0])
    res = r.invoke(app, ["extract", str(tmp_path / "nope.json")])
    assert res.exit_code == 2 and "no such file" in res.output
    res = r.invoke(app, ["train-extractor", str(DATA), "--out", str(tmp_path / "m.joblib")])
    assert res.exit_code == 0 and (tmp_path / "m.joblib").exists()
