"""Call dynamics (nlp/dynamics.py) on small synthetic calls whose answers were worked out by hand, the
aggregates, and the report's dynamics table and section (with redaction on and off). No models."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from nlp.dynamics import (BACKCHANNEL_S, COLUMNS, INTERRUPT_TOL_S, MIN_GROUP_CALLS, NeedsEvidence, by_agent,
                          by_outcome, call_dynamics, count_questions, group_dynamics, script_needs,
                          store_dynamics)
from nlp.store import Store
from nlp.types import Call, Turn

STEREO = {"channels": 2}


def T(speaker, text, start=None, end=None):
    return Turn(speaker, text, start, end)


def test_talk_ratio_silence_monologue_on_a_timed_transcript():
    call = Call("c1", [T("agent", "Hello, kitchens Dom, this is Anna.", 0.0, 10.0),
                       T("customer", "I need a kitchen.", 11.0, 15.0),
                       T("agent", "What size do you need?", 16.0, 20.0),
                       T("customer", "About three metres. Is that expensive?", 21.0, 30.0)])
    d = call_dynamics(call)
    assert d.timed
    # agent 10 + 4 = 14 s, customer 4 + 9 = 13 s
    assert d.agent_speech_s == 14.0 and d.customer_speech_s == 13.0
    assert d.talk_ratio == round(14 / 27, 4)
    # 30 s from first start to last end, 27 s of speech
    assert d.duration_s == 30.0 and d.silence_share == 0.1
    assert d.longest_agent_monologue_s == 10.0 and d.longest_customer_story_s == 9.0
    assert (d.agent_questions, d.customer_questions) == (1, 1)
    assert (d.agent_turns, d.customer_turns, d.agent_words, d.customer_words) == (2, 2, 11, 10)
    # one turn after another, no channels: simultaneous speech cannot show, so it is unknown, not 0
    assert not d.overlap_measured
    assert d.overlap_s is None and d.interruptions_by_agent is None and d.interruptions is None
    # no script: the first agent question (turn 2, 16 s after the first word)
    assert (d.needs_question_turn, d.needs_question_s, d.needs_source) == (2, 16.0, "question")


def stereo_call() -> Call:
    return Call("st", [T("agent", "Let me tell you about our offer, it is great.", 0.0, 10.0),
                       T("customer", "Uh-huh.", 4.0, 4.5),                 # back-channel inside A1
                       T("customer", "Wait, how much is it?", 8.0, 12.0),  # cuts into A1
                       T("agent", "Forty thousand. Does that work for you?", 12.2, 20.0),  # hand-over
                       T("customer", "Yes, that works for us.", 19.8, 25.0),  # starts 0.2 s before A2 ends
                       T("agent", "Great.", 22.0, 23.5),                   # cuts into C3
                       T("customer", "Thanks.", 26.0, 27.5)], "en", source=dict(STEREO))


def test_stereo_overlap_and_interruptions():
    d = call_dynamics(stereo_call())
    assert d.timed and d.overlap_measured
    # agent [0,10] [12.2,20] [22,23.5] = 19.3 s; customer [4,4.5] [8,12] [19.8,25] [26,27.5] = 11.2 s
    assert d.agent_speech_s == 19.3 and d.customer_speech_s == 11.2
    assert d.talk_ratio == round(19.3 / 30.5, 4)
    # 0.5 (back-channel) + 2 (C2 over A1) + 0.2 (C3 over A2) + 1.5 (A3 inside C3)
    assert d.overlap_s == 4.2
    # speech covers [0,12] [12.2,25] [26,27.5] = 26.3 of 27.5 s
    assert d.silence_share == round(1.2 / 27.5, 4)
    # C2 starts 8 s into A1 (a cut); A3 starts 2.2 s into C3 (a cut); the back-channel and the
    # hand-overs within INTERRUPT_TOL_S of the other's end are not interruptions
    assert (d.interruptions_by_customer, d.interruptions_by_agent, d.interruptions) == (1, 1, 2)
    # A1 runs 10 s (the back-channel does not stop it, C2 does); the customer's longest is C3, 5.2 s
    assert d.longest_agent_monologue_s == 10.0 and d.longest_customer_story_s == 5.2
    assert (d.needs_question_turn, d.needs_question_s) == (3, 12.2)


def test_overlap_is_measured_on_stereo_recordings_and_overlapping_imports_only():
    turns = [T("agent", "Tell me more about it, please.", 0.0, 5.0), T("customer", "Well, we moved house.", 4.8, 9.0)]
    # an imported transcript whose times overlap (per-channel output of a cloud recogniser): measured
    d = call_dynamics(Call("imp", turns))
    assert d.overlap_measured and d.overlap_s == 0.2 and d.interruptions == 0
    # a mono recording: its pieces cannot truly overlap, whatever their edges say
    d = call_dynamics(Call("mono", turns, source={"channels": 1}))
    assert not d.overlap_measured and d.overlap_s is None and d.interruptions_by_customer is None
    # a stereo recording without overlap: a real 0
    d = call_dynamics(Call("st", [T("agent", "Hi there.", 0.0, 2.0), T("customer", "Hello.", 2.5, 4.0)],
                           source=dict(STEREO)))
    assert d.overlap_measured and d.overlap_s == 0.0 and d.interruptions == 0


def test_interruption_tolerance_edges():
    tol = INTERRUPT_TOL_S

    def cut(start):
        call = Call("x", [T("customer", "I was saying something long here.", 0.0, 10.0),
                          T("agent", "Sorry, one thing.", start, start + 2.0)], source=dict(STEREO))
        return call_dynamics(call).interruptions_by_agent

    assert cut(tol + 0.01) == 1 and cut(10.0 - tol - 0.01) == 1
    assert cut(tol) == 0 and cut(10.0 - tol) == 0 and cut(0.2) == 0 and cut(9.8) == 0
    # a back-channel inside the turn is listening, not cutting in
    short = Call("y", [T("customer", "I was saying something long here.", 0.0, 10.0),
                       T("agent", "Mm.", 5.0, 5.0 + BACKCHANNEL_S - 0.1)], source=dict(STEREO))
    assert call_dynamics(short).interruptions_by_agent == 0


def test_monologue_spans_back_channels_but_not_long_pauses_or_real_turns():
    mono = Call("m", [T("agent", "So our kitchens are made in Russia.", 0.0, 10.0),
                      T("customer", "угу", 10.5, 11.0),                    # back-channel: run goes on
                      T("agent", "And the fronts are oak, and delivery is free.", 11.5, 25.0),
                      T("agent", "Also we have a sale.", 28.0, 35.0),       # 3 s pause: a new run
                      T("customer", "Okay, and the warranty?", 35.5, 40.0)])
    d = call_dynamics(mono)
    assert d.longest_agent_monologue_s == 25.0
    assert d.longest_customer_story_s == 4.5
    # a real customer turn between two agent turns ends the run, however short the gap
    split = Call("s", [T("agent", "First part of it.", 0.0, 10.0), T("customer", "No, wait.", 10.2, 11.5),
                       T("agent", "Second part.", 11.7, 18.0)])
    assert call_dynamics(split).longest_agent_monologue_s == 10.0


def test_first_needs_question_with_and_without_a_script():
    turns = [T("agent", "Hello! How are you?", 2.0, 4.0), T("customer", "Fine.", 4.5, 5.5),
             T("agent", "Good. Tell me, what are you planning to use it for?", 6.0, 9.0),
             T("customer", "For my dacha.", 9.5, 11.0),
             T("agent", "What budget do you have in mind?", 31.0, 34.0)]
    call = Call("n", turns)
    # without a script: the first agent question after the customer first speaks (the greeting's question
    # is not about needs), timed from the first word (2 s in), not from 0
    d = call_dynamics(call)
    assert (d.needs_question_turn, d.needs_question_s, d.needs_source) == (2, 4.0, "question")
    # with a script: its needs step's evidence, even though the agent asked other questions first
    d = call_dynamics(call, NeedsEvidence(4, 31.5))
    assert (d.needs_question_turn, d.needs_question_s, d.needs_source) == (4, 29.5, "script")
    # evidence without its own time takes its turn's start
    assert call_dynamics(call, NeedsEvidence(2, None)).needs_question_s == 4.0
    # the script's needs step not performed: unknown, not the first question
    d = call_dynamics(call, NeedsEvidence(None, None))
    assert (d.needs_question_turn, d.needs_question_s, d.needs_source) == (None, None, "script")


def test_script_needs_from_the_store(tmp_path):
    with Store(tmp_path / "s") as st:
        for cid in "abc":
            st.save_call(Call(cid, [T("agent", "Hi."), T("customer", "Hello.")]), "imported")
        assert script_needs(st) is None  # no script
        with st.transaction() as db:
            for pos, (sid, title) in enumerate([("greeting", "Greeting"), ("needs_question", "Needs discovery"),
                                                ("goal", "Выявление цели / Goal"), ("close", "Closing")]):
                db.execute("INSERT INTO script_steps(step_id, position, title) VALUES (?,?,?)", (sid, pos, title))
            rows = [("a", "greeting", 1, 0, 0.0), ("a", "needs_question", 1, 7, 40.0), ("a", "goal", 1, 5, 30.0),
                    ("b", "needs_question", 0, None, None), ("b", "goal", 0, None, None),
                    ("c", "needs_question", 0, None, None), ("c", "goal", 1, 3, 12.0)]
            db.executemany("INSERT INTO adherence(call_id, step_id, present, score, turn, start) VALUES (?,?,?,0.5,?,?)",
                           rows)
        needs = script_needs(st)
        # two needs steps: the earliest performed one counts; none performed -> turn None
        assert needs == {"a": NeedsEvidence(5, 30.0), "b": NeedsEvidence(None, None), "c": NeedsEvidence(3, 12.0)}
        d = store_dynamics(st, ["a"])[0]
        assert d.needs_source == "script" and d.needs_question_turn is None  # turn 5 is beyond this call


def test_text_call_without_times_gets_counts_only():
    call = Call("txt", [T("agent", "Hello! What can I do for you?"), T("customer", "How much is the oak kitchen?"),
                        T("agent", "From 200 thousand. Do you need delivery?"), T("customer", "No.")])
    d = call_dynamics(call)
    assert not d.timed and not d.overlap_measured
    for f in ("duration_s", "agent_speech_s", "customer_speech_s", "talk_ratio", "longest_agent_monologue_s",
              "longest_customer_story_s", "interruptions_by_agent", "interruptions_by_customer", "overlap_s",
              "silence_share", "needs_question_s"):
        assert getattr(d, f) is None, f
    assert (d.agent_turns, d.customer_turns, d.agent_questions, d.customer_questions) == (2, 2, 2, 1)
    assert (d.needs_question_turn, d.needs_source) == (2, "question")  # not the greeting's question
    # starts only (an Otter export): time to the needs question is known, durations are not
    starts = Call("o", [T("agent", "Hi.", 1.0), T("customer", "Hello.", 3.0), T("agent", "What do you need?", 5.5)])
    d = call_dynamics(starts)
    assert not d.timed and d.talk_ratio is None and d.needs_question_s == 4.5
    # no punctuation at all (some recognisers write none): questions cannot be counted
    bare = Call("u", [T("agent", "добрый день чем могу помочь"), T("customer", "сколько стоит кухня")])
    d = call_dynamics(bare)
    assert d.agent_questions is None and d.customer_questions is None and d.needs_question_turn is None
    assert d.needs_source == "" and d.agent_words == 5


def test_empty_and_one_sided_calls():
    d = call_dynamics(Call("e", []))
    assert (d.timed, d.agent_turns, d.customer_turns, d.agent_questions, d.customer_questions) == (False, 0, 0, 0, 0)
    assert d.talk_ratio is None and d.silence_share is None and d.needs_question_turn is None
    assert d.needs_source == ""
    one = Call("o", [T("agent", "Hello? Hello, can you hear me?", 0.0, 4.0), T("agent", "I'll call back.", 7.0, 9.0)],
               source=dict(STEREO))
    d = call_dynamics(one)
    assert d.talk_ratio == 1.0 and d.agent_speech_s == 6.0 and d.customer_speech_s == 0.0
    # a timed call where the customer never speaks: the longest story is a real 0 s
    assert d.longest_customer_story_s == 0.0 and d.longest_agent_monologue_s == 4.0  # 3 s pause splits
    assert (d.overlap_s, d.interruptions) == (0.0, 0)
    assert d.silence_share == round(3 / 9, 4) and d.agent_questions == 2


def test_count_questions():
    assert count_questions("Really?? Why? Ok.") == 2
    assert count_questions("Да？ Нет") == 1 and count_questions("") == 0


def test_aggregates_medians_counts_and_small_sample_notes():
    rows = [call_dynamics(Call(f"c{i}", [T("agent", "Hi, what do you need?", 0.0, 2.0 + i),
                                          T("customer", "A kitchen.", 3.0 + i, 5.0 + i)])) for i in range(6)]
    rows.append(call_dynamics(Call("txt", [T("agent", "Hi?"), T("customer", "Yes.")])))
    # talk ratios (2+i)/(4+i): i=0..5 -> 0.5, 0.6, 0.6667, 0.7143, 0.75, 0.7778; median of 6 known
    g = group_dynamics("all", rows)
    assert (g.n_calls, g.n_timed, g.known["talk_ratio"], g.known["agent_questions"]) == (7, 6, 6, 7)
    assert g.medians["talk_ratio"] == pytest.approx((0.6667 + 0.7143) / 2)
    assert g.medians["longest_agent_monologue_s"] == 4.5 and g.medians["interruptions_by_agent"] is None
    assert not g.few and g.note == ""
    agents = {"c0": "Anna", "c1": "Anna", "c2": "Boris", "c3": "Anna", "c4": "Anna", "c5": "Anna", "txt": None}
    ga = by_agent(rows, agents)
    assert [(x.group, x.n_calls, x.few) for x in ga] == [("Anna", 5, False), ("Boris", 1, True)]
    assert "too few" in ga[1].note
    outcomes = {"c0": "won", "c1": "won", "c2": "lost", "c3": "pending", "c4": "won", "c5": "lost"}
    (won, lost), note = by_outcome(rows, outcomes)
    assert (won.n_calls, lost.n_calls) == (3, 2) and won.medians["talk_ratio"] == 0.6
    assert note.startswith("too few calls to compare") and str(MIN_GROUP_CALLS) in note
    _, note = by_outcome(rows, {r.call_id: "won" for r in rows})
    assert note.startswith("no calls")


# ---- the report -------------------------------------------------------------------------------
PERSONAL_ID = "20260915_094210.552+0300_out_+79031112233_Анна Смирнова"


def _report_store(path):
    from test_report import make_store

    st = make_store(path, "ru", n=12)
    # a recorder's file name with the customer's phone and name as the call id, plus a stereo call
    st.save_call(Call(PERSONAL_ID, [T("agent", "Добрый день! Что для вас важно?", 0.0, 5.0),
                                    T("customer", "Нужна кухня побыстрее.", 4.0, 9.0)], "ru",
                      {"agent": "Ирина", "outcome": "won"}, {"channels": 2}), "imported")
    return st


def test_report_writes_dynamics_table_and_section(tmp_path):
    from nlp.report import build_report

    st = _report_store(tmp_path / "s")
    res = build_report(st, tmp_path / "out")
    df = pd.read_csv(res.out_dir / "tables/dynamics.csv", encoding="utf-8-sig")
    assert tuple(df.columns) == ("call_id", "agent", "outcome") + COLUMNS[1:]
    assert len(df) == res.n_calls == 13
    # make_store's call i: agent 0-3 s, then per statement customer 4 s and agent 1.5 s
    row = df[df.call_id == "ru-call-001"].iloc[0]  # 6 statements (4 kinds + 2 objections)
    assert row.agent_speech_s == pytest.approx(3 + 6 * 1.5) and row.customer_speech_s == pytest.approx(6 * 4)
    assert row.talk_ratio == pytest.approx(12 / 36, abs=1e-4)
    assert row.needs_source == "script" and row.needs_question_s == 0.0  # the test script's needs step, turn 0
    assert pd.isna(row.overlap_s) and row.timed == 1 and row.overlap_measured == 0
    stereo = df[df.overlap_measured == 1].iloc[0]
    assert stereo.overlap_s == 1.0 and stereo.interruptions_by_customer == 1
    # whole numbers stay whole next to unknown cells (the stereo call's interruptions, a call without
    # a needs question): "2", never "2.0"
    import csv

    with open(res.out_dir / "tables/dynamics.csv", encoding="utf-8-sig", newline="") as f:
        raw = list(csv.DictReader(f))
    whole = ("agent_turns", "agent_questions", "interruptions_by_agent", "interruptions_by_customer",
             "needs_question_turn", "timed", "overlap_measured")
    assert all(re.fullmatch(r"\d*", r[c]) for r in raw for c in whole), [(r[c]) for r in raw for c in whole]
    assert any(r["needs_question_turn"] == "" for r in raw) and any(r["interruptions_by_customer"] == "1" for r in raw)
    groups = pd.read_csv(res.out_dir / "tables/dynamics_groups.csv", encoding="utf-8-sig")
    assert {"all", "agent", "outcome"} == set(groups.kind)
    assert groups[groups.kind == "all"].calls.iloc[0] == 13
    html, md = res.html.read_text(), res.md.read_text()
    assert 'id="dynamics"' in html and "Динамика разговора" in html and "## Динамика разговора" in md
    assert html.count('class="chart"') > 0 and "dyn-agents" in html
    en = build_report(st, tmp_path / "en", lang="en")
    assert "Call dynamics" in en.html.read_text() and "## Call dynamics" in en.md.read_text()
    st.close()


def test_dynamics_csv_is_redacted(tmp_path):
    from nlp.report import build_report

    st = _report_store(tmp_path / "s")
    res = build_report(st, tmp_path / "on")
    text = (res.out_dir / "tables/dynamics.csv").read_text(encoding="utf-8-sig")
    for secret in ("79031112233", "Смирнова", "Анна", PERSONAL_ID):
        assert secret not in text, secret
    shown = st.call_id_for(PERSONAL_ID)
    assert shown.startswith("call-") and shown in text
    # the agent column is what the report's agents table shows
    agents = pd.read_csv(res.out_dir / "tables/agents.csv", encoding="utf-8-sig")
    dyn = pd.read_csv(res.out_dir / "tables/dynamics.csv", encoding="utf-8-sig")
    assert set(dyn.agent.dropna()) == set(agents.agent)
    # and with redaction off the original id is there (the check above can fail)
    off = build_report(st, tmp_path / "off", redact=False)
    assert PERSONAL_ID in (off.out_dir / "tables/dynamics.csv").read_text(encoding="utf-8-sig")
    st.close()
