"""Who is the agent (`nlp/roles.py`), on small dialogues with known answers; written against the
mutants that survived `scripts/mutation.sh roles`. Expected scores are sums of the cue weights of
`nlp/rules/roles.json` (read here, so a retuned weight does not break the tests, a wrong sum does)."""

import json
import math
from pathlib import Path

import pytest

from nlp import roles
from nlp.script import Script, ScriptStep

R = json.loads((Path(roles.__file__).parent / "rules" / "roles.json").read_text(encoding="utf-8"))
W = {k: v["weight"] for k, v in R.items() if isinstance(v, dict) and "weight" in v}

AGENT_EN = [(0.0, "Thank you for calling Swift Movers, my name is Carlos, how can I help?"),
            (9.0, "We offer a free consultation, let me book it. How many rooms?"),
            (20.0, "It is nine hundred dollars.")]
CUSTOMER_EN = [(5.0, "Hi Carlos. I want to move next week, how much is it?"),
               (15.0, "Three rooms. How much is the move?")]


def test_norm_folds_case_yo_punctuation_and_underscores():
    assert roles.norm("Ёлка, ПРИВЕТ!  snake_case…") == "елка привет snake case"


@pytest.mark.parametrize("text, number", [("It is 900.", True), ("девятьсот рублей", True),
                                          ("about fifteen", True), ("two hundred", True),
                                          ("полторы тысячи", True), ("no idea, sorry", False),
                                          ("someone", False)])
def test_number_words(text, number):
    assert bool(roles._NUMBER.search(roles.norm(text))) is number


@pytest.mark.parametrize("agent", [0, 1])
def test_stereo_agent_found_on_either_channel(agent):
    channels = [AGENT_EN, CUSTOMER_EN] if agent == 0 else [CUSTOMER_EN, AGENT_EN]
    d = roles.decide_stereo(channels, "en")
    assert d.agent_channel == agent and not d.unknown and d.method == "auto"
    assert d.scores[agent] > d.scores[1 - agent]
    assert d.confidence == pytest.approx(1 / (1 + math.exp(-(d.scores[agent] - d.scores[1 - agent]))))
    assert d.to_dict()["agent_channel"] == ("left", "right")[agent]
    assert "low_confidence" not in d.to_dict() and "guess" not in d.to_dict()


@pytest.mark.parametrize("agent", [0, 1])
def test_stereo_customer_speaking_first_is_still_the_customer(agent):
    # The customer calls back and talks first; the agent's greeting and offer outweigh "speaks first".
    customer = [(0.0, "Hello? I want a kitchen, how much does it cost?"), (12.0, "OK, I would like that.")]
    agent_side = [(3.0, "Good afternoon, thank you for calling Oak Kitchens, my name is Anna."),
                  (6.0, "It costs two thousand dollars. We offer a free consultation, would you like one?")]
    channels = [agent_side, customer] if agent == 0 else [customer, agent_side]
    d = roles.decide_stereo(channels, "en")
    assert d.agent_channel == agent and not d.unknown
    assert "speaks first" in d.evidence[1 - agent] and "speaks first" not in d.evidence[agent]


def test_stereo_without_evidence_is_unknown_with_a_guess():
    d = roles.decide_stereo([[(0.0, "Okay.")], [(1.0, "Right.")]], "en")
    # only "speaks first" (weight 0.5) tells the sides apart: logistic(0.5) = 0.62 < 0.65
    assert d.unknown and d.agent_channel == 0
    assert d.confidence == pytest.approx(1 / (1 + math.exp(-W["first_speaker"])))
    out = d.to_dict()
    assert out["agent_channel"] == "unknown" and out["agent"] == "unknown"
    assert out["guess"] == "left" and out["low_confidence"] is True
    assert out["scores"] == [W["first_speaker"], 0.0]
    assert out["evidence"] == [["speaks first"], []]


def test_stereo_first_speaker_is_the_earliest_turn_not_the_first_channel():
    d = roles.decide_stereo([[(5.0, "Okay."), (9.0, " ")], [(2.0, "Right."), (0.0, "  ")]], "en")
    assert d.scores == [0.0, W["first_speaker"]] and d.agent_channel == 1


def test_empty_channel_is_not_the_first_speaker():
    d = roles.decide_stereo([[], [(1.0, "Okay.")]], "en")
    assert d.scores == [0.0, W["first_speaker"]]


def test_unknown_below_reads_the_rules():
    assert roles.unknown_below() == R["unknown_below"]


def test_to_dict_rounds_and_cuts_evidence():
    d = roles.RoleDecision(1, 0.98765, "forced", [1.234, 0.0], [[str(i) for i in range(12)], []])
    assert d.to_dict() == {"agent_channel": "right", "confidence": 0.988, "method": "forced",
                           "scores": [1.23, 0.0], "evidence": [[str(i) for i in range(8)], []]}
    mono = roles.RoleDecision(None, 0.3, "mono-heuristic").to_dict()
    assert mono == {"agent_channel": None, "confidence": 0.3, "method": "mono-heuristic", "low_confidence": True}
    mono_unknown = roles.RoleDecision(None, 0.0, "mono-heuristic", unknown=True).to_dict()
    assert mono_unknown["agent_channel"] is None and mono_unknown["agent"] == "unknown"
    assert "guess" not in mono_unknown


def test_channel_evidence_sums_each_cue_group_with_its_sign():
    opening = ["Good morning, thank you for calling, this is the support company."]
    s, why = roles.channel_evidence(opening, "en", first=False)
    assert s == pytest.approx(W["greeting"] + 2 * W["hello"] + 2 * W["business_words"])
    assert "greets: thank you for calling" in why and "hello: good morning" in why
    assert "business word: company" in why and "business word: support" in why
    s, why = roles.channel_evidence(["Is this Mrs Green? I am following up."], "en", first=True)
    assert s == pytest.approx(2 * W["outbound"] + W["first_speaker"])
    assert why[-1] == "speaks first"
    s, why = roles.channel_evidence(["Yes.", "Sure.", "How many rooms? Let me check."], "en", first=False)
    assert s == pytest.approx(W["qualifying"] + W["agent_phrases"])
    assert why == ["agent phrase: let me", "qualifying question: how many"]
    s, why = roles.channel_evidence(["Hm.", "Well.", "I want it, how much, too expensive."], "en", first=False)
    assert s == pytest.approx(-3 * W["customer_phrases"])
    assert why == ["customer phrase: how much", "customer phrase: too expensive", "customer phrase: i want"]


def test_opening_cues_count_only_in_the_first_two_turns():
    late = ["Yes.", "Okay.", "Thank you for calling, my name is Anna."]
    assert roles.channel_evidence(late, "en", first=False) == (0.0, [])
    assert roles.channel_evidence(late[1:], "en", first=False)[0] == pytest.approx(2 * W["greeting"])
    # blank turns do not take an opening place
    assert roles.channel_evidence(["", "  ", "My name is Anna."], "en", first=False)[0] == W["greeting"]


def test_language_picks_the_cue_lists():
    ru = ["Добрый день, меня зовут Анна."]
    assert roles.channel_evidence(ru, "en", first=False) == (0.0, [])
    assert roles.channel_evidence(ru, "ru", first=False)[0] == pytest.approx(W["greeting"] + W["hello"])
    assert roles.channel_evidence(ru, None, first=False)[0] == pytest.approx(W["greeting"] + W["hello"])
    assert roles.channel_evidence(["Hello, my name is Anna."], "xx", first=False)[0] == \
        pytest.approx(W["greeting"] + W["hello"])


def test_cues_match_whole_words_only():
    assert roles.channel_evidence(["Whirlwind schedulers."], "en", first=False) == (0.0, [])


def test_company_name_in_the_opening():
    s, why = roles.channel_evidence(["Swift Movers, good day."], "en", first=False, companies=["Swift Movers", " "])
    assert s == W["company_name"] and why == ["names the company: Swift Movers"]
    s, _ = roles.channel_evidence(["Yes.", "No.", "Swift Movers."], "en", first=False, companies=["Swift Movers"])
    assert s == 0.0


def test_company_names_from_script_and_vocabulary():
    script = Script("Окна «Светлый Дом» — скрипт входящего", [ScriptStep("s1", "Greeting", ['Компания "Свет" слушает'])])
    assert roles.company_names(script, ["Светлый дом", "", "  ", "Акме"]) == ["Светлый Дом", "Свет", "Акме"]
    plain = Script("Swift Movers / Swift Storage — inbound script", [])
    assert roles.company_names(plain) == ["Swift Movers", "Swift Storage"]
    assert roles.company_names(Script("Acme: sales", [])) == ["Acme"]
    assert roles.company_names(Script("one two three four five — script", [])) == []
    assert roles.company_names(None, ["X"]) == ["X"]
    assert roles.company_names() == []


def test_script_phrases_count_per_turn_up_to_five():
    script = Script("T", [ScriptStep("s", "Needs", ["What is the area of your apartment?", "ok"])])
    assert roles._script_examples(script) == [{"what", "the", "area", "your", "apartment"}]
    hit = "What is the area of the apartment?"        # 4 of the 5 words: 0.8 >= 0.6
    miss = "What is the weather like?"                  # 2 of 5
    s, why = roles.channel_evidence([hit, miss], "en", first=False, script=script)
    assert s == W["script_step"] and why == ["script phrases in 1 turns"]
    s, why = roles.channel_evidence([hit] * 7, "en", first=False, script=script)
    assert s == 5 * W["script_step"] and why == ["script phrases in 7 turns"]
    three_of_five = "What about the area?"           # 0.6: exactly the minimum overlap counts
    assert roles.channel_evidence([three_of_five], "en", first=False, script=script)[0] == W["script_step"]
    assert roles._script_examples(Script("T", [])) == [] and roles._script_examples(None) == []


def test_price_answer_goes_to_the_side_that_gives_a_number():
    seq = [(1, "How much is the move?"), (0, "Nine hundred dollars."), (1, "And how much is packing?"),
           (0, "Let me see."), (0, "Two hundred."), (1, "How much is storage?"), (0, "Fifty a month.")]
    scores, why = roles.dialogue_evidence(seq, "en")
    # three answered questions, counted at most twice; the answer may come in the 2nd reply turn
    assert scores == [2 * W["price_answer"], 0.0]
    assert why == [["answers a price question with a number"] * 2, []]


def test_price_question_answered_by_the_same_side_or_without_number_counts_nothing():
    assert roles.dialogue_evidence([(0, "How much is it? It is 500.")], "en") == ([0.0, 0.0], [[], []])
    seq = [(1, "How much is it?"), (0, "I will check."), (0, "Later."), (0, "It is 500.")]
    assert roles.dialogue_evidence(seq, "en")[0] == [0.0, 0.0]
    seq = [(1, "How much is it?"), (1, "500?"), (0, "Yes, 500.")]
    assert roles.dialogue_evidence(seq, "en")[0] == [W["price_answer"], 0.0]
    seq = [(1, "Сколько стоит доставка?"), (0, "Триста рублей.")]
    assert roles.dialogue_evidence(seq, "ru")[0] == [W["price_answer"], 0.0]
    assert roles.dialogue_evidence(seq, "en")[0] == [0.0, 0.0]


def test_greeted_by_name_goes_to_the_side_that_introduced_itself():
    seq = [(0, "Swift Movers, this is Carlos."), (1, "Hi Carlos, I need a truck.")]
    hello = set(R["greeted_by_name"]["hello_words"])
    scores, why = roles.dialogue_evidence(seq, "en")
    if "hi" in hello:
        assert scores == [W["greeted_by_name"], 0.0] and why[0] == ["greeted by name: carlos"]
    seq = [(0, "Фабрика окон, Игорь."), (1, "Игорь, добрый день.")]
    scores, why = roles.dialogue_evidence(seq, "ru")
    assert scores == [W["greeted_by_name"], 0.0] and why == [["greeted by name: игорь"], []]
    # a repeated word that is not a greeting, or a reply after the other side had spoken, counts nothing
    assert roles.dialogue_evidence([(0, "Окна Игорь."), (1, "Окна нужны.")], "ru")[0] == [0.0, 0.0]
    seq = [(1, "Алло."), (0, "Фабрика окон, Игорь."), (1, "Игорь, добрый день.")]
    assert roles.dialogue_evidence(seq, "ru")[0] == [0.0, 0.0]


def _mono(texts, gap=1.0):
    out, t = [], 0.0
    for text in texts:
        out.append((t, t + 2.0, text))
        t += 2.0 + gap
    return out


def test_mono_agent_first():
    segs = _mono(["Thank you for calling Swift Movers, my name is Carlos.", "I want to move, how much is it?",
                  "We offer a free estimate, it is nine hundred dollars.", "Okay."])
    turns, d = roles.mono_turns(segs, "en")
    assert [t[0] for t in turns] == ["agent", "customer", "agent", "customer"]
    assert d.method == "mono-heuristic" and d.agent_channel is None and not d.unknown
    assert d.confidence == roles.MONO_MAX_CONFIDENCE and d.scores[0] > d.scores[1]
    assert turns[0][1:] == (0.0, 2.0, segs[0][2])


def test_mono_customer_first():
    segs = _mono(["Hello, I want to move next week, how much is it?",
                  "Thank you for calling Swift Movers, my name is Carlos. It is nine hundred dollars.",
                  "Too expensive.", "We offer a free estimate, would you like one?"])
    turns, d = roles.mono_turns(segs, "en")
    assert [t[0] for t in turns] == ["customer", "agent", "customer", "agent"]
    assert d.scores[1] > d.scores[0] and not d.unknown


def test_mono_turns_join_close_segments_and_split_on_questions():
    segs = [(0.0, 1.0, "Thank you for calling Swift Movers,"), (1.5, 3.0, "my name is Carlos."),
            (3.1, 4.0, "How can I help?"), (4.2, 6.0, "I want to move."), (6.1, 7.0, "Next week.")]
    turns, _ = roles.mono_turns(segs, "en")
    assert turns == [("agent", 0.0, 4.0, "Thank you for calling Swift Movers, my name is Carlos. How can I help?"),
                     ("customer", 4.2, 7.0, "I want to move. Next week.")]
    # a gap of exactly MONO_TURN_GAP ends a turn
    turns, _ = roles.mono_turns([(0.0, 1.0, "One."), (1.0 + roles.MONO_TURN_GAP, 3.0, "Two.")], "en")
    assert len(turns) == 2
    turns, _ = roles.mono_turns([(5.0, 6.0, "B."), (0.0, 1.0, "A.")], "en")
    assert [t[3] for t in turns] == ["A.", "B."]


def test_mono_confidence_and_unknown():
    turns, d = roles.mono_turns(_mono(["Okay.", "Right."]), "en")
    # only "speaks first" on the even turns: sure = logistic(0.5) < 0.65 -> unknown, conf = sure - 0.3
    sure = 1 / (1 + math.exp(-W["first_speaker"]))
    assert d.unknown and d.confidence == pytest.approx(sure - 0.3)
    assert d.to_dict()["low_confidence"] is True and d.to_dict()["agent"] == "unknown"
    assert [t[0] for t in turns] == ["agent", "customer"]
    # the odd turns carrying more customer evidence than none: even side still agent, weakly
    _t, d = roles.mono_turns(_mono(["Okay.", "I want it, too expensive, how much?"]), "en")
    assert d.scores == pytest.approx([W["first_speaker"], -3 * W["customer_phrases"]])
    assert d.confidence == roles.MONO_MAX_CONFIDENCE


# ---- second round: cases the first mutation run showed unguarded ---------------------------------
def test_company_names_of_scripts_without_title_or_steps():
    from types import SimpleNamespace

    assert roles.company_names(SimpleNamespace(steps=[ScriptStep("s", "S", ['Компания "Свет"'])])) == ["Свет"]
    assert roles.company_names(SimpleNamespace(title="Acme: sales")) == ["Acme"]
    assert roles.company_names(Script("", [])) == []
    assert roles.company_names(Script("one two three four — script", [])) == ["one two three four"]
    assert roles._script_examples(SimpleNamespace()) == []


def test_two_word_script_examples_count():
    script = Script("T", [ScriptStep("s", "Offer", ["Big sofa!", "a b c"])])
    assert roles._script_examples(script) == [{"big", "sofa"}]
    s, why = roles.channel_evidence(["A big sofa then."], "en", first=False, script=script)
    assert s == W["script_step"]


def test_evidence_adds_up_across_cues():
    script = Script("T", [ScriptStep("s", "Needs", ["What is the area of your apartment?"])])
    s, why = roles.channel_evidence(["Swift Movers, thank you for calling.", "What is the area of the apartment?"],
                                    "en", first=False, script=script, companies=["Swift Movers"])
    assert s == pytest.approx(W["company_name"] + W["greeting"] + W["script_step"])
    assert why == ["greets: thank you for calling", "names the company: Swift Movers", "script phrases in 1 turns"]
    s, why = roles.channel_evidence(["Is this Mrs Green?"], "en", first=False)
    assert why == ["calls out: is this mrs"]
    # an English cue counts nothing in a call said to be Russian
    assert roles.channel_evidence(["Thank you for calling."], "ru", first=False) == (0.0, [])


def test_price_answers_are_capped_at_two():
    seq = [(1, "How much is the move?"), (0, "Nine hundred."), (1, "How much is packing?"), (0, "Two hundred."),
           (1, "How much is storage?"), (0, "Fifty a month.")]
    assert roles.dialogue_evidence(seq, "en")[0] == [2 * W["price_answer"], 0.0]


def test_price_question_window_and_language():
    # the number said before the question is no answer
    seq = [(0, "It is 500."), (1, "How much is it?"), (0, "Let me check.")]
    assert roles.dialogue_evidence(seq, "en")[0] == [0.0, 0.0]
    # an answer three turns later is too late
    seq = [(1, "How much is it?"), (1, "Hello?"), (1, "Anyone?"), (0, "500.")]
    assert roles.dialogue_evidence(seq, "en")[0] == [0.0, 0.0]
    # the question at the very end of a turn
    seq = [(1, "А доставка сколько стоит"), (0, "Триста.")]
    assert roles.dialogue_evidence(seq, "ru")[0] == [W["price_answer"], 0.0]
    assert roles.dialogue_evidence(seq, None)[0] == [W["price_answer"], 0.0]
    assert roles.dialogue_evidence(seq, "xx")[0] == [W["price_answer"], 0.0]
    assert roles.dialogue_evidence([(1, "How much is it?"), (0, "500.")], "ru")[0] == [0.0, 0.0]


def test_greeted_by_name_details():
    # a three-letter name counts, a two-letter word does not
    seq = [(0, "Фабрика окон, Яна."), (1, "Яна, здравствуйте."), (0, "Слушаю.")]
    assert roles.dialogue_evidence(seq, "ru")[0] == [W["greeted_by_name"], 0.0]
    seq = [(0, "Это Ян."), (1, "Ян, привет."), (0, "Да.")]
    assert roles.dialogue_evidence(seq, "ru")[0] == [0.0, 0.0]
    # the right channel may introduce itself first
    seq = [(1, "Фабрика окон, Игорь."), (0, "Игорь, добрый день.")]
    assert roles.dialogue_evidence(seq, "ru")[0] == [0.0, W["greeted_by_name"]]
    # only the reply's first four words, and the name among the first twelve
    seq = [(0, "Фабрика окон, Игорь."), (1, "добрый день добрый день Игорь.")]
    assert roles.dialogue_evidence(seq, "ru")[0] == [0.0, 0.0]
    seq = [(0, "раз два три четыре пять шесть семь восемь девять десять одиннадцать двенадцать Игорь."), (1, "Игорь, добрый день.")]
    assert roles.dialogue_evidence(seq, "ru")[0] == [0.0, 0.0]
    # greeted and answering prices: both count
    seq = [(0, "Фабрика окон, Игорь."), (1, "Игорь, добрый день, сколько стоит окно?"), (0, "Пять тысяч.")]
    assert roles.dialogue_evidence(seq, "ru")[0] == [W["greeted_by_name"] + W["price_answer"], 0.0]


def test_stereo_uses_time_order_language_script_companies_and_dialogue():
    # turns given out of time order: the opening is still the earliest two
    agent = [(9.0, "Alright."), (8.0, "Bye."), (0.0, "Thank you for calling, my name is Anna.")]
    d = roles.decide_stereo([agent, [(4.0, "Okay.")]], "en")
    assert "greets: thank you for calling" in d.evidence[0]
    # the language given picks the cues
    d = roles.decide_stereo([[(0.0, "Thank you for calling.")], [(1.0, "Okay.")]], "ru")
    assert d.scores == [W["first_speaker"], 0.0]
    script = Script("Swift Movers — script", [ScriptStep("s", "Needs", ["What is the area of your apartment?"])])
    d = roles.decide_stereo([[(0.0, "Okay.")], [(1.0, "What is the area of the apartment?")]], "en", script=script)
    assert d.scores == [W["first_speaker"], W["script_step"]]
    d = roles.decide_stereo([[(0.0, "Okay.")], [(1.0, "Oak Kitchens.")]], "en", companies=["Oak Kitchens"])
    assert d.scores == [W["first_speaker"], W["company_name"]] and d.agent_channel == 1
    # the dialogue's evidence adds to the side's score, in time order across channels
    left = [(0.0, "Hm."), (4.0, "Nine hundred.")]
    right = [(2.0, "How much is it?")]
    d = roles.decide_stereo([left, right], "en")
    assert d.scores[0] == pytest.approx(W["first_speaker"] + W["price_answer"])
    assert d.evidence[0] == ["speaks first", "answers a price question with a number"]
    d = roles.decide_stereo([[(0.0, "Сколько стоит?")], [(1.0, "Пятьсот.")]], "en")
    assert d.scores == [W["first_speaker"], 0.0]


def test_stereo_tie_goes_to_the_left():
    d = roles.decide_stereo([[], []], "en")
    assert d.agent_channel == 0 and d.scores == [0.0, 0.0] and d.confidence == 0.5 and d.unknown


def test_mono_order_by_start_and_questions_with_trailing_spaces():
    turns, _ = roles.mono_turns([(0.0, 5.0, "A."), (1.0, 2.0, "B.")], "en")
    assert [t[3] for t in turns] == ["A. B."]
    turns, _ = roles.mono_turns([(0.0, 1.0, "How are you?  "), (1.2, 2.0, "Fine.")], "en")
    assert len(turns) == 2


def test_mono_cue_split_over_segments_and_late_turns():
    segs = [(0.0, 1.0, "Thank you"), (1.1, 2.0, "for calling.")]
    _turns, d = roles.mono_turns(segs + [(3.0, 4.0, "Hi.")], "en")
    assert "greets: thank you for calling" in d.evidence[0]
    # evidence of the third and fourth turns counts for their sides
    segs = _mono(["Okay.", "Right.", "We offer a free estimate.", "I want it, too expensive, how much?"])
    turns, d = roles.mono_turns(segs, "en")
    assert d.scores == pytest.approx([W["first_speaker"] + W["agent_phrases"], -3 * W["customer_phrases"]])
    assert d.confidence == pytest.approx(min(roles.MONO_MAX_CONFIDENCE,
                                             1 / (1 + math.exp(-(d.scores[0] - d.scores[1]))) - 0.3))
    segs = _mono(["Okay.", "Right.", "Sure.", "We offer a free estimate.", "Fine."])
    turns, d = roles.mono_turns(segs, "en")
    assert d.scores == pytest.approx([W["first_speaker"], W["agent_phrases"]])


def test_mono_passes_language_script_companies_and_dialogue():
    script = Script("T", [ScriptStep("s", "Needs", ["What is the area of your apartment?"])])
    segs = _mono(["Okay.", "What is the area of the apartment?"])
    _t, d = roles.mono_turns(segs, "en", script=script)
    assert d.scores == [W["first_speaker"], W["script_step"]] and d.evidence[1] == ["script phrases in 1 turns"]
    segs = _mono(["What is the area of the apartment?", "Okay."])
    _t, d = roles.mono_turns(segs, "en", script=script)
    assert d.scores == [W["first_speaker"] + W["script_step"], 0.0]
    _t, d = roles.mono_turns(_mono(["Oak Kitchens.", "Hm."]), "en", companies=["Oak Kitchens"])
    assert d.scores == [W["first_speaker"] + W["company_name"], 0.0]
    _t, d = roles.mono_turns(_mono(["Hm.", "Oak Kitchens."]), "en", companies=["Oak Kitchens"])
    assert d.scores == [W["first_speaker"], W["company_name"]]
    _t, d = roles.mono_turns(_mono(["Okay.", "Thank you for calling."]), "ru")
    assert d.scores == [W["first_speaker"], 0.0]
    _t, d = roles.mono_turns(_mono(["Thank you for calling.", "Okay."]), "ru")
    assert d.scores == [W["first_speaker"], 0.0]
    # price answers on either side, in the call's language only
    _t, d = roles.mono_turns(_mono(["How much is it?", "Nine hundred.", "Okay."]), "en")
    assert d.scores == [W["first_speaker"] - W["customer_phrases"], W["price_answer"]]
    assert d.evidence == [["customer phrase: how much", "speaks first"], ["answers a price question with a number"]]
    _t, d = roles.mono_turns(_mono(["Hm.", "How much is it?", "Nine hundred."]), "en")
    assert d.scores == [W["first_speaker"] + W["price_answer"], -W["customer_phrases"]]
    _t, d = roles.mono_turns(_mono(["Сколько стоит?", "Пятьсот."]), "en")
    assert d.scores == [W["first_speaker"], 0.0]


def test_mono_tie_keeps_the_first_speaker_as_agent():
    turns, d = roles.mono_turns(_mono(["Okay.", "We have it."]), "en")
    assert d.scores == [W["first_speaker"], W["agent_phrases"]] == [0.5, 0.5]
    assert [t[0] for t in turns] == ["agent", "customer"] and d.unknown
    assert d.confidence == pytest.approx(0.2)


def test_unknown_language_uses_english_price_cues_too():
    seq = [(1, "How much is the move?"), (0, "Nine hundred.")]
    assert roles.dialogue_evidence(seq, None)[0] == [W["price_answer"], 0.0]
    assert roles.dialogue_evidence(seq, "de")[0] == [W["price_answer"], 0.0]
