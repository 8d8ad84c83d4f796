"""Call dynamics: who talks and for how long, who asks, who cuts in, how soon the agent asks about needs.

Plain arithmetic over a call's turns (speaker, start, end, text); nothing is learnt. All times are in
seconds, measured on the call's own clock (the recording's, or the imported transcript's).

What needs what:
- Counts that need no times (`agent_turns`, `agent_words`, `agent_questions`, `needs_question_turn`, the
  customer's counterparts) are filled for every call. Question counts are None for a call whose text has
  no punctuation at all (some speech recognisers and exports write none): "?" cannot be counted there.
- Durations (`talk_ratio`, speech seconds, monologues, `silence_share`) need a start and an end on every
  turn (`timed`); otherwise they are None, never a made-up 0.
- Overlap and interruptions need both sides' speech on their own clocks (`overlap_measured`): a stereo
  recording (`source.channels` >= 2: each channel is one side, so simultaneous speech is exact), or an
  imported transcript (no `source.channels`) whose times themselves show both sides at once (per-channel
  output of a cloud recogniser). A mono recording (`source.channels` 1) or a transcript written one turn
  after another cannot show two people speaking together, so these are None there.
- `needs_question_s` needs the start of the needs turn and of the first turn.

Definitions (the constants are below):
- Speech time of a side: the length of the union of its turns' [start, end] intervals.
- `talk_ratio`: agent speech / (agent speech + customer speech), 0..1; overlapping speech counts for both.
- Back-channel: a turn shorter than BACKCHANNEL_S ("uh-huh", "да", "угу"): listening, not taking the floor.
- Monologue / story: a run of one side's turns in time order during which the other side says nothing but
  back-channels, each turn starting less than MONOLOGUE_GAP_S after the run's speech so far ends; it lasts
  from the run's first start to its last end. `longest_agent_monologue_s`, `longest_customer_story_s`:
  the longest run of each side (0.0 for a timed call where that side never speaks).
- Interruption: a turn of side B, not a back-channel, that starts strictly inside a turn of side A with
  INTERRUPT_TOL_S to spare at both ends: A.start + tol < B.start < A.end - tol. Counted once per B turn,
  as `interruptions_by_agent` (B = agent) or `interruptions_by_customer`.
- `overlap_s`: the length of the intersection of both sides' speech (back-channels included).
- `silence_share`: the share of the time from the first turn's start to the last turn's end in which
  nobody speaks, 0..1.
- Questions: runs of "?" in a side's text ("Really?? Why?" is 2).
- Needs question: with a script whose steps include one of kind "needs" (`nlp.gaps.kinds.step_kind`) and
  adherence results for the call (`callbridge gaps`), the earliest needs step performed, at its evidence
  turn and time; None when the agent did not perform it (`needs_source` "script"). Otherwise the first
  agent turn with a "?" after the customer's first turn (`needs_source` "question"): the greeting's "How
  can I help?" comes before and asks for the reason of the call, not about needs. `needs_question_s` is
  counted from the first turn's start (ringing before anyone speaks is not the agent's delay); a question
  inside a long turn is timed at the turn's start, the finest time a turn carries.

The tolerances, and why:
- INTERRUPT_TOL_S = 0.5: speech-recogniser segment boundaries are off by a few tenths of a second
  (voice-activity padding, word timestamps), and in conversation the next speaker usually starts within
  about 0.2 s of the last one stopping, often slightly before. A start within 0.5 s of the other's end is
  a hand-over; within 0.5 s of the other's start, both began together and nobody was cut off.
- BACKCHANNEL_S = 1.0: "uh-huh", "yes", "угу" last well under a second; a real turn lasts longer.
- MONOLOGUE_GAP_S = 2.0: the pause under which the transcriber joins one speaker's pieces into one turn
  (`nlp.transcribe.MERGE_GAP_S`); a longer silence hands the other side the floor, taken or not.

Aggregates (`group_dynamics`, `by_agent`, `by_outcome`): per group the number of calls, and per metric
the median over the calls where it is known with that number of calls; a group under MIN_GROUP_CALLS
calls carries a note, as `steps.csv` does (no claims from small samples).
"""

from __future__ import annotations

import re
import statistics
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Iterable, Sequence

from .types import Call, Turn

if TYPE_CHECKING:
    from .store import Store

INTERRUPT_TOL_S = 0.5
BACKCHANNEL_S = 1.0
MONOLOGUE_GAP_S = 2.0
# Medians over fewer calls than this are shown with a note, never compared (as nlp.gaps.stats does).
MIN_GROUP_CALLS = 5

_QUESTION = re.compile(r"[?？]+")
_PUNCT = re.compile(r"[.?!…,;:？！。]")

Interval = tuple[float, float]


@dataclass(frozen=True)
class NeedsEvidence:
    """Where one call performed the script's needs step: its turn index and time in seconds (the
    adherence evidence); both None when the step was judged not performed in the call."""

    turn: int | None
    start: float | None = None


@dataclass
class CallDynamics:
    """The dynamics of one call. Seconds are floats rounded to 0.01, shares are 0..1 rounded to 0.0001;
    None means "cannot be known from this call's data" (see the module docstring), never zero."""

    call_id: str
    timed: bool                           # every turn has a start and an end
    overlap_measured: bool                # simultaneous speech can show (stereo, or overlapping times)
    duration_s: float | None              # first turn's start to last turn's end
    agent_turns: int
    customer_turns: int
    agent_words: int
    customer_words: int
    agent_speech_s: float | None
    customer_speech_s: float | None
    talk_ratio: float | None              # agent share of speech time
    longest_agent_monologue_s: float | None
    longest_customer_story_s: float | None
    agent_questions: int | None
    customer_questions: int | None
    interruptions_by_agent: int | None    # agent starts inside a customer turn
    interruptions_by_customer: int | None
    overlap_s: float | None
    silence_share: float | None
    needs_question_turn: int | None       # index into the call's turns
    needs_question_s: float | None        # seconds from the first turn's start
    needs_source: str                     # "script", "question", or "" (no agent question at all)

    @property
    def interruptions(self) -> int | None:
        """Both sides' interruptions together; None when overlap is not measured."""
        if self.interruptions_by_agent is None or self.interruptions_by_customer is None:
            return None
        return self.interruptions_by_agent + self.interruptions_by_customer

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# Per-call numbers the aggregates take medians of, in the order tables show them.
METRICS: tuple[str, ...] = (
    "talk_ratio", "longest_agent_monologue_s", "longest_customer_story_s", "agent_questions",
    "customer_questions", "interruptions_by_agent", "interruptions_by_customer", "overlap_s", "silence_share",
    "needs_question_s")


# ---- interval arithmetic ---------------------------------------------------------------------
def union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping [start, end] intervals covering the same time as `intervals`."""
    out: list[list[float]] = []
    for a, b in sorted((a, b) for a, b in intervals if b > a):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return [(a, b) for a, b in out]


def length(intervals: Sequence[Interval]) -> float:
    """Total seconds of already disjoint intervals (see `union`)."""
    return sum(b - a for a, b in intervals)


def intersection(x: Sequence[Interval], y: Sequence[Interval]) -> float:
    """Seconds two disjoint, sorted interval lists (see `union`) have in common."""
    i = j = 0
    total = 0.0
    while i < len(x) and j < len(y):
        lo, hi = max(x[i][0], y[j][0]), min(x[i][1], y[j][1])
        if hi > lo:
            total += hi - lo
        if x[i][1] < y[j][1]:
            i += 1
        else:
            j += 1
    return total


# ---- per call --------------------------------------------------------------------------------
def count_questions(text: str) -> int:
    """Questions in `text`: runs of "?" ("Really?? Why?" -> 2)."""
    return len(_QUESTION.findall(text or ""))


def _is_timed(turns: Sequence[Turn]) -> bool:
    return bool(turns) and all(t.start is not None and t.end is not None and t.end >= t.start for t in turns)


def longest_run(turns: Sequence[Turn], side: str) -> float:
    """Seconds of `side`'s longest monologue in timed `turns` (see the module docstring); 0.0 when the
    side never speaks."""
    best, run = 0.0, None  # run = [start, end] of the current monologue
    for t in sorted(turns, key=lambda t: (t.start, t.end)):
        if t.speaker == side:
            if run is not None and t.start - run[1] < MONOLOGUE_GAP_S:
                run[1] = max(run[1], t.end)
            else:
                run = [t.start, t.end]
            best = max(best, run[1] - run[0])
        elif t.end - t.start >= BACKCHANNEL_S:
            run = None  # the other side took the floor
    return best


def interruptions(turns: Sequence[Turn]) -> dict[str, int]:
    """{"agent": n, "customer": m}: turns of each side that start inside the other side's turn (see the
    module docstring). `turns` must be timed."""
    out = {"agent": 0, "customer": 0}
    for b in turns:
        if b.speaker not in out or b.end - b.start < BACKCHANNEL_S:
            continue
        if any(a.speaker != b.speaker and a.speaker in out
               and a.start + INTERRUPT_TOL_S < b.start < a.end - INTERRUPT_TOL_S for a in turns):
            out[b.speaker] += 1
    return out


def _overlap_visible(call: Call, overlap: float) -> bool:
    """Whether simultaneous speech can show in `call` (see the module docstring)."""
    channels = call.source.get("channels")
    if channels is None:  # imported: only its times can tell
        return overlap > 0
    try:  # transcribed: the recording decides; a mono piece's edges touching the next are no overlap
        return int(channels) >= 2
    except (TypeError, ValueError):
        return False


def _r(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(float(x), digits)


def call_dynamics(call: Call, needs: NeedsEvidence | None = None) -> CallDynamics:
    """The dynamics of `call`. `needs`: where the call performed its script's needs step (None when no
    script with a needs step has been checked against this call: the first agent question stands in).
    Speakers other than "agent" and "customer" count as neither side."""
    turns = [t for t in call.turns if (t.text or "").strip()]
    side = {s: [t for t in turns if t.speaker == s] for s in ("agent", "customer")}
    words = {s: sum(len(t.text.split()) for t in ts) for s, ts in side.items()}
    punctuated = not turns or any(_PUNCT.search(t.text) for t in turns)
    questions = {s: sum(count_questions(t.text) for t in ts) if punctuated else None for s, ts in side.items()}

    # needs question: the script's step when judged, else the first agent question
    nturn, nstart, source = None, None, ""
    if needs is not None:
        source = "script"
        if needs.turn is not None and 0 <= needs.turn < len(call.turns):
            nturn = needs.turn
            nstart = needs.start if needs.start is not None else call.turns[nturn].start
    else:
        heard = next((i for i, t in enumerate(call.turns) if t.speaker == "customer" and t.text.strip()), None)
        nturn = None if heard is None else next(
            (i for i, t in enumerate(call.turns) if i > heard and t.speaker == "agent" and count_questions(t.text)), None)
        if nturn is not None:
            source, nstart = "question", call.turns[nturn].start
    starts = [t.start for t in turns if t.start is not None]
    t0 = min(starts) if starts else None
    needs_s = max(0.0, nstart - t0) if nstart is not None and t0 is not None else None

    d = CallDynamics(
        call_id=call.call_id, timed=False, overlap_measured=False, duration_s=None,
        agent_turns=len(side["agent"]), customer_turns=len(side["customer"]),
        agent_words=words["agent"], customer_words=words["customer"], agent_speech_s=None,
        customer_speech_s=None, talk_ratio=None, longest_agent_monologue_s=None, longest_customer_story_s=None,
        agent_questions=questions["agent"], customer_questions=questions["customer"],
        interruptions_by_agent=None, interruptions_by_customer=None, overlap_s=None, silence_share=None,
        needs_question_turn=nturn, needs_question_s=_r(needs_s), needs_source=source)
    if not _is_timed(turns):
        return d
    spans = {s: union((t.start, t.end) for t in ts) for s, ts in side.items()}
    speech = {s: length(u) for s, u in spans.items()}
    overlap = intersection(spans["agent"], spans["customer"])
    first, last = min(t.start for t in turns), max(t.end for t in turns)
    span = last - first
    heard = length(union((t.start, t.end) for t in turns))
    d.timed = True
    d.duration_s = _r(span)
    d.agent_speech_s, d.customer_speech_s = _r(speech["agent"]), _r(speech["customer"])
    total = speech["agent"] + speech["customer"]
    d.talk_ratio = _r(speech["agent"] / total, 4) if total > 0 else None
    d.longest_agent_monologue_s = _r(longest_run(turns, "agent"))
    d.longest_customer_story_s = _r(longest_run(turns, "customer"))
    d.silence_share = _r(max(0.0, span - heard) / span, 4) if span > 0 else None
    if _overlap_visible(call, overlap):
        cut = interruptions(turns)
        d.overlap_measured = True
        d.overlap_s = _r(overlap)
        d.interruptions_by_agent, d.interruptions_by_customer = cut["agent"], cut["customer"]
    return d


# ---- from the store --------------------------------------------------------------------------
def script_needs(store: "Store") -> dict[str, NeedsEvidence] | None:
    """Per call, where the stored script's needs step was performed: call_id -> NeedsEvidence (the
    earliest of several needs steps; turn None when none was performed). None when the store holds no
    script with a step of kind "needs"; calls the script was not checked against are absent."""
    from .gaps.kinds import step_kind

    ids = [r[0] for r in store.db.execute("SELECT step_id, title FROM script_steps ORDER BY position")
           if step_kind(r[0], r[1]) == "needs"]
    if not ids:
        return None
    out: dict[str, NeedsEvidence] = {}
    q = f"SELECT call_id, present, turn, start FROM adherence WHERE step_id IN ({','.join('?' * len(ids))})"
    for cid, present, turn, start in store.db.execute(q, ids):
        ev = NeedsEvidence(int(turn), start) if present and turn is not None else NeedsEvidence(None, None)
        cur = out.get(cid)
        if cur is None or (ev.turn is not None and (cur.turn is None or ev.turn < cur.turn)):
            out[cid] = ev
    return out


def store_dynamics(store: "Store", call_ids: Iterable[str] | None = None) -> list[CallDynamics]:
    """`call_dynamics` for `call_ids` (default: every call in the store), in that order, with the
    stored script's needs step where `callbridge gaps` has judged the call."""
    needs = script_needs(store) or {}
    return [call_dynamics(store.get_call(cid), needs.get(cid))
            for cid in (store.call_ids() if call_ids is None else call_ids)]


# ---- aggregates ------------------------------------------------------------------------------
@dataclass
class GroupDynamics:
    """Medians of one group of calls (an agent's, the won ones, ...). `medians[m]` is the median of
    metric m (see METRICS; units as in CallDynamics) over the `known[m]` calls where it is known, None
    when none is; `few` when the group has under MIN_GROUP_CALLS calls, with `note` saying so."""

    group: str
    n_calls: int
    n_timed: int
    medians: dict[str, float | None] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)
    few: bool = False
    note: str = ""


def group_dynamics(name: str, rows: Sequence[CallDynamics]) -> GroupDynamics:
    """Medians of `rows` (see GroupDynamics)."""
    g = GroupDynamics(name, len(rows), sum(1 for r in rows if r.timed))
    for m in METRICS:
        vals = [getattr(r, m) for r in rows if getattr(r, m) is not None]
        g.known[m] = len(vals)
        g.medians[m] = float(statistics.median(vals)) if vals else None
    if g.n_calls < MIN_GROUP_CALLS:
        g.few = True
        g.note = f"too few calls for medians to say much ({g.n_calls}; need {MIN_GROUP_CALLS})"
    return g


def by_agent(rows: Sequence[CallDynamics], agents: dict[str, str | None]) -> list[GroupDynamics]:
    """One group per agent (`agents`: call_id -> agent name; calls without one are left out), most calls
    first, then by name."""
    groups: dict[str, list[CallDynamics]] = {}
    for r in rows:
        a = agents.get(r.call_id)
        if a:
            groups.setdefault(a, []).append(r)
    return [group_dynamics(a, rs) for a, rs in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0]))]


def by_outcome(rows: Sequence[CallDynamics], outcomes: dict[str, str]) -> tuple[list[GroupDynamics], str]:
    """([won group, lost group], note): medians of won and lost calls (`outcomes`: call_id -> "won",
    "lost", anything else is left out). The note says when either side has too few calls to compare
    (under MIN_GROUP_CALLS), or that there is nothing to compare; "" when the comparison stands."""
    groups = [group_dynamics(o, [r for r in rows if outcomes.get(r.call_id) == o]) for o in ("won", "lost")]
    won, lost = groups[0].n_calls, groups[1].n_calls
    if not won or not lost:
        note = "no calls with both won and lost outcomes to compare"
    elif min(won, lost) < MIN_GROUP_CALLS:
        note = f"too few calls to compare (won {won}, lost {lost}; need {MIN_GROUP_CALLS} each)"
    else:
        note = ""
    return groups, note


# ---- table rows ------------------------------------------------------------------------------
COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(CallDynamics))


def csv_row(d: CallDynamics, call_id: str, agent: str | None, outcome: str | None) -> dict[str, Any]:
    """One row of dynamics.csv: `call_id` as it may be shown (the caller redacts it), the agent and the
    outcome, then every CallDynamics field (booleans as 0/1, unknown values empty)."""
    row: dict[str, Any] = {"call_id": call_id, "agent": agent or "", "outcome": outcome or ""}
    for k, v in d.to_dict().items():
        if k != "call_id":
            row[k] = int(v) if isinstance(v, bool) else v
    return row


def group_row(g: GroupDynamics, kind: str) -> dict[str, Any]:
    """One row of dynamics_groups.csv: kind ("agent", "outcome", "all"), group, counts, each metric's
    median and the calls behind it, the note."""
    row: dict[str, Any] = {"kind": kind, "group": g.group, "calls": g.n_calls, "timed_calls": g.n_timed}
    for m in METRICS:
        row[f"median_{m}"] = None if g.medians[m] is None else round(g.medians[m], 4)
        row[f"n_{m}"] = g.known[m]
    row["note"] = g.note
    return row

