"""Script adherence per kind of step, on small calls of a script the model never saw (real e5, the
shipped calibrator): every kind a sales script has, present in the script's words, present in other
words, and absent, in English and in Russian (one Russian call in speech-recogniser style).

Fixture design (tests/data/gaps/, script_kinds_{en,ru}.md + calls_kinds_{en,ru}/): call 1 performs
all twelve steps close to the script's wording; call 2 performs all twelve in other words; call 3
performs greeting, needs, presentation, price and closing only; call 4 performs the other seven only
(it opens with the recording notice, no greeting, and ends before any closing).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nlp import gaps
from nlp.callio import read_calls
from nlp.script import read_script
from nlp.store import Store

DATA = Path(__file__).parent / "data" / "gaps"
KIND_OF_STEP = {
    "greeting": "greeting", "recording_notice": "recording_notice", "identity_check": "identity_check",
    "qualification": "qualification", "needs_discovery": "needs", "presentation": "presentation",
    "price": "price", "objection_handling": "objection", "upsell": "upsell", "booking": "booking",
    "follow_up": "follow_up", "closing": "closing",
}
IN_CALL_3 = {"greeting", "needs_discovery", "presentation", "price", "closing"}
# Known misses of the shipped model, kept visible (strict: the test fails once they are fixed):
KNOWN_MISSES = {
    ("ru", "recording_notice", "paraphrased"): "«наши звонки записываются, это для обучения сотрудников» "
                                               "scores p ~0.3: few shared words with the script's line",
    ("ru", "price", "paraphrased"): "«Шестьсот пятьдесят в месяц, уйти можно когда угодно...» scores p ~0.3: "
                                    "a price said in words, no shared words with «650 рублей в месяц»",
}
_RESULTS: dict[str, tuple] = {}


def _result(lang: str, tmp_path_factory):
    if lang not in _RESULTS:
        calls = read_calls([DATA / f"calls_kinds_{lang}"])
        script = read_script(DATA / f"script_kinds_{lang}.md")
        with Store(tmp_path_factory.mktemp(f"kinds-{lang}")) as st:
            for c in calls:
                st.save_call(c, "imported")
            res = gaps.run_gaps(st, script, tmp_path_factory.mktemp(f"kinds-out-{lang}"))
        _RESULTS[lang] = (calls, script, res)
    return _RESULTS[lang]


def _row(res, call_id, step_id):
    return next(r for r in res.adherence if r.call_id == call_id and r.step_id == step_id)


CASES = [(lang, step, case) for lang in ("en", "ru") for step in KIND_OF_STEP
         for case in ("verbatim", "paraphrased", "absent")]


@pytest.mark.slow  # real e5 over 8 calls x 12 steps (~35 s); fast adherence checks: tests/test_gaps.py
@pytest.mark.parametrize("lang,step,case", [
    pytest.param(*c, marks=pytest.mark.xfail(strict=True, reason=KNOWN_MISSES[c])) if c in KNOWN_MISSES else c
    for c in CASES], ids=["-".join(c) for c in CASES])
def test_step_kind_present_paraphrased_absent(lang, step, case, tmp_path_factory):
    calls, script, res = _result(lang, tmp_path_factory)
    if case == "verbatim":
        call, want = f"kinds-{lang}-1", 1
    elif case == "paraphrased":
        call, want = f"kinds-{lang}-2", 1
    else:
        call, want = (f"kinds-{lang}-4" if step in IN_CALL_3 else f"kinds-{lang}-3"), 0
    row = _row(res, call, step)
    assert row.present == want, f"{call} {step}: p={row.score}, evidence {row.evidence or row.closest!r}"
    turns = {c.call_id: c for c in calls}[call].turns
    if want:
        # the evidence is what the agent said, inside the turn it names, with that turn's time
        assert row.evidence and turns[row.turn].speaker == "agent" and row.evidence in turns[row.turn].text
        assert turns[row.turn].start <= row.start <= turns[row.turn].end
        assert row.closest is None
    else:
        assert row.evidence is None and row.turn is None and row.start is None
        assert row.closest and row.closest in turns[row.closest_turn].text


@pytest.mark.slow  # shares the real-e5 results above
def test_the_complementary_calls_perform_their_own_steps(tmp_path_factory):
    """Calls 3 and 4 perform their half of the script (the steps the absent cases need absent)."""
    for lang in ("en", "ru"):
        _, _, res = _result(lang, tmp_path_factory)
        done3 = {s for s in KIND_OF_STEP if _row(res, f"kinds-{lang}-3", s).present}
        done4 = {s for s in KIND_OF_STEP if _row(res, f"kinds-{lang}-4", s).present}
        assert done3 == IN_CALL_3
        assert done4 == set(KIND_OF_STEP) - IN_CALL_3


def test_step_kinds_of_the_fixture_scripts():
    for lang in ("en", "ru"):
        script = read_script(DATA / f"script_kinds_{lang}.md")
        assert {s.step_id: gaps.step_kind(s.step_id, s.title) for s in script.steps} == KIND_OF_STEP


@pytest.mark.parametrize("step_id,title,kind,anywhere", [
    ("handle_price", "Price objection", "objection", True),
    ("handle_partner", 'Handle "I need to ask my partner"', "objection", True),
    ("recording_disclosure", "Recording notice", "recording_notice", True),
    ("verify_member", "Verify the member", "identity_check", True),
    ("identity_check", "Идентификация клиента", "identity_check", True),
    ("greeting", "Приветствие", "greeting", False),
    ("qualification", "Квалификация", "qualification", False),
    ("discovery", "Needs discovery", "needs", False),
    ("vehicle_presentation", "Present the car", "presentation", False),
    ("tariff", "Презентация тарифа", "presentation", False),
    ("quote", "Price quote", "price", False),
    ("schedule_visit", "Book the visit", "booking", False),
    ("send_offer", "Отправка коммерческого предложения", "follow_up", False),
    ("cross_sell", "Offer an add-on", "upsell", False),
    ("farewell", "Завершение", "closing", False),
    ("photo_promise", "Фото перед доставкой", "other", False),
    ("photo_promise", "Photo before delivery (any time)", "other", True),
    ("story", "Рассказ о компании (в любой момент)", "presentation", True),
])
def test_step_kind_cues(step_id, title, kind, anywhere):
    assert gaps.step_kind(step_id, title) == kind
    assert gaps.any_position(step_id, title) is anywhere
    assert gaps.fixed_order(step_id, title) is not anywhere


def test_no_order_problem_for_any_position_steps(tmp_path):
    """Objection handling and compliance phrases done "early" are no order problem; fixed steps are."""
    script = read_script(DATA / "script_kinds_en.md")
    ids = script.step_ids()
    turn_of = {"greeting": 0, "objection_handling": 1, "recording_notice": 9, "identity_check": 8,
               "booking": 3, "price": 5}
    rows = [gaps.AdherenceRow("c1", s, int(s in turn_of), 0.9, "x", turn_of.get(s), None) for s in ids]
    issues, early = gaps.order_issues([object()], script, rows)
    pairs = {(o.step_first, o.step_then) for o in issues}
    assert pairs == {("price", "booking")}
    assert early == {"booking": 1}


def test_kind_cues_file_errors(tmp_path, monkeypatch):
    from nlp.errors import InputFormatError
    from nlp.gaps import kinds

    bad = tmp_path / "kinds.json"
    bad.write_text(json.dumps({"kinds": [{"kind": "x", "cues": ["("], "any_position": False}]}), encoding="utf-8")
    monkeypatch.setattr(kinds, "KINDS_PATH", bad)
    kinds._table.cache_clear()
    try:
        with pytest.raises(InputFormatError, match="step-kind cues"):
            kinds.step_kind("a", "b")
    finally:
        kinds._table.cache_clear()
