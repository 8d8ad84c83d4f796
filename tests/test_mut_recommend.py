"""Recommendations (`nlp/report/recommend.py`) on small hand-built report data with known answers;
written against the mutants that survived `scripts/mutation.sh recommend`.

The offer matcher is checked with vectors laid out by hand (given through the store's vector cache,
the way `nlp.vectors.embed` reads cached vectors), so each similarity and z-score below is worked out
exactly; the real-e5 path is covered by the report tests."""

from types import SimpleNamespace

import numpy as np
import pytest

from nlp.errors import InputFormatError
from nlp.report import translations
from nlp.report import recommend as rec
from nlp.report.analysis import ThemeRow
from nlp.vectors import E5_DIM

TR = translations()["en"]


def theme(kind, tid, label, n_calls, won=0, lost=0, terms=(), quotes=(), base_label="", share=None):
    return ThemeRow(kind, tid, label, n_calls, n_calls, share if share is not None else n_calls / 10, False, won,
                    lost, list(terms), [{"text": q, "call_id": "c0"} for q in quotes], f"t-{kind}-{tid}", base_label)


def data(n_calls=10, outcomes=None, themes=None, statements=(), theme_index=None, members=None):
    outcomes = outcomes or ["won"] * 4 + ["lost"] * 4 + ["pending"] * (n_calls - 8)
    calls = {f"c{i}": {"outcome": o} for i, o in enumerate(outcomes[:n_calls])}
    return SimpleNamespace(lang="en", n_calls=n_calls, calls=calls, themes=themes or {},
                           statements=[{"call_id": c, "text": t} for c, t in statements],
                           theme_index=theme_index or {}, members=members or {})


class VectorCache:
    """The store's vector cache interface (get_vectors/put_vectors), holding hand-made vectors."""

    def __init__(self, vectors):
        self.v = {t: np.pad(np.asarray(x, dtype=np.float32), (0, E5_DIM - len(x))) for t, x in vectors.items()}

    def get_vectors(self, texts, model):
        return {t: self.v[t] for t in texts if t in self.v}

    def put_vectors(self, fresh, model):
        raise AssertionError(f"unexpected texts to embed: {list(fresh)}")


# ---- small pieces -----------------------------------------------------------------------------
@pytest.mark.parametrize("n, floor", [(0, 2), (10, 2), (40, 2), (41, 3), (100, 5), (500, 25)])
def test_min_support(n, floor):
    assert rec.min_support(n) == floor


def test_pct_and_norm():
    assert rec._pct(None) == "—" and rec._pct(0.333) == "33%" and rec._pct(1.0) == "100%"
    assert rec._norm("Too  Expensive!") == "too expensive" and rec._norm("Слишком ДОРОГО…") == "слишком дорого"


def test_read_offer_errors_and_bom(tmp_path):
    p = tmp_path / "offer.md"
    p.write_bytes("\ufeffFree delivery.\n".encode("utf-8"))
    assert rec.read_offer(p) == "Free delivery.\n"
    p.write_text("  \n", encoding="utf-8")
    with pytest.raises(InputFormatError, match="empty") as e:
        rec.read_offer(p)
    assert str(p) in str(e.value)
    with pytest.raises(InputFormatError, match="cannot read the offer") as e:
        rec.read_offer(tmp_path / "missing.md")
    assert "missing.md" in str(e.value)
    p.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(InputFormatError, match="cannot read"):
        rec.read_offer(p)


def test_offer_lines_markers_items_and_short_pieces():
    text = ("# Oak Kitchens\n"
            "1. Free delivery\n"
            "2) Installation in one day\n"
            "* _Ten year_ warranty\n"
            "\n"
            "**Bold start** of a paragraph\n"
            "that wraps.\n"
            "\n"
            "Ok.\n"
            "## Prices from 900 dollars\n")
    assert rec.offer_lines(text) == ["Free delivery", "Installation in one day", "Ten year warranty",
                                     "Bold start of a paragraph that wraps.", "Ok.", "Prices from 900 dollars"]
    assert rec.offer_lines("A.\n\nGo\n") == []          # pieces under 3 characters are no sentence


def test_wording_support_and_outcomes():
    w = rec.Wording(TR, "en")
    s = w.support(3, 10, 2, 1)
    assert s == {"calls": 3, "base": 10, "share": 0.3, "won": 2, "lost": 1,
                 "text": "Support: 3 of 10 calls (30%) where customers say it; won 2, lost 1."}
    assert w.support(0, 0, 0, 0)["share"] == 0.0
    assert w.support(2, 4, 0, 1, "rec_support_skip")["text"] == \
        "Support: 2 of 4 calls (50%) without the step; won 0, lost 1."
    d = data()
    assert rec._outcomes(d, ["c0", "c1", "c4", "c9"]) == (2, 1)


def test_compare_lost_won():
    w = rec.Wording(TR, "en")
    d = data()                       # 4 won, 4 lost
    assert rec._compare_lost_won(d, w, won=1, lost=3) == \
        "; it is heard in 3 of 4 lost calls (75%) and in 1 of 4 won calls (25%)"
    assert rec._compare_lost_won(d, w, won=2, lost=2) == ""       # not more often in the lost calls
    assert rec._compare_lost_won(d, w, won=3, lost=1) == ""
    only_won = data(outcomes=["won"] * 10)
    assert rec._compare_lost_won(only_won, w, won=1, lost=0) == ""
    only_lost = data(outcomes=["lost"] * 10)
    assert rec._compare_lost_won(only_lost, w, won=0, lost=3) == ""


def _step(sid, done_won, done_lost, skip_won, skip_lost, done=None, skipped=None, total=10, title=None):
    conv = lambda w, l: w / (w + l) if w + l else None  # noqa: E731
    done = done if done is not None else done_won + done_lost
    skipped = skipped if skipped is not None else skip_won + skip_lost
    return {"step_id": sid, "title": title or sid.title(), "total": total, "done": done, "skipped": skipped,
            "share_done": done / total if total else None, "conv_done": conv(done_won, done_lost),
            "conv_skipped": conv(skip_won, skip_lost), "won_done": done_won, "lost_done": done_lost,
            "won_skipped": skip_won, "lost_skipped": skip_lost}


def test_compare_step():
    w = rec.Wording(TR, "en")
    assert rec._compare_step(w, _step("a", 2, 1, 0, 2)) == \
        ": conversion 67% (2 of 3) when it is done, 0% (0 of 2) when it is skipped"
    assert rec._compare_step(w, _step("a", 0, 0, 1, 1)) == ""      # nothing decided among the done calls
    assert rec._compare_step(w, _step("a", 1, 1, 0, 0)) == ""      # nor among the skipped ones
    assert rec._compare_step(w, _step("a", 1, 1, 2, 2)) == ""      # same conversion


# ---- script recommendations -------------------------------------------------------------------
def _objection(tid, state, label=None, step_id=None, step_title=""):
    return {"kind": "objection", "theme_id": tid, "label": label or tid, "state": state, "step_id": step_id,
            "step_title": step_title, "anchor": f"t-objection-{tid}"}


def test_script_recommendations_objections():
    members = {("objection", "keys"): {"c1", "c2", "c5"},           # won won lost
               ("objection", "cheap"): {"c4", "c5", "c6"},           # lost lost lost
               ("objection", "cheap2"): {"c7", "c9", "gone"},        # same label: pooled; "gone" not counted
               ("objection", "rare"): {"c3"},                        # one call: below the support floor
               ("objection", "fine"): {"c0", "c1", "c2"}}
    index = {("objection", "cheap"): theme("objection", "cheap", "Others are cheaper", 3, quotes=["Cheaper there."]),
             ("objection", "cheap2"): theme("objection", "cheap2", "Others are cheaper", 2,
                                            base_label="others are CHEAPER")}
    script = {"objections": [_objection("keys", "none", "No keys yet"),
                             _objection("cheap", "weak", "Others are cheaper", "price", "Price answer"),
                             _objection("cheap2", "weak", "Others are cheaper", "price", "Price answer"),
                             _objection("rare", "none"), _objection("fine", "handled", step_id="close")],
              "steps": []}
    recs = rec.script_recommendations(data(theme_index=index, members=members), script, TR)
    assert [(r["theme_id"], r["state"], r["n_calls"]) for r in recs] == [("cheap", "weak", 5), ("keys", "none", 3)]
    cheap, keys = recs
    assert cheap["text"] == ("Check that the step “Price answer” answers the objection “Others are cheaper”: it is "
                             "the closest step of the script, but its wording matches what customers say only weakly"
                             "; it is heard in 4 of 4 lost calls (100%) and in 0 of 4 won calls (0%).")
    assert cheap["support"]["calls"] == 5 and (cheap["support"]["won"], cheap["support"]["lost"]) == (0, 4)
    assert cheap["quote"]["text"] == "Cheaper there." and cheap["step_id"] == "price"
    assert keys["text"] == "Add an answer to the objection “No keys yet” to the script: no script step answers it."
    assert keys["quote"] is None and keys["area"] == "script" and keys["kind"] == "objection"
    assert keys["anchor"] == "t-objection-keys" and "_rank" not in keys


def test_objections_rank_by_lost_then_calls_and_are_cut():
    members, objs = {}, []
    # theme i: i+2 calls, all of them lost for the "L" ones
    for i in range(7):
        ids = {f"c{4 + j}" for j in range(min(i + 2, 4))} if i % 2 else {f"c{j}" for j in range(min(i + 2, 4))}
        members[("objection", f"o{i}")] = ids
        objs.append(_objection(f"o{i}", "none", f"objection {i}"))
    recs = rec.script_recommendations(data(members=members), {"objections": objs, "steps": []}, TR)
    assert len(recs) == rec.MAX_SCRIPT_RECS
    lost = [r["support"]["lost"] for r in recs]
    assert lost == sorted(lost, reverse=True)
    assert [r["theme_id"] for r in recs] == ["o3", "o5", "o1", "o2", "o4"]


def test_script_recommendations_steps():
    steps = [_step("greeting", 4, 4, 0, 0, total=10, done=10, skipped=0),      # always done
             _step("close", 3, 2, 1, 2, total=10, done=6, skipped=4),          # 60% done, 4 skip
             _step("reason", 0, 0, 4, 4, total=10, done=0, skipped=10),        # never done
             _step("budget", 4, 2, 0, 2, total=10, done=7, skipped=3),         # 70%: not under SKIP_SHARE
             _step("lone", 0, 0, 0, 1, total=2, done=1, skipped=1),            # 1 skip: below the floor
             _step("empty", 0, 0, 0, 0, total=0, done=0, skipped=0),
             _step("pricing", 1, 1, 2, 2, total=10, done=6, skipped=4, title="Pricing")]
    recs = rec.script_recommendations(data(), {"objections": [], "steps": steps}, TR)
    assert [r["theme_id"] for r in recs] == ["reason", "close", "pricing"]     # ties: by share done, then id
    reason, close, pricing = recs
    assert reason["text"] == "Agents never do the step “Reason”."
    assert reason["support"]["text"] == "Support: 10 of 10 calls (100%) without the step; won 4, lost 4."
    assert close["text"] == ("Agents skip the step “Close”: conversion 60% (3 of 5) when it is done, "
                             "33% (1 of 3) when it is skipped.")
    assert close["anchor"] == "step-close" and close["n_calls"] == 4 and close["kind"] == "step"
    assert pricing["text"] == "Agents skip the step “Pricing”."
    # share_done unknown: not a skipped step
    unknown = dict(_step("x", 0, 0, 2, 2), share_done=None)
    assert rec.script_recommendations(data(), {"objections": [], "steps": [unknown]}, TR) == []


def test_steps_order_by_share_done_before_id():
    steps = [_step("a", 1, 1, 2, 2, total=10, done=6, skipped=4),
             _step("b", 1, 1, 2, 2, total=12, done=5, skipped=4)]   # same skips, fewer done
    recs = rec.script_recommendations(data(), {"objections": [], "steps": steps}, TR)
    assert [r["theme_id"] for r in recs] == ["b", "a"]


def test_script_recommendations_steps_are_cut_and_duplicates_dropped():
    steps = [_step(f"s{i}", 0, 0, 2, 2, total=10, done=3 + i, skipped=7 - i, title="Same") for i in range(2)]
    steps += [_step(f"t{i}", 0, 0, 2, 2, total=10, done=5, skipped=5, title=f"T{i}") for i in range(6)]
    recs = rec.script_recommendations(data(), {"objections": [], "steps": steps}, TR)
    # the first five by skips are s0 s1 t0 t1 t2; s1 says what s0 says
    assert [r["theme_id"] for r in recs] == ["s0", "t0", "t1", "t2"]


# ---- offer ------------------------------------------------------------------------------------
OFFER = "Free delivery to your door.\n\nInstallation in one day.\n"
L1, L2 = "Free delivery to your door.", "Installation in one day."


def test_match_offer_standardises_against_the_statements():
    # background: 10 statements, similarity to L1 0.5 +- 0.1, to L2 0.2 +- 0.1
    bg = {f"bg{i}": [0.5 + (0.1 if i % 2 else -0.1), 0.2 + (0.1 if i % 2 else -0.1), 0.5, 0.5] for i in range(10)}
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0],
            "Fast setup": [0.2, 0.36, 0, 0], "We set it up in a day.": [0.2, 0.36, 0, 0],     # z(L2) = 1.6
            "Warm rooms": [0.6, 0.2, 0, 0],                                                    # z(L1) = 1, z(L2) = 0
            **bg}
    themes = [theme("need", "fast", "Fast setup", 3, terms=["zzzq"], quotes=["We set it up in a day."]),
              theme("motive", "warm", "Warm rooms", 3, terms=["zzzq"])]
    out = rec.match_offer(themes, OFFER, VectorCache(vecs), list(bg) + ["bg0"])
    fast, warm = out[("need", "fast")], out[("motive", "warm")]
    assert fast.mentioned and fast.line == L2 and fast.similarity == pytest.approx(0.36)
    assert fast.lemma_share == 0.0
    assert not warm.mentioned and warm.line == L1 and warm.similarity == pytest.approx(0.6)


def test_match_offer_raw_cosine_without_enough_statements():
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0], "Door delivery": [0.95, 0, 0, 0], "Warm rooms": [0.85, 0, 0, 0],
            **{f"bg{i}": [0.1, 0.1, 0, 0] for i in range(9)}}
    themes = [theme("need", "door", "Door delivery", 3, terms=["zzzq"]),
              theme("need", "warm", "Warm rooms", 3, terms=["zzzq"])]
    out = rec.match_offer(themes, OFFER, VectorCache(vecs), [f"bg{i}" for i in range(9)])
    assert out[("need", "door")].mentioned and out[("need", "door")].line == L1
    assert not out[("need", "warm")].mentioned
    assert out[("need", "warm")].similarity == pytest.approx(0.85)


def test_match_offer_by_key_lemmas():
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0], "Delivery matters": [0, 0, 1, 0], "Quiet rooms": [0, 0, 1, 0]}
    themes = [theme("need", "deliv", "Delivery matters", 3, terms=["free delivery", "door", "price", "the"]),
              theme("need", "quiet", "Quiet rooms", 3, terms=["quiet", "rooms", "delivery"])]
    out = rec.match_offer(themes, OFFER, VectorCache(vecs))
    assert out[("need", "deliv")].mentioned and out[("need", "deliv")].lemma_share == pytest.approx(3 / 4)
    assert not out[("need", "quiet")].mentioned and out[("need", "quiet")].lemma_share == pytest.approx(1 / 3)
    # no terms: the label's own lemmas are the key
    out = rec.match_offer([theme("need", "x", "Delivery door", 3)], OFFER,
                          VectorCache({**vecs, "Delivery door": [0, 0, 1, 0]}))
    assert out[("need", "x")].mentioned and out[("need", "x")].lemma_share == 1.0


def test_match_offer_edges():
    assert rec.match_offer([], OFFER, VectorCache({})) == {}
    t = theme("need", "x", "Anything", 3)
    assert rec.match_offer([t], "# Title only\n", VectorCache({})) == {("need", "x"): rec.OfferMatch(False, 0.0, "", 0.0)}


def test_offer_recommendations():
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0], "Quiet rooms": [0, 0, 1, 0], "Quiet please": [0, 0, 1, 0],
            "Door delivery": [0.95, 0, 0, 0], "Rare wish": [0, 0, 1, 0], "Warm home": [0, 0, 1, 0], "quiet rooms": [0, 0, 1, 0],
            "It must be quiet.": [0, 0, 1, 0]}
    themes = {"need": [theme("need", "quiet", "Quiet rooms", 5, won=1, lost=3, terms=["zzzq"],
                             quotes=["It must be quiet."]),
                       theme("need", "door", "Door delivery", 6, terms=["zzzq"]),          # in the offer
                       theme("need", "rare", "Rare wish", 1, terms=["zzzq"])],            # below the floor
              "motive": [theme("motive", "quiet", "Quiet please", 5, terms=["zzzq"], base_label="quiet rooms"),
                         theme("motive", "warm", "Warm home", 7, terms=["zzzq"])],
              "objection": [theme("objection", "o", "Never mind", 9)]}
    d = data(themes=themes)
    assert rec.offer_recommendations(d, None, TR) == []
    recs = rec.offer_recommendations(d, OFFER, TR, VectorCache(vecs))
    assert [(r["kind"], r["theme_id"]) for r in recs] == [("motive", "warm"), ("motive", "quiet"), ("need", "quiet")]
    warm, _mq, quiet = recs
    assert warm["text"] == ("Say it in the offer: customers bring up “Warm home” (motive), and the offer text does "
                            "not mention it.")
    assert warm["support"]["calls"] == 7 and warm["area"] == "offer" and warm["quote"] is None
    assert warm["detail"].startswith("Closest offer line: “") and "(similarity 0.00)" in warm["detail"]
    assert quiet["support"] == {"calls": 5, "base": 10, "share": 0.5, "won": 1, "lost": 3,
                                "text": "Support: 5 of 10 calls (50%) where customers say it; won 1, lost 3."}
    assert quiet["quote"]["text"] == "It must be quiet." and quiet["anchor"] == "t-need-quiet"


def test_offer_recommendations_cut_and_same_label_once():
    names = [f"Wish number {i}" for i in range(7)] + ["WISH number 0!", "Late"]
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0], **{n: [0, 0, 1, 0] for n in names}}
    needs = [theme("need", f"n{i}", n, 9 - i, terms=["zzzq"]) for i, n in enumerate(names[:7])]
    needs.insert(1, theme("need", "dup", "WISH number 0!", 9, terms=["zzzq"]))   # reads as n0
    needs.append(theme("need", "late", "Late", 20, terms=["zzzq"]))              # 9th: only the first 8 count
    recs = rec.offer_recommendations(data(themes={"need": needs}), OFFER, TR, VectorCache(vecs))
    assert [r["theme_id"] for r in recs] == ["n0", "n1", "n2", "n3", "n4", "n5"]


# ---- second round: cases the first mutation run showed unguarded ---------------------------------
TR_RU = translations()["ru"]


def test_read_offer_errors_say_which_file_and_what_to_do(tmp_path):
    p = tmp_path / "offer.md"
    p.write_text("", encoding="utf-8")
    with pytest.raises(InputFormatError) as e:
        rec.read_offer(p)
    assert e.value.path == str(p) and "offer's text" in e.value.hint
    with pytest.raises(InputFormatError) as e:
        rec.read_offer(tmp_path / "none.md")
    assert e.value.path == str(tmp_path / "none.md") and "UTF-8" in e.value.hint


def test_russian_comparison_and_support():
    d = data()
    d.lang = "ru"
    w = rec.Wording(TR_RU, "ru")
    assert rec._compare_lost_won(d, w, won=1, lost=3) == \
        "; оно звучит в 3 из 4 проигранных звонков (75%) и в 1 из 4 выигранных звонков (25%)"
    members = {("objection", "keys"): {"c4", "c5", "c6"}}
    recs = rec.script_recommendations(
        SimpleNamespace(**{**vars(d), "members": members}),
        {"objections": [_objection("keys", "none", "Нет ключей")], "steps": []}, TR_RU)
    assert recs[0]["text"] == ("Добавьте в скрипт ответ на возражение «Нет ключей»: ни один шаг скрипта на него не "
                               "отвечает; оно звучит в 3 из 4 проигранных звонков (75%) и в 0 из 4 выигранных "
                               "звонков (0%).")
    assert recs[0]["support"]["text"] == "Опора: 3 из 10 звонков (30%), где клиенты это говорят; выиграно 0, проиграно 3."


def test_objection_pooling_support_floor_and_order():
    members = {("objection", "a"): {"c0"}, ("objection", "fine"): {"c1", "c2"},
               ("objection", "b1"): {"c4", "c5"}, ("objection", "b2"): {"c6"},
               ("objection", "c1"): {"c0", "c1"}, ("objection", "c2"): {"c2", "c3"}}
    index = {("objection", "b1"): theme("objection", "b1", "Too far", 2, base_label="too far"),
             ("objection", "b2"): theme("objection", "b2", "Слишком далеко", 1, base_label="Too far!")}
    objs = [_objection("fine", "handled", "Fine"),                     # handled first: the rest still count
            _objection("a", "none", "Anecdote"),                       # one call: below the floor, the rest go on
            _objection("b1", "none", "Too far"), _objection("b2", "none", "Слишком далеко"),  # one objection
            _objection("c1", "weak", "Same", "s1", "Step one"), _objection("c2", "weak", "Same", "s2", "Step two"),
            _objection("gone", "none", "No members")]
    recs = rec.script_recommendations(data(theme_index=index, members=members), {"objections": objs, "steps": []}, TR)
    got = {(r["theme_id"], r["step_id"]): r["n_calls"] for r in recs}
    assert got == {("b1", None): 3, ("c1", "s1"): 2, ("c2", "s2"): 2}


def test_offer_candidates_at_the_floor_and_fields():
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0], "Edge": [0, 0, 1, 0]}
    d = data(themes={"need": [theme("need", "edge", "Edge", rec.min_support(10), terms=["zzzq"])]})
    (r,) = rec.offer_recommendations(d, OFFER, TR, VectorCache(vecs))
    assert r["theme_id"] == "edge" and r["n_calls"] == 2 and r["step_id"] is None and r["state"] is None
    assert r["detail"] == f"Closest offer line: “{L1}” (similarity 0.00)."
    # an offer without a sentence: no closest line to show
    (r,) = rec.offer_recommendations(d, "# Title only\n", TR, VectorCache(vecs))
    assert r["detail"] == ""


def test_offer_background_comes_from_the_reports_calls():
    # 10 statements of the report's calls, all 0.5 +- 0.1 from L1: a theme at 0.8 is unusually close (z = 3)
    bg = {f"said {i}": [0.5 + (0.1 if i % 2 else -0.1), 0.0, 0.8, 0.0] for i in range(10)}
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0], "Near delivery": [0.8, 0.0, 0.0, 0.6], **bg,
            **{f"other call {i}": [0.9, 0.0, 0.0, 0.0] for i in range(10)}}
    t = theme("need", "near", "Near delivery", 5, terms=["zzzq"])
    statements = [(f"c{i}", f"said {i}") for i in range(10)] + [("gone", f"other call {i}") for i in range(10)]
    d = data(themes={"need": [t]}, statements=statements)
    assert rec.offer_recommendations(d, OFFER, TR, VectorCache(vecs)) == []          # mentioned by z-score
    # without the background the raw cosine (0.8 < 0.9) says not mentioned
    assert len(rec.offer_recommendations(data(themes={"need": [t]}), OFFER, TR, VectorCache(vecs))) == 1


def test_match_offer_edges_of_the_measures():
    # identical background similarities: no spread, yet the closer theme is still the closer one
    bg = {f"b{i}": [0.5, 0.0, 0.866, 0.0] for i in range(10)}
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0], "Closer": [0.6, 0.0, 0.8, 0.0], **bg}
    out = rec.match_offer([theme("need", "c", "Closer", 3, terms=["zzzq"])], OFFER, VectorCache(vecs), list(bg))
    assert out[("need", "c")].mentioned
    # raw cosine: the best line may be the second one
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0], "One day": [0.1, 0.95, 0, 0]}
    out = rec.match_offer([theme("need", "d", "One day", 3, terms=["zzzq"])], OFFER, VectorCache(vecs))
    assert out[("need", "d")].line == L2 and out[("need", "d")].mentioned
    vecs = {L1: [1, 0, 0, 0], L2: [0, 1, 0, 0], "X": [0, 0, 1, 0], "Smart TV.": [0, 0, 0, 1]}
    # half of the key lemmas in the offer is enough; only the first five terms count
    half = theme("need", "h", "X", 3, terms=["delivery", "zzzq"])
    sixth = theme("need", "s", "X", 3, terms=["aaaq", "bbbq", "cccq", "dddq", "eeeq", "delivery"])
    stop = theme("need", "t", "X", 3, terms=["the", "and"])
    three = theme("need", "3", "X", 3, terms=["day"])
    two = theme("need", "2", "X", 3, terms=["tv"])
    out = rec.match_offer([half, sixth, stop, three, two], OFFER + "\nSmart TV.\n", VectorCache(vecs))
    assert out[("need", "h")].mentioned and out[("need", "h")].lemma_share == 0.5
    assert not out[("need", "s")].mentioned and out[("need", "s")].lemma_share == 0.0
    assert not out[("need", "t")].mentioned and out[("need", "t")].lemma_share == 0.0
    assert out[("need", "3")].mentioned and not out[("need", "2")].mentioned


def test_script_recommendation_fields_and_the_step_floor():
    members = {("objection", "keys"): {"c1", "c2"}}
    steps = [_step("edge", 0, 0, 1, 1, total=3, done=1, skipped=2)]         # skipped == floor (2): shown
    recs = rec.script_recommendations(data(members=members),
                                      {"objections": [_objection("keys", "none", "No keys")], "steps": steps}, TR)
    assert [(r["kind"], r["area"], r["detail"]) for r in recs] == [("objection", "script", ""), ("step", "script", "")]
    assert recs[1]["quote"] is None and recs[1]["theme_id"] == "edge"
    # Russian support counts the calls in the genitive: "из 2 звонков", not "2 звонка"
    d = data(n_calls=2, outcomes=["won", "lost"])
    d.lang = "ru"
    assert rec.Wording(TR_RU, "ru").support(1, 2, 1, 0)["text"].startswith("Опора: 1 из 2 звонков")
