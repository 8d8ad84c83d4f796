"""Extraction's rule layer and opening (`nlp/extract.py`) on small calls with known answers; written
against the mutants that survived `scripts/mutation.sh extract`. The cue groups read from
`rules/extract_<lang>.json`, the hand weights from `RULE_WEIGHTS`; the shipped model's kinds are
checked per statement in tests/test_extract_cases.py."""

import math

import pytest

from nlp import extract as X
from nlp.types import Call, Turn


def call(lang, turns, cid="c"):
    return Call(call_id=cid, language=lang, turns=[Turn(speaker=s, text=t) for s, t in turns])


def units(c):
    return X.call_units([c])[0]


def unit(feats, text="x", turn=1, cid="c"):
    return X.Unit(cid, turn, 0, len(text), text, "en", 0.0, dict(feats))


# ---- cue counting --------------------------------------------------------------------------------
def test_cue_count_phrases_wildcards_lemmas_and_agent_side():
    r = X.get_rules("en")
    words = "i would like a cheaper one from other companies".split()
    got = r.count(X.lemmas(" ".join(words), "en"), words)
    assert got["want"] == 2 and got["cheaper_elsewhere"] == 3   # would like, like; cheaper, cheap*, other compan*
    assert got["self_state"] == 1 and "price_high" not in got
    # a phrase must be whole: "would" alone is no "would like"
    assert "want" not in r.count(["would", "go"], ["would", "go"])
    # the agent's groups are other groups
    hello = "thanks for calling how can i help".split()
    agent = r.count(X.lemmas(" ".join(hello), "en"), hello, agent=True)
    assert agent["greeting"] == 2 and agent["inbound"] == 2
    assert "greeting" not in r.count(["thanks", "for", "calling"], ["thanks", "for", "calling"])
    # a phrase cut by the end of the unit does not count
    assert "want" not in r.count(["would"], ["would"])
    assert r.count([], []) == {}


def test_cue_count_matches_the_lowercase_word_when_the_lemma_differs():
    r = X.get_rules("ru")
    low = ["дороговато"]
    assert r.count(["дорогой"], low).get("price_high", 0) >= 1


def test_tok_ok():
    assert X.CueRules._tok_ok("cheap*", "cheapest", "x") and X.CueRules._tok_ok("cheap*", "x", "cheaply")
    assert not X.CueRules._tok_ok("cheap*", "chea", "che") and X.CueRules._tok_ok("go", "x", "go")
    assert X.CueRules._tok_ok("go", "go", "went") and not X.CueRules._tok_ok("go", "gone", "gone")


def test_rules_for_a_missing_language_are_a_clear_error():
    with pytest.raises(X.ModelError, match="extraction rules"):
        X.CueRules("zz")


# ---- units and features ----------------------------------------------------------------------------
EN = call("en", [("agent", "Bluecrest Airways, this is Dana, how can I help?"),
                 ("customer", "Hi, I need to book a flight to Denver. My daughter is getting married there."),
                 ("agent", "Great. What is your budget?"),
                 ("customer", "It's too expensive for me."),
                 ("agent", "I see."),
                 ("customer", "What time does it leave?")])


def test_units_are_customer_sentences_with_greetings_trimmed():
    us = units(EN)
    assert [(u.turn, u.text) for u in us] == [(1, "I need to book a flight to Denver."),
                                             (1, "My daughter is getting married there."),
                                             (3, "It's too expensive for me."), (5, "What time does it leave?")]
    t = EN.turns[1].text
    assert all(t[u.char_start:u.char_end] == u.text for u in us if u.turn == 1)
    assert us[2].context == "What is your budget?" and us[3].context == "I see."
    assert us[0].context == "Bluecrest Airways, this is Dana, how can I help?"


def test_position_and_form_features():
    a, b, c, d = units(EN)
    assert a.feats["first_cust_turn"] == 1.0 and c.feats["first_cust_turn"] == 0.0
    assert a.feats["turn_ord"] == 0.0 and c.feats["turn_ord"] == 0.1 and d.feats["turn_ord"] == 0.2
    assert a.feats["pos_rel"] == pytest.approx(1 / 6) and d.feats["pos_rel"] == pytest.approx(5 / 6)
    assert a.feats["sent_idx"] == 0.0 and b.feats["sent_idx"] == 0.2
    assert a.feats["sent_last"] == 0.0 and b.feats["sent_last"] == 1.0
    assert a.feats["sent_n"] == pytest.approx(2 / 6) and c.feats["sent_n"] == pytest.approx(1 / 6)
    assert a.feats["n_words"] == pytest.approx(8 / 40) and a.feats["log_words"] == pytest.approx(math.log1p(8) / 4)
    assert d.feats["qmark"] == 1.0 and a.feats["qmark"] == 0.0
    assert d.feats["q_start"] == 1.0 and a.feats["q_start"] == 0.0
    assert c.feats["after_agent_q"] == 1.0 and d.feats["after_agent_q"] == 0.0
    assert a.feats["agent_first"] == 1.0 and a.feats["lang_en"] == 1.0 and a.feats["unpunct"] == 0.0
    assert a.feats["short"] == 0.0 and a.feats["digits"] == 0.0
    assert a.feats["turn_words"] == pytest.approx(15 / 80)


def test_cue_features_of_unit_turn_previous_unit_and_agent():
    a, b, c, d = units(EN)
    assert a.feats["c_need_modal"] == 1 and "c_family" not in a.feats
    assert b.feats["c_family"] == 1 and b.feats["p_need_modal"] == 1 and "p_family" not in a.feats
    # turn counts minus the unit's own: the daughter is in the other sentence of the turn
    assert a.feats["t_family"] == 1 and "t_family" not in b.feats or b.feats["t_family"] == 0
    assert a.feats["t_need_modal"] == 0
    # what the agent said before: the whole turn (a_) and its last sentence (al_)
    assert c.feats["a_ask_need"] >= 1 and c.feats["al_ask_need"] >= 1
    assert a.feats["a_inbound"] == 1 and a.feats["al_inbound"] == 1
    assert "a_ask_need" not in d.feats and "a_ask_need" not in a.feats
    assert c.feats["c_price_high"] == 1
    # counts are capped at 3
    many = units(call("en", [("agent", "Hello."), ("customer", "I I I I I we we our my.")]))[0]
    assert many.feats["c_self_state"] == 3


def test_rule_scores_are_stored_as_features():
    a = units(EN)[0]
    assert {k: a.feats[f"r_{k}"] for k in X.RULE_WEIGHTS} == pytest.approx(X.rule_scores(a))


def test_customer_speaking_first_and_short_digit_answers():
    c = call("en", [("customer", "Hello, I want a quote."), ("agent", "Sure, what is your zip code?"),
                    ("customer", "90210")])
    a, b = units(c)
    assert a.feats["agent_first"] == 0.0 and a.context == "" and a.feats["after_agent_q"] == 0.0
    assert b.feats["digits"] == 1.0 and b.feats["short"] == 1.0 and b.feats["n_words"] == pytest.approx(1 / 40)
    assert b.feats["num_share"] == 1.0 and b.feats["after_agent_q"] == 1.0


def test_unpunctuated_turn_and_lead_words():
    c = call("ru", [("agent", "Алло"), ("customer", "алло да здравствуйте мне бы окна поменять")])
    (u,) = units(c)
    assert u.feats["unpunct"] == 1.0 and u.text == "мне бы окна поменять"


def test_outbound_calls():
    out = call("en", [("agent", "Hi, this is Dana calling from Bluecrest Airways."), ("customer", "Oh, hello.")])
    assert units(out)[0].feats["call_outbound"] >= 1.0
    inbound = call("en", [("agent", "Bluecrest Airways, how can I help? I am calling from the office."),
                          ("customer", "Hello.")])
    assert units(inbound)[0].feats["call_outbound"] == 0.0
    # only the agent's first words are read for it
    late = call("en", [("agent", "Hello, good morning to you."), ("customer", "Hi."),
                       ("agent", "Um, so, I'm calling from Bluecrest."),
                       ("customer", "Yes?")])
    assert all(u.feats["call_outbound"] == 0.0 for u in units(late))


def test_unpunctuated_question_and_echo_features():
    c = call("en", [("agent", "which account would you like to check"), ("customer", "the savings account please")])
    (u,) = units(c)
    assert u.feats["asked_unpunct"] == 1.0 and u.feats["echo"] == 1.0 and u.feats["after_agent_q"] == 0.0
    c = call("en", [("agent", "Which account would you like to check?"), ("customer", "The savings account, please.")])
    (u,) = units(c)
    assert u.feats["asked_unpunct"] == 0.0 and u.feats["echo"] == 1.0 and u.feats["after_agent_q"] == 1.0
    # words of fewer than four letters and ignored words are no echo
    c = call("en", [("agent", "Is it the red one you like?"), ("customer", "The red one I like.")])
    assert units(c)[0].feats["echo"] == 0.0
    c = call("en", [("agent", "Okay so tell me"), ("customer", "the savings account please")])
    assert units(c)[0].feats["asked_unpunct"] == 0.0


def test_num_share():
    c = call("en", [("agent", "Okay, go ahead."), ("customer", "three four five six two one nine")])
    (u,) = units(c)
    assert u.feats["num_share"] == 1.0 and X.non_statement(u) == "dictation"


# ---- rules-only kinds --------------------------------------------------------------------------------
def test_rule_scores_sum_the_weights():
    u = unit({"c_life_event": 1, "c_family": 2, "a_ask_motive": 1, "n_words": 10 / 40})
    sc = X.rule_scores(u)
    assert sc["motive"] == pytest.approx(1.2 + 2 * 0.7 + 1.5) and sc["need"] == 0.0 and sc["objection"] == 0.0
    u = unit({"c_price_high": 1, "c_positive": 1, "n_words": 10 / 40})
    assert X.rule_scores(u)["objection"] == pytest.approx(1.3 - 0.8)


def test_rule_scores_of_bare_words():
    # three words or fewer: everything minus 1.5, except a refusal's objection
    u = unit({"c_need_modal": 1, "n_words": 3 / 40})
    assert X.rule_scores(u)["need"] == pytest.approx(1.2 - 1.5)
    u = unit({"c_refusal": 1, "n_words": 2 / 40})
    sc = X.rule_scores(u)
    assert sc["objection"] == pytest.approx(1.7) and sc["need"] == -1.5 and sc["motive"] == -1.5
    u = unit({"c_need_modal": 1, "n_words": 4 / 40})
    assert X.rule_scores(u)["need"] == pytest.approx(1.2)


def test_rule_proba():
    u = unit({"c_refusal": 1, "c_price_high": 1, "n_words": 10 / 40})            # objection 3.0
    p = X.rule_proba(u, ["none", "objection", "need"])
    e = [math.exp(X.RULE_THRESHOLD - 3.0), 1.0, math.exp(0.0 - 3.0)]
    assert p == pytest.approx([x / sum(e) for x in e])
    p2 = X.rule_proba(u, ["none", "objection", "need"], temp=2.0)
    assert p2[1] < p[1] and p2.sum() == pytest.approx(1.0)
    assert X.rule_proba(u, ["question"])[0] == 1.0


@pytest.mark.parametrize("feats, reason", [
    ({"c_closing": 1, "n_words": 5 / 40}, "closing"),
    ({"c_closing": 1, "c_need_modal": 1, "c_want": 1, "n_words": 5 / 40}, "closing"),
    ({"c_closing": 1, "c_price_high": 1, "n_words": 5 / 40}, None),
    ({"c_closing": 1, "n_words": 13 / 40}, None),
    ({"c_closing": 1, "n_words": 12 / 40}, "closing"),
    ({"c_meta": 1, "n_words": 8 / 40}, "meta"),
    ({"c_meta": 1, "n_words": 9 / 40}, None),
    ({"c_meta": 1, "c_doubt": 1, "n_words": 5 / 40}, None),
    ({"c_meta": 1, "c_price_high": 1, "n_words": 5 / 40}, None),
    ({"al_ask_identity": 1, "n_words": 6 / 40}, "identity"),
    ({"al_ask_identity": 1, "n_words": 7 / 40}, None),
    ({"al_ask_identity": 1, "n_words": 9 / 40, "num_share": 0.3}, "identity"),
    ({"al_ask_identity": 1, "n_words": 9 / 40, "num_share": 0.29}, None),
    ({"al_ask_identity": 1, "n_words": 9 / 40, "c_spelling": 1}, "identity"),
    ({"al_ask_identity": 1, "n_words": 3 / 40, "c_budget": 1}, None),
    ({"a_ask_identity": 1, "n_words": 4 / 40}, "identity"),
    ({"a_ask_identity": 1, "al_ask_need": 1, "n_words": 4 / 40}, None),
    ({"c_spelling": 1, "n_words": 20 / 40}, "identity"),
    ({"c_spelling": 1, "c_want": 1, "n_words": 20 / 40}, None),
    ({"num_share": 0.8, "n_words": 10 / 40}, "dictation"),
    ({"num_share": 0.79, "n_words": 10 / 40}, None),
    ({"num_share": 0.9, "al_ask_need": 1, "n_words": 10 / 40}, None),
    ({"num_share": 0.9, "a_ask_need": 1, "n_words": 10 / 40}, None),
    ({"num_share": 0.9, "c_budget": 1, "n_words": 10 / 40}, None),
    ({"n_words": 10 / 40}, None),
])
def test_non_statement(feats, reason):
    assert X.non_statement(unit(feats)) == reason


@pytest.mark.parametrize("feats, kind, out", [
    ({"n_words": 1 / 40, "al_ask_need": 1, "after_agent_q": 1}, "none", "need"),
    ({"n_words": 4 / 40, "al_choice": 1, "after_agent_q": 1}, "none", "need"),
    ({"n_words": 5 / 40, "al_ask_need": 1, "after_agent_q": 1}, "none", "none"),
    ({"n_words": 1 / 40, "al_ask_need": 1, "after_agent_q": 0}, "none", "none"),
    ({"n_words": 1 / 40, "after_agent_q": 1}, "none", "none"),
    ({"n_words": 1 / 40, "al_ask_need": 1, "after_agent_q": 1, "al_ask_identity": 1}, "none", "none"),
    ({"n_words": 1 / 40, "al_ask_need": 1, "after_agent_q": 1, "al_ask_name": 1}, "none", "none"),
    ({"n_words": 1 / 40, "al_ask_need": 1, "after_agent_q": 1, "c_ack": 1}, "none", "none"),
    ({"n_words": 1 / 40, "al_ask_need": 1, "after_agent_q": 1, "c_name_intro": 1}, "none", "none"),
    # a bare answer to a need question keeps another kind only with that kind's own cues
    ({"n_words": 1 / 40, "al_ask_need": 1, "after_agent_q": 1}, "objection", "need"),
    ({"n_words": 2 / 40, "al_ask_need": 1, "after_agent_q": 1, "c_price_high": 1}, "objection", "objection"),
    ({"n_words": 9 / 40, "al_ask_need": 1, "after_agent_q": 1}, "objection", "objection"),
    # a longer answer (up to 8 words) is an answer when it repeats what was asked or is partly a number
    ({"n_words": 6 / 40, "al_ask_need": 1, "asked_unpunct": 1, "echo": 1}, "none", "need"),
    ({"n_words": 8 / 40, "al_ask_need": 1, "after_agent_q": 1, "echo": 1}, "none", "need"),
    ({"n_words": 9 / 40, "al_ask_need": 1, "after_agent_q": 1, "echo": 1}, "none", "none"),
    ({"n_words": 6 / 40, "al_ask_need": 1, "after_agent_q": 1}, "none", "none"),
    ({"n_words": 6 / 40, "al_ask_need": 1, "after_agent_q": 1, "num_share": 0.25}, "none", "need"),
    ({"n_words": 6 / 40, "al_ask_need": 1, "after_agent_q": 1, "num_share": 0.2}, "none", "none"),
    ({"n_words": 6 / 40, "al_ask_need": 1, "after_agent_q": 1, "num_share": 0.75, "echo": 1}, "none", "none"),
    ({"n_words": 6 / 40, "al_ask_need": 1, "after_agent_q": 1, "num_share": 0.7, "echo": 1}, "none", "need"),
    ({"n_words": 2 / 40, "al_ask_need": 1}, "none", "none"),
    ({"n_words": 2 / 40, "al_ask_need": 1, "after_agent_q": 1, "c_purpose": 1}, "motive", "motive"),
    ({"n_words": 2 / 40, "al_ask_need": 1, "after_agent_q": 1}, "motive", "need"),
    ({"n_words": 2 / 40, "al_ask_need": 1, "after_agent_q": 1}, "question", "question"),
    ({"al_ask_motive": 1, "c_life_event": 1}, "need", "motive"),
    ({"a_ask_motive": 1, "c_purpose": 1}, "need", "motive"),
    ({"a_ask_motive": 1, "c_problem": 1}, "need", "motive"),
    ({"a_ask_motive": 1, "c_problem": 1, "c_budget": 1}, "need", "need"),
    ({"a_ask_motive": 1, "c_problem": 1, "c_deadline": 1}, "need", "need"),
    ({"a_ask_motive": 1, "c_problem": 1, "c_preference": 1}, "need", "need"),
    ({"c_life_event": 1}, "need", "need"),
    ({"a_ask_motive": 1}, "need", "need"),
    ({"a_ask_motive": 1, "c_life_event": 1}, "objection", "objection"),
])
def test_context_kind(feats, kind, out):
    assert X.context_kind(unit(feats), kind) == out


def test_rules_only_extraction_kinds_confidence_and_questions():
    c = call("en", [("agent", "Thanks for calling."),
                    ("customer", "No thanks, that is way too expensive for us, we are worried."),
                    ("agent", "I see."),
                    ("customer", "what time do you close"),
                    ("agent", "Nine."),
                    ("customer", "Where are you located?")])
    got = {(s.turn, s.kind): s for s in X.extract_calls([c], use_model=False)}
    obj = got[(1, "objection")]
    u = units(c)[0]
    sc = X.rule_scores(u)
    assert sc["objection"] == pytest.approx(5.0) and obj.confidence == 0.99         # 0.5 + 5.0 / 10, capped
    u = unit({"c_price_high": 1, "c_doubt": 1, "n_words": 10 / 40})                  # objection 2.3
    (st,) = [s for s in X.extract_units([c], [[u]], None) if s.kind == "objection"]
    assert st.confidence == pytest.approx(0.5 + 2.3 / 10)
    assert got[(5, "question")].confidence == 0.9 and got[(3, "question")].confidence == 0.6
    assert (1, "question") not in got and obj.text == c.turns[1].text[obj.char_start:obj.char_start + len(obj.text)]
    assert obj.language == "en" and obj.call_id == "c"
    # below the threshold: no statement
    weak = call("en", [("agent", "Hello."), ("customer", "It is a bit far for me, I guess.")])
    assert [s.kind for s in X.extract_calls([weak], use_model=False) if s.kind in X.LABEL_KINDS] == []
    assert X.extract_calls([], use_model=False) == []


def test_question_form():
    assert X._question(unit({"qmark": 1}))
    assert X._question(unit({"unpunct": 1, "q_start": 1}))
    assert not X._question(unit({"unpunct": 1})) and not X._question(unit({"q_start": 1}))


# ---- opening -----------------------------------------------------------------------------------------
def opening(c):
    u = X.find_opening(c, units(c))
    return None if u is None else u.text


def test_opening_skips_hello_yes_and_names():
    c = call("en", [("agent", "Bluecrest Airways, this is Dana."), ("customer", "Hi. Yes."),
                    ("agent", "How can I help?"), ("customer", "This is Mark. I'd like to change my flight.")])
    assert opening(c) == "I'd like to change my flight."
    # the first unit with an intent, not the first substantive one
    c = call("en", [("agent", "Bluecrest Airways."),
                    ("customer", "So my sister lives in Denver. I want to visit her in May.")])
    assert opening(c) == "I want to visit her in May."
    # no intent in the first two turns: the first substantive unit
    c = call("en", [("agent", "Bluecrest Airways."), ("customer", "My sister lives in Denver, you know.")])
    assert opening(c) == "My sister lives in Denver, you know."


def test_opening_intent_in_the_second_turn():
    c = call("en", [("agent", "Bluecrest Airways."), ("customer", "My sister lives in Denver, you know."),
                    ("agent", "Okay."), ("customer", "I want to visit her in May.")])
    assert opening(c) == "I want to visit her in May."


def test_no_opening_for_wrong_numbers_robots_and_outbound_calls():
    assert opening(call("en", [("agent", "Bluecrest Airways."), ("customer", "Sorry, wrong number, I dialed the wrong one.")])) is None
    robot = call("en", [("agent", "Hello."), ("customer", "This is an automated message, press one to qualify.")])
    assert opening(robot) is None
    out = call("en", [("agent", "Hi, this is Dana calling from Bluecrest Airways about your booking."),
                      ("customer", "Oh yes, I booked a flight to Denver.")])
    assert opening(out) is None
    out_reason = call("en", [("agent", "Hi, this is Dana calling from Bluecrest Airways."),
                             ("customer", "Oh good, I was calling about my refund, I want it back.")])
    assert opening(out_reason) is not None
    assert X.find_opening(call("en", [("agent", "Hello.")]), []) is None
    only_hello = call("en", [("agent", "Bluecrest."), ("customer", "Hi."), ("agent", "Hello?"), ("customer", "Yes.")])
    assert opening(only_hello) is None


def test_opening_only_in_the_first_four_customer_turns():
    turns = [("agent", "Bluecrest Airways.")]
    for _ in range(4):
        turns += [("customer", "Yes."), ("agent", "Hello?")]
    turns += [("customer", "I want to change my flight.")]
    assert opening(call("en", turns)) is None
    assert opening(call("en", turns[:7] + turns[-1:])) == "I want to change my flight."


def test_flagged():
    u = lambda **f: unit(f)  # noqa: E731
    assert X._flagged([u(c_robot=1), u(a_robot=1)]) and X._flagged([u(c_robot=1)])
    assert not X._flagged([u(c_robot=1, c_reason_call=1)])
    assert X._flagged([u(c_wrong_number=1), u(a_wrong_number=1)]) and X._flagged([u(a_wrong_number=1)])
    assert not X._flagged([u(c_wrong_number=1, c_reason_call=1)])
    assert X._flagged([u(c_wrong_number=2, c_reason_call=1)]) and X._flagged([u(c_robot=2, c_reason_call=1)])
    # a reason said after the third unit does not excuse a robot
    assert X._flagged([u(), u(), u(), u(c_robot=1, c_reason_call=1)])
    assert not X._flagged([u()])


@pytest.mark.parametrize("feats, ok", [
    ({"n_words": 5 / 40}, True),
    ({"n_words": 2 / 40}, False),
    ({"n_words": 2 / 40, "qmark": 1}, True),
    ({"n_words": 2 / 40, "c_reason_call": 1}, True),
    ({"n_words": 3 / 40}, True),
    ({"n_words": 4 / 40, "al_ask_name": 1}, False),
    ({"n_words": 5 / 40, "a_ask_name": 1}, True),
    ({"n_words": 6 / 40, "c_name_intro": 1}, False),
    ({"n_words": 6 / 40, "c_name_intro": 1, "c_want": 1}, True),
    ({"n_words": 7 / 40, "c_name_intro": 1}, True),
    ({"n_words": 5 / 40, "c_greeting": 2, "c_ack": 2}, False),
    ({"n_words": 5 / 40, "c_greeting": 2, "c_ack": 1}, True),
])
def test_substantive(feats, ok):
    assert X._substantive(unit(feats)) is ok


def test_unpunctuated_opening_runs_to_the_end_of_the_turn():
    c = call("ru", [("agent", "Алло"), ("customer", "да здравствуйте я хочу окна поменять а ещё балкон утеплить")])
    us = units(c)
    op = X.find_opening(c, us)
    assert op.text == c.turns[1].text[op.char_start:] and op.char_end == len(c.turns[1].text)
    assert op.text.endswith("балкон утеплить")


# ---- matching gold spans -----------------------------------------------------------------------------
def test_spans_match_and_unit_labels():
    assert X.spans_match("It is too expensive.", "too expensive") and X.spans_match("too", "It is too much")
    assert X.spans_match("a b c d", "a b c x")                    # Jaccard 3/5
    assert X.spans_match("a b c", "a b x")                        # Jaccard 2/4
    assert not X.spans_match("a b c d", "a b x y")                # Jaccard 2/6
    assert not X.spans_match("", "a") and not X.spans_match("a", "...")
    c = call("en", [("agent", "Hi."), ("customer", "It is too expensive. My wife decides.")])
    us = units(c)
    gold = [{"turn": 1, "kind": "objection", "text": "too expensive"}, {"turn": 1, "kind": "motive", "text": "nothing"},
            {"turn": 0, "kind": "need", "text": "My wife decides"}]
    assert X.unit_labels(us, gold) == ["objection", "none"]


# ---- second round ---------------------------------------------------------------------------------
def test_extraction_emits_the_opening_with_its_confidence():
    c = call("en", [("agent", "Bluecrest Airways."), ("customer", "I want to change my flight."),
                    ("agent", "Sure."), ("customer", "Thanks.")])
    ops = [s for s in X.extract_calls([c], use_model=False) if s.kind == "opening"]
    assert [(s.turn, s.text, s.confidence) for s in ops] == [(1, "I want to change my flight.", 0.8)]


@pytest.mark.slow  # e5 in the test: the fast suite runs the shipped model in tests/test_extract_cases.py
def test_shipped_model_path():
    c = call("en", [("agent", "Bluecrest Airways, how can I help?"),
                    ("customer", "I need a flight to Denver. It is way too expensive for me, I am afraid.")])
    got = X.extract_calls([c])
    assert {s.kind for s in got} >= {"opening"} and all(s.call_id == "c" for s in got)
    model = X.load_model()
    us = X.call_units([c])[0]
    assert [s.kind for s in X.extract_units([c], [us], model) if s.kind != "opening"] == \
        [k for u, (k, p) in zip(us, model.predict(us)) if k != X.NONE and X.non_statement(u) is None
         for k in [X.context_kind(u, k)] if k != X.NONE] + [s.kind for s in got if s.kind == "question"]
    assert all(u.vec is not None for u in us)


def test_unpunctuated_opening_keeps_the_units_identity():
    c = call("ru", [("agent", "Алло"), ("customer", "да здравствуйте я хочу окна поменять а ещё балкон утеплить")])
    us = units(c)
    op = X.find_opening(c, us)
    first = next(u for u in us if u.char_start == op.char_start)
    assert (op.call_id, op.turn, op.lang, op.start, op.context) == (first.call_id, first.turn, first.lang,
                                                                    first.start, first.context)
    assert op.feats is first.feats and op.lemmas == first.lemmas


def test_substantive_after_the_agent_asked_the_name():
    assert X._substantive(unit({"n_words": 4 / 40, "a_ask_name": 1})) is False


def test_unit_labels_ties_and_partial_overlap():
    c = call("en", [("agent", "Hi."), ("customer", "Too expensive and too far.")])
    us = units(c)
    gold = [{"turn": 1, "kind": "objection", "text": "too expensive and too far"},
            {"turn": 1, "kind": "need", "text": "too expensive and too far"}]
    assert X.unit_labels(us, gold) == ["objection"]                   # a tie keeps the first
    assert X.unit_labels(us, [{"turn": 1, "kind": "need", "text": "far"}]) == ["none"]      # 1 of 5 words
    assert X.unit_labels(us, [{"turn": 1, "kind": "need", "text": ""}, {"turn": 1, "kind": "need",
                                                                      "text": "expensive and too far"}]) == ["need"]
