"""Statement kinds compared with gold, one statement at a time, on calls the shipped model never saw.

`tests/data/kinds_gold/statements.jsonl`: 24 short customer statements (12 en, 12 ru; 8 motives,
8 needs, 8 objections) written for this test in businesses absent from `data/train/` (solar, piano
lessons, roofing, a language school, a summer camp), each after the agent's question it answers.
Each becomes a four-turn call (agent greets, customer says why they call, agent asks, customer
answers) and the answer turn's motive/need/objection statements must be exactly the gold kind.
Swapping motives and needs, or calling everything an objection, loses most of them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from nlp.extract import extract_calls
from nlp.types import Call, Turn

GOLD_FILE = Path(__file__).parent / "data" / "kinds_gold" / "statements.jsonl"
GOLD = [json.loads(line) for line in GOLD_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
KINDS = ("motive", "need", "objection")
# Measured with models/extractor-default.joblib, the statements written before the first run and not
# edited after it: 22 of 24 right (motive 7/8: "My neighbor put panels on his roof..." gives nothing;
# need 8/8; objection 7/8: "Forty five dollars for half an hour seems like a lot." comes out a need);
# the model retrained in commit 364fcd3: 23 of 24 (the same motive missed). Each bound allows one more
# miss than the lower measurement.
MIN_RIGHT = 21
MIN_PER_KIND = {"motive": 6, "need": 7, "objection": 6}
HELLO = {
    ("en", "solar"): ("Sunfield Energy, this is Kim, how can I help?", "Hi, I'm calling about solar panels for my house."),
    ("en", "piano"): ("Allegro Music School, Tom speaking.", "Hello, I'd like to ask about piano lessons for my daughter."),
    ("en", "roofing"): ("Topline Roofing, good morning.", "Hi, I need someone to come and look at my roof."),
    ("ru", "language-school"): ("Школа языков «Лингва», Анна, здравствуйте.", "Здравствуйте, я насчёт курсов английского."),
    ("ru", "summer-camp"): ("Лагерь «Сосновый бор», добрый день.", "Добрый день, хочу узнать про летний лагерь для сына."),
    ("ru", "solar"): ("Компания «Солнечный дом», здравствуйте.", "Здравствуйте, интересуют солнечные панели на дачу."),
}


def gold_call(g: dict) -> Call:
    greet, opening = HELLO[(g["lang"], g["domain"])]
    turns = [Turn("agent", greet, 0.0, 3.0), Turn("customer", opening, 3.5, 6.0),
             Turn("agent", g["question"], 6.5, 9.0), Turn("customer", g["text"], 9.5, 13.0)]
    return Call(g["id"], turns, g["lang"])


def predicted_kinds(calls, stmts) -> dict[str, set[str]]:
    """call id -> the motive/need/objection kinds found in the answer turn (turn 3)."""
    out: dict[str, set[str]] = {c.call_id: set() for c in calls}
    for s in stmts:
        if s.turn == 3 and s.kind in KINDS:
            out[s.call_id].add(s.kind)
    return out


@pytest.fixture(scope="module")
def predictions():
    calls = [gold_call(g) for g in GOLD]
    return predicted_kinds(calls, extract_calls(calls))


def test_gold_set_is_balanced():
    assert Counter(g["kind"] for g in GOLD) == {"motive": 8, "need": 8, "objection": 8}
    assert Counter(g["lang"] for g in GOLD) == {"en": 12, "ru": 12}


def test_shipped_model_gets_the_gold_kinds(predictions):
    right = [g["id"] for g in GOLD if predictions[g["id"]] == {g["kind"]}]
    wrong = {g["id"]: (g["kind"], sorted(predictions[g["id"]])) for g in GOLD if predictions[g["id"]] != {g["kind"]}}
    # bound: 22 and 23 of 24 measured (see MIN_RIGHT), one more miss allowed
    assert len(right) >= MIN_RIGHT, wrong


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_recalled(predictions, kind):
    """Per kind: most gold statements of the kind come out as it (a swap of two kinds or one kind for
    everything fails here even if the total still passed)."""
    items = [g for g in GOLD if g["kind"] == kind]
    hit = sum(predictions[g["id"]] == {kind} for g in items)
    assert hit >= MIN_PER_KIND[kind], (kind, hit, len(items))
