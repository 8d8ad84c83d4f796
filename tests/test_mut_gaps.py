"""Script gaps (`nlp/gaps/`): statistics, step kinds, calibration and the adherence decision, on
hand-made rows and features with known answers; written against the mutants that survived
`scripts/mutation.sh gaps`. Matching by meaning (e5) runs in tests/test_gaps.py."""

import math

import numpy as np
import pytest
from scipy.stats import fisher_exact

from nlp.errors import InputFormatError
from nlp.gaps import adherence as A
from nlp.gaps import calibration as C
from nlp.gaps import kinds as K
from nlp.gaps import matching as M
from nlp.gaps import stats as S
from nlp.script import Script, ScriptStep
from nlp.types import Call, Turn

SCRIPT = Script("T", [ScriptStep("greeting", "Greeting"), ScriptStep("needs", "Needs"),
                      ScriptStep("handle_price", "Price objection"), ScriptStep("close", "Closing")])


def calls(outcomes, agents=None):
    agents = agents or [""] * len(outcomes)
    return [Call(f"c{i}", [Turn("agent", "hi")], "en", {"outcome": o, **({"agent": a} if a else {})})
            for i, (o, a) in enumerate(zip(outcomes, agents))]


def rows(present, turns=None):
    """present: per call a list of 0/1 per step of SCRIPT; turns: per call the turn of each step."""
    out = []
    for c, ps in enumerate(present):
        for k, p in enumerate(ps):
            t = turns[c][k] if turns else k
            out.append(A.AdherenceRow(f"c{c}", SCRIPT.steps[k].step_id, p, 0.9 if p else 0.1,
                                      "x" if p else None, t if p else None, None))
    return out


# ---- kinds -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("sid, title, kind, anywhere", [
    ("handle_price", "Price objection", "objection", True),
    ("greeting", "Greeting", "greeting", False),
    ("s1", "Запись разговора", "recording_notice", True),
    ("s2", "Ask the budget (any time)", "qualification", True),
    ("s3", "Closing (в любой момент)", "closing", True),
    ("s4", "Something else", "other", False),
    ("book-visit", "Visit", "booking", False),
])
def test_step_kinds(sid, title, kind, anywhere):
    assert K.step_kind(sid, title) == kind
    assert K.any_position(sid, title) is anywhere and K.fixed_order(sid, title) is (not anywhere)


def test_kind_list():
    ks = K.all_kinds()
    assert ks[0] == "objection" and ks[-1] == "other" and len(ks) == len(set(ks))


# ---- statistics ------------------------------------------------------------------------------------
def test_step_stats_rates_outcomes_and_agents():
    cs = calls(["won", "won", "lost", "lost", None], agents=["Ann", "Bob", "Ann", "", "Bob"])
    present = [[1, 1, 0, 1], [1, 0, 0, 1], [1, 1, 0, 0], [0, 1, 1, 0], [1, 0, 0, 0]]
    st = S.step_stats(cs, SCRIPT, rows(present), too_early={"needs": 2})
    by = {(s.step_id, s.agent): s for s in st}
    g = by[("greeting", "")]
    assert (g.calls, g.present, g.rate, g.position) == (5, 4, 0.8, 1) and g.title == "Greeting"
    assert (g.won_with, g.lost_with, g.won_without, g.lost_without) == (2, 1, 0, 1)
    assert g.win_rate_with == round(2 / 3, 3) and g.win_rate_without == 0.0
    assert by[("needs", "")].too_early == 2 and g.too_early == 0 and by[("needs", "Ann")].too_early == 0
    ann = by[("needs", "Ann")]
    assert (ann.calls, ann.present, ann.rate) == (2, 2, 1.0)
    assert [s.agent for s in st if s.step_id == "close"] == ["", "Ann", "Bob"]
    assert len(st) == 4 * 3


def test_outcome_notes_and_fisher():
    st = S.StepStats("s", "S", 1, "", 0, 0, 0.0)
    S._outcome(st, [1, 0, 1], [None, "pending", None])
    assert st.outcome_note == "no won/lost outcomes" and st.win_rate_with is None and st.fisher_p is None
    st = S.StepStats("s", "S", 1, "", 0, 0, 0.0)
    S._outcome(st, [1, 1, 0, 0], ["won", "lost", "won", "lost"])
    assert st.outcome_note.startswith("too few calls to compare (with step 2, without 2 won/lost calls; need 5 each)")
    p = [1] * 10 + [0] * 10
    o = ["won"] * 9 + ["lost"] + ["lost"] * 9 + ["won"]
    st = S.StepStats("s", "S", 1, "", 0, 0, 0.0)
    S._outcome(st, p, o)
    want = round(fisher_exact([[9, 1], [1, 9]])[1], 4)
    assert st.fisher_p == want and st.win_rate_with == 0.9 and st.win_rate_without == 0.1
    assert st.outcome_note == f"calls with the step were won more often (90% vs 10%, Fisher p={want:.3f})"
    st = S.StepStats("s", "S", 1, "", 0, 0, 0.0)
    S._outcome(st, p, list(reversed(o)))
    assert st.outcome_note.startswith("calls without the step were won more often (10% vs 90%")
    st = S.StepStats("s", "S", 1, "", 0, 0, 0.0)
    S._outcome(st, p, ["won", "lost"] * 10)
    assert st.outcome_note == f"no clear difference (50% won with the step vs 50% without, Fisher p={st.fisher_p:.2f})"
    assert st.fisher_p == 1.0
    assert S._fisher(9, 1, 1, 9) == pytest.approx(fisher_exact([[9, 1], [1, 9]])[1])
    # exactly five won/lost calls on each side is enough to compare
    st = S.StepStats("s", "S", 1, "", 0, 0, 0.0)
    S._outcome(st, [1] * 5 + [0] * 5, ["won"] * 5 + ["lost"] * 5)
    assert not st.outcome_note.startswith("too few")


def test_order_issues():
    cs = calls(["won"] * 4)
    present = [[1, 1, 1, 1]] * 4
    # c0 in order; c1 needs before greeting; c2 needs before greeting and close before needs; c3 no turns
    turns = [[0, 1, 5, 3], [2, 1, 0, 3], [3, 2, 9, 1], [None, None, None, None]]
    issues, early = S.order_issues(cs, SCRIPT, rows(present, turns))
    got = {(o.step_first, o.step_then): (o.calls_both, o.calls_inverted, o.share, o.examples) for o in issues}
    # the price objection may come anywhere: never part of an order issue
    assert all("handle_price" not in k for k in got)
    assert got[("greeting", "needs")] == (3, 2, round(2 / 3, 3), ["c1", "c2"])
    assert got[("greeting", "close")] == (3, 1, round(1 / 3, 3), ["c2"])
    assert got[("needs", "close")] == (3, 1, round(1 / 3, 3), ["c2"])
    assert list(got)[0] == ("greeting", "needs")          # most inverted calls first
    assert early == {"needs": 2, "close": 1}
    # absent steps take no part
    issues, early = S.order_issues(cs[:1], SCRIPT, rows([[1, 0, 0, 1]], [[5, 0, 0, 1]]))
    assert [(o.step_first, o.step_then) for o in issues] == [("greeting", "close")] and early == {"close": 1}


def test_order_issues_use_the_first_unit_when_matched():
    cs = calls(["won"])
    r = rows([[1, 1, 0, 0]], [[0, 1, None, None]])
    units = [M.Unit(0, 7, 0, "a", 0.0, None), M.Unit(0, 2, 0, "b", 0.0, None)]
    m = M.Matching(units, np.zeros((2, 4)), np.zeros((4, 1)), np.zeros((1, 4), int), np.zeros((1, 4), int),
                   np.array([[0, 1, -1, -1]]), 1, 4, [])
    issues, early = S.order_issues(cs, SCRIPT, r, m)
    assert [(o.step_first, o.step_then, o.calls_inverted) for o in issues] == [("greeting", "needs", 1)]
    m.first_unit = np.array([[-1, 1, -1, -1]])             # no unit: the evidence turn (0) counts
    assert S.order_issues(cs, SCRIPT, r, m)[0] == []


# ---- calibration -----------------------------------------------------------------------------------
def _xy(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(M.FEATURES)))
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)
    return X, y


def test_calibrator_learns_standardises_clips_and_round_trips():
    X, y = _xy()
    cal = C.AdherenceCalibrator().fit(X, y)
    assert (cal.predict(X) == y).mean() > 0.85
    assert cal.mean_ == pytest.approx(np.clip(X, cal.lo_, cal.hi_).mean(axis=0))
    assert cal.lo_ == pytest.approx(np.percentile(X, 0.5, axis=0)) and cal.hi_ == pytest.approx(np.percentile(X, 99.5, axis=0))
    p = cal.predict_proba(X[:5])
    assert p.shape == (5, 2) and p.sum(axis=1) == pytest.approx(np.ones(5))
    assert p[:, 1] == pytest.approx(1 / (1 + np.exp(-cal.decision_function(X[:5]))))
    # far outside the training range: scored as at its edge
    far = X[:1].copy()
    far[0, 0] = 1e6
    edge = X[:1].copy()
    edge[0, 0] = cal.hi_[0]
    assert cal.decision_function(far) == pytest.approx(cal.decision_function(edge))
    back = C.AdherenceCalibrator.from_dict(cal.to_dict())
    assert back.decision_function(X) == pytest.approx(cal.decision_function(X)) and back.threshold == cal.threshold
    assert back.C == cal.C
    with pytest.raises(InputFormatError, match="other features"):
        C.AdherenceCalibrator.from_dict({**cal.to_dict(), "features": ["x"]})
    # a constant feature keeps scale 1 instead of dividing by zero
    Xc = X.copy()
    Xc[:, 2] = 3.0
    assert C.AdherenceCalibrator().fit(Xc, y).scale_[2] == 1.0
    # the threshold decides predict
    hi = C.AdherenceCalibrator(threshold=0.99).fit(X, y)
    assert hi.predict(X).sum() < cal.predict(X).sum()


def test_step_adapter_moves_each_step_towards_its_labels():
    G = np.zeros((30, 3))
    Y = np.zeros((30, 3))
    Y[:, 0] = 1                 # always performed
    Y[:15, 1] = 1               # half
    ad = C.StepAdapter().fit(G, Y)
    p = ad.predict_proba(np.zeros((1, 3)))[0]
    assert p[0] > 0.8 and abs(p[1] - 0.5) < 0.1 and p[2] < 0.2
    assert ad.decision_function(np.ones((1, 3))) == pytest.approx(1 + ad.shared_ + ad.shift_[None, :])
    # few labels move a step less than many
    few = C.StepAdapter().fit(np.zeros((2, 1)), np.ones((2, 1)))
    many = C.StepAdapter().fit(np.zeros((30, 1)), np.ones((30, 1)))
    assert 0 < few.shared_ + few.shift_[0] < many.shared_ + many.shift_[0]
    with pytest.raises(ValueError, match="one shape"):
        C.StepAdapter().fit(np.zeros((2, 2)), np.zeros((2, 3)))
    with pytest.raises(ValueError):
        C.StepAdapter().fit(np.zeros(3), np.zeros(3))


def test_step_adapter_weights_and_newton():
    Y = np.array([[1, 0], [0, 0], [0, 0], [0, 0]])
    W = C.StepAdapter._weights(Y)
    # step 0: 1 positive of 4 -> (4+2)/(2*2) = 1.5 for it, (4+2)/(2*4) = 0.75 for the others
    assert W[:, 0] == pytest.approx([1.5, 0.75, 0.75, 0.75])
    assert W[:, 1] == pytest.approx([6 / 10] * 4)
    b = C.StepAdapter._newton(np.zeros(4), np.array([1.0, 1, 1, 0]), np.ones(4), prior=0.0)
    assert b == pytest.approx(math.log(3), abs=1e-4)            # the maximum likelihood: logit(3/4)
    assert C.StepAdapter._newton(np.zeros(4), np.array([1.0, 1, 1, 0]), np.ones(4), prior=1.0) < b
    assert C.StepAdapter._newton(np.full(4, math.log(3)), np.array([1.0, 1, 1, 0]), np.ones(4), 0.0) == \
        pytest.approx(0.0, abs=1e-4)
    assert C.StepAdapter._newton(np.zeros(4), np.array([1.0, 1, 1, 0]), np.ones(4), 0.0, x0=math.log(3)) == \
        pytest.approx(0.0, abs=1e-4)
    # all positive without a prior: steps are clipped to 2 per iteration, 25 iterations at most
    assert C.StepAdapter._newton(np.zeros(2), np.ones(2), np.ones(2), prior=0.0) <= 50.0


def test_shipped_calibration_and_leaving_a_business_out(tmp_path):
    d = C.load_calibration()
    cal = C.calibrator_from_file()
    assert cal.coef_ == pytest.approx(np.asarray(d["model"]["coef"]))
    groups = d["train"]["groups"]
    g = groups[0]
    left_out = C.calibrator_from_file(exclude_groups=[g])
    assert not np.allclose(left_out.coef_, cal.coef_)
    assert C.calibrator_from_file(exclude_groups=["no-such-script"]).coef_ == pytest.approx(cal.coef_)
    (tmp_path / "bad.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputFormatError, match="calibration"):
        C.load_calibration(tmp_path / "bad.json")


def test_adapt_to_script_adds_labelled_rows_and_shifts():
    X, y = _xy(120)
    train = {"X": X.tolist(), "y": y.tolist(), "weights": [1.0] * len(y)}
    base = C.AdherenceCalibrator().fit(X, y)
    Xl = np.zeros((4, 2, len(M.FEATURES)))
    Yl = np.array([[1, 0]] * 4)
    cal, ad = C.adapt_to_script(base, Xl, Yl, train=train)
    assert cal is not base and cal.C == base.C
    p = ad.predict_proba(cal.decision_function(Xl.reshape(-1, len(M.FEATURES))).reshape(4, 2))
    assert (p[:, 0] > p[:, 1]).all()
    same, _ = C.adapt_to_script(base, Xl, Yl, train={"X": []})
    assert same is base
    with pytest.raises(ValueError, match="calls, steps, features"):
        C.adapt_to_script(base, np.zeros((4, len(M.FEATURES))), Yl, train=train)


# ---- the adherence decision ------------------------------------------------------------------------
class _Cal:
    threshold = 0.5

    def __init__(self, p):
        self.p = np.asarray(p, dtype=float)

    def predict_proba(self, X):
        return np.column_stack([1 - self.p, self.p])


def test_score_adherence_rows_evidence_and_closest():
    cs = [Call("a", [Turn("agent", "Hello, this is Anna."), Turn("agent", "Goodbye.")], "en", {}),
          Call("b", [Turn("agent", "Hi.")], "en", {})]
    script = Script("T", [ScriptStep("greeting", "Greeting"), ScriptStep("close", "Closing")])
    units = [M.Unit(0, 0, 0, "Hello, this is Anna.", 0.0, 1.5), M.Unit(0, 1, 0, "Goodbye.", 1.0, 9.0),
             M.Unit(1, 0, 0, "Hi.", 0.0, None)]
    m = M.Matching(units, np.zeros((3, 2)), np.zeros((4, len(M.FEATURES))), np.array([[0, 1], [2, -1]]),
                   np.array([[0, 1], [2, -1]]), np.array([[0, 1], [2, -1]]), 2, 2, ["greeting", "closing"])
    r, m2 = A.score_adherence(cs, script, matching=m, calibrator=_Cal([0.9, 0.5, 0.3, 0.2]))
    assert m2 is m
    assert [(x.call_id, x.step_id, x.present, x.score) for x in r] == [
        ("a", "greeting", 1, 0.9), ("a", "close", 1, 0.5), ("b", "greeting", 0, 0.3), ("b", "close", 0, 0.2)]
    assert (r[0].evidence, r[0].turn, r[0].start, r[0].closest) == ("Hello, this is Anna.", 0, 1.5, None)
    assert (r[1].evidence, r[1].turn, r[1].start) == ("Goodbye.", 1, 9.0)
    assert (r[2].evidence, r[2].turn, r[2].closest, r[2].closest_turn) == (None, None, "Hi.", 0)
    assert (r[3].evidence, r[3].closest, r[3].closest_turn) == (None, None, None)


def test_score_adherence_hand_labels_are_the_truth_for_their_calls():
    cs = [Call(f"c{i}", [Turn("agent", "x")], "en", {}) for i in range(3)]
    script = Script("T", [ScriptStep("greeting", "Greeting"), ScriptStep("close", "Closing")])
    rng = np.random.default_rng(1)
    X = rng.normal(size=(6, len(M.FEATURES)))
    units = [M.Unit(i, 0, 0, "x", 0.0, None) for i in range(3)]
    idx = np.array([[0, 0], [1, 1], [2, 2]])
    m = M.Matching(units, np.zeros((3, 2)), X, idx, idx, idx, 3, 2, ["greeting", "closing"])
    cal = C.AdherenceCalibrator().fit(*_xy(120))
    plain, _ = A.score_adherence(cs, script, matching=m, calibrator=cal)
    assert [x.score for x in plain] == [round(float(p), 4) for p in cal.predict_proba(X)[:, 1]]
    labels = {"c0": {"close"}}
    r, _ = A.score_adherence(cs, script, matching=m, calibrator=cal, labels=labels)
    assert (r[0].present, r[1].present) == (0, 1)
    assert [x.score for x in r] != [x.score for x in plain]      # the adapted model scores every call
    assert A.score_adherence([], script, matching=M.Matching([], np.zeros((0, 2)), np.zeros((0, len(M.FEATURES))),
                                                             np.zeros((0, 2), int), np.zeros((0, 2), int),
                                                             np.zeros((0, 2), int), 0, 2, []), calibrator=cal)[0] == []


# ---- matching helpers (numbers only) ---------------------------------------------------------------
def test_per_step_and_exclusivity():
    raw = np.array([[0.1, 0.5, 0.3], [0.9, 0.2, 0.4]], dtype=np.float32)
    owner = np.array([0, 0, 1])
    assert np.allclose(M._per_step(raw, owner, 3), [[0.5, 0.3, -1.0], [0.9, 0.4, -1.0]])
    assert np.allclose(M._per_step(raw, owner, 2, mask=np.array([True, False, True])), [[0.1, 0.3], [0.9, 0.4]])
    sims = np.array([[0.9, 0.5, 0.2], [0.3, 0.3, 0.1]])
    assert np.allclose(M._excl(sims), [[0.4, -0.4, -0.7], [0.0, 0.0, -0.2]])
    assert M._excl(np.array([[0.7], [0.2]])).tolist() == [[0.0], [0.0]]


def test_step_spread():
    P = np.array([[1, 0, 0], [0.8, 0.6, 0], [0, 1, 0], [0, 0, 1]], dtype=float)
    owner = np.array([0, 0, 1, 1])
    is_title = np.array([False, False, False, False])
    intra, inter = M._step_spread(P, owner, is_title, 2)
    assert intra.tolist() == pytest.approx([0.8, 0.0]) and inter.tolist() == pytest.approx([0.6, 0.6])
    # a step with one example takes the mean of the others
    intra, _ = M._step_spread(P[:3], owner[:3], is_title[:3], 2)
    assert intra.tolist() == pytest.approx([0.8, 0.8])
    # titles count only when a step has fewer than two examples
    intra, _ = M._step_spread(P, owner, np.array([True, False, False, False]), 2)
    assert intra.tolist() == pytest.approx([0.8, 0.0])


# ---- second round ---------------------------------------------------------------------------------
def test_exclusivity_with_two_steps():
    assert np.allclose(M._excl(np.array([[0.9, 0.5], [0.2, 0.7]])), [[0.4, -0.4], [-0.5, 0.5]])


def test_step_spread_titles_three_examples_and_empty_steps():
    s2 = 1 / np.sqrt(2)
    P = np.array([[1, 0, 0], [0, 1, 0], [s2, s2, 0],      # step 0: title (row 0) and two examples
                  [0, 0, 1]], dtype=float)                  # step 1: one example
    owner = np.array([0, 0, 0, 1])
    is_title = np.array([True, False, False, False])
    intra, inter = M._step_spread(P, owner, is_title, 3)
    # the two examples only (title left out): their cosine s2
    assert intra[0] == pytest.approx(s2)
    # step 1 (one example) and step 2 (none) take the mean of the others; an empty step has no neighbour
    assert intra[1] == pytest.approx(s2) and intra[2] == pytest.approx(s2)
    assert inter.tolist() == pytest.approx([0.0, 0.0, 0.0])
    # three examples, no title: mean over rows of each row's best other example
    owner3 = np.array([0, 0, 0, 1])
    intra, _ = M._step_spread(P, owner3, np.zeros(4, bool), 2)
    assert intra[0] == pytest.approx((s2 + s2 + s2) / 3)
    P2 = np.array([[1, 0], [0.6, 0.8], [0, 1]], dtype=float)
    intra, _ = M._step_spread(P2, np.array([0, 0, 0]), np.zeros(3, bool), 1)
    assert intra[0] == pytest.approx((0.6 + 0.8 + 0.8) / 3)
    # no step with two examples: a fixed 0.85
    intra, _ = M._step_spread(np.eye(2), np.array([0, 1]), np.zeros(2, bool), 2)
    assert intra.tolist() == pytest.approx([0.85, 0.85])


def test_adapt_to_script_uses_the_shipped_table_and_its_weights():
    X, y = _xy(120)
    base = C.AdherenceCalibrator(threshold=0.4).fit(X, y)
    Xl = np.zeros((4, 2, len(M.FEATURES)))
    Yl = np.array([[1, 0]] * 4)
    cal, _ = C.adapt_to_script(base, Xl, Yl)
    shipped = C.load_calibration()["train"]
    assert cal.threshold == 0.4 and cal.C == base.C
    assert cal.lo_ == pytest.approx(np.percentile(np.vstack([np.asarray(shipped["X"]), Xl.reshape(-1, len(M.FEATURES))]),
                                                  0.5, axis=0))
    # the table's weights count: all zero but one row each class vs. none given
    w = [0.0] * len(y)
    w[int(np.argmax(y))], w[int(np.argmin(y))] = 1.0, 1.0
    a, _ = C.adapt_to_script(base, Xl, Yl, train={"X": X.tolist(), "y": y.tolist(), "weights": w})
    b, _ = C.adapt_to_script(base, Xl, Yl, train={"X": X.tolist(), "y": y.tolist()})
    assert not np.allclose(a.coef_, b.coef_)
