"""Who is the agent? Decide per call which channel (or which turns, for mono) belong to the agent.

Stereo calls: each channel is one side. Evidence that a channel is the agent's, summed per channel
(weights and phrases live in `rules/roles.json`):
  - greeting with the company in its first turns ("добрый день, компания …, меня зовут …",
    "thank you for calling …, this is …"), the company's name from the script or vocabulary; plain
    hello words count little, since both sides say them;
  - an outbound opening ("вас беспокоит …", "may I speak with …", "following up on …");
  - the script's phrases and questions (a script example whose words the turn mostly contains);
  - agent phrases ("могу предложить", "let me …") and qualifying questions ("какая площадь",
    "how many …") versus customer phrases ("сколько стоит", "I need …");
  - answering the other side's price question with a number (who states the prices asked about);
  - speaking first (the agent answers an incoming call) – weak.
The side with more evidence is the agent; confidence = logistic of the evidence difference, so
0.5 means a coin toss and values near 1 a clear call. Below `unknown_below` (0.65: the evidence
differs by less than one strong cue) the side is reported as unknown (`agent_channel: "unknown"`,
`low_confidence`), with the better-supported side kept as `guess`: the turns still need a role,
but nothing downstream should take it as decided.

Mono calls (one mixed channel): speakers cannot be told apart by channel. Heuristic: a pause of
at least `MONO_TURN_GAP` seconds or a question mark ends a turn and the speaker alternates; the
first speaker is whichever alternation gives the agent more agent evidence. This is often wrong
for long monologues or back-to-back turns, so its confidence is capped at 0.4 (marked
low-confidence in `source.roles`); with no evidence either way the agent's turns are unknown too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

MONO_TURN_GAP = 0.8
MONO_MAX_CONFIDENCE = 0.4
_RULES = Path(__file__).parent / "rules" / "roles.json"
_NORM = re.compile(r"[^\w\s]|_")
_QUOTED = re.compile(r"[«\"“]([^»\"”]{2,40})[»\"”]")
# A number said or written: digits, or a number word (ru/en stems) as a whole word.
_NUMBER = re.compile(r"\d|\b(?:(?:одн|дв|тр|четыр|пят|шест|сем|восем|девят|десят|сорок|сто|двест|трист|"
                     r"четырест|пятьсот|шестьсот|семьсот|восемьсот|девятьсот|тысяч|миллион|полтор)\w*|"
                     r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|\w+teen|twenty|thirty|"
                     r"forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million)s?)\b")


def norm(text: str) -> str:
    return " ".join(_NORM.sub(" ", text.lower().replace("ё", "е")).split())


@lru_cache(maxsize=1)
def _rules() -> dict[str, Any]:
    return json.loads(_RULES.read_text(encoding="utf-8"))


@dataclass
class RoleDecision:
    agent_channel: int | None          # 0 = left, 1 = right; None for mono. The best guess when unknown
    confidence: float
    method: str                        # auto | forced | mono-heuristic
    scores: list[float] = field(default_factory=list)
    evidence: list[list[str]] = field(default_factory=list)
    unknown: bool = False              # the evidence does not tell the sides apart

    def to_dict(self) -> dict[str, Any]:
        """`source.roles`: agent_channel 'left' | 'right' | 'unknown' | None (mono), confidence in
        [0, 1], method, scores and evidence per side; `guess` and `low_confidence` when unknown."""
        ch = {0: "left", 1: "right", None: None}[self.agent_channel]
        d: dict[str, Any] = {"agent_channel": "unknown" if self.unknown and ch else ch,
                             "confidence": round(self.confidence, 3), "method": self.method}
        if self.unknown:
            d["agent"] = "unknown"
            if ch:
                d["guess"] = ch
        if self.scores:
            d["scores"] = [round(s, 2) for s in self.scores]
        if self.evidence:
            d["evidence"] = [e[:8] for e in self.evidence]
        if self.method == "mono-heuristic" or self.unknown:
            d["low_confidence"] = True
        return d


def company_names(script: Any = None, vocabulary: Sequence[str] = ()) -> list[str]:
    """Company/brand names: quoted names and the title's head in the script, plus the vocabulary."""
    names: list[str] = []
    if script is not None:
        title = getattr(script, "title", "") or ""
        texts = [title] + [ex for st in getattr(script, "steps", []) for ex in st.examples]
        for t in texts:
            names += [m.strip() for m in _QUOTED.findall(t)]
        if title and not _QUOTED.search(title):
            head = re.split(r"\s+[—–-]\s+|:", title)[0]
            for name in re.split(r"\s+[/|]\s+", head):
                if 0 < len(name.split()) <= 4:
                    names.append(name.strip())
    names += [v for v in vocabulary if v.strip()]
    seen, out = set(), []
    for n in names:
        k = norm(n)
        if k and k not in seen:
            seen.add(k)
            out.append(n)
    return out


def _script_examples(script: Any) -> list[set[str]]:
    out = []
    for st in getattr(script, "steps", []) or []:
        for ex in st.examples:
            words = {w for w in norm(ex).split() if len(w) > 2}
            if len(words) >= 2:
                out.append(words)
    return out


def channel_evidence(turns: Sequence[str], language: str | None, *, first: bool, script: Any = None,
                     companies: Sequence[str] = ()) -> tuple[float, list[str]]:
    """Agent evidence of one side from its turns' texts (in time order): (score, reasons).

    Higher is more agent-like; each cue of `rules/roles.json` counts once per side.
    """
    rules = _rules()
    langs = [language] if language in ("ru", "en") else ["ru", "en"]
    score, why = 0.0, []
    normed = [norm(t) for t in turns if t.strip()]
    opening = " " + " ".join(normed[:2]) + " "
    everything = " " + " ".join(normed) + " "
    groups = [("greeting", opening, 1, "greets"), ("hello", opening, 1, "hello"),
              ("business_words", opening, 1, "business word"), ("outbound", opening, 1, "calls out"),
              ("agent_phrases", everything, 1, "agent phrase"), ("qualifying", everything, 1, "qualifying question"),
              ("customer_phrases", everything, -1, "customer phrase")]
    for lang in langs:
        for group, text, sign, label in groups:
            for cue in rules[group].get(lang, []):
                if f" {cue} " in text:
                    score += sign * rules[group]["weight"]
                    why.append(f"{label}: {cue}")
    for name in companies:
        k = norm(name)
        if k and f" {k} " in opening:
            score += rules["company_name"]["weight"]
            why.append(f"names the company: {name}")
    examples = _script_examples(script)
    if examples:
        min_ov = rules["script_step"]["min_overlap"]
        hits = 0
        for t in normed:
            words = set(t.split())
            if any(len(ex & words) / len(ex) >= min_ov for ex in examples):
                hits += 1
        if hits:
            score += rules["script_step"]["weight"] * min(hits, 5)
            why.append(f"script phrases in {hits} turns")
    if first:
        score += rules["first_speaker"]["weight"]
        why.append("speaks first")
    return score, why


def dialogue_evidence(sequence: Sequence[tuple[int, str]], language: str | None, n_sides: int = 2
                      ) -> tuple[list[float], list[list[str]]]:
    """Agent evidence from the exchange itself: sequence = [(side, text)] in time order.

    The side that answers the other's price question ("сколько стоит …?", "how much …?") with a
    number states the prices: that is the agent (each side counted for at most two answers). The
    side whose first turn the other greets by a name said in it ("… this is Carlos" / "Hi Carlos")
    introduced itself: that is the agent too.
    Returns (score per side, reasons per side).
    """
    rules = _rules()
    langs = [language] if language in ("ru", "en") else ["ru", "en"]
    cues = [c for lang in langs for c in rules["price_question"].get(lang, [])]
    scores, why = [0.0] * n_sides, [[] for _ in range(n_sides)]
    answers = [0] * n_sides
    for i, (side, text) in enumerate(sequence):
        t = " " + norm(text) + " "
        if not any(f" {c} " in t for c in cues):
            continue
        for other, reply in sequence[i + 1:i + 3]:
            if other == side:
                continue
            if _NUMBER.search(norm(reply)) and answers[other] < 2:
                answers[other] += 1
                scores[other] += rules["price_answer"]["weight"]
                why[other].append("answers a price question with a number")
            break
    # Who introduced itself: the other side's first words echo a name from this side's first turn.
    ignore = set(rules["greeted_by_name"]["ignore"])
    hellos = set(rules["greeted_by_name"]["hello_words"])
    firsts: dict[int, int] = {}
    for i, (side, _t) in enumerate(sequence):
        firsts.setdefault(side, i)
    for side, i in firsts.items():
        names = {w for w in norm(sequence[i][1]).split()[:12] if len(w) >= 3 and w.isalpha() and w not in ignore}
        reply = next((t for s, t in sequence[i + 1:] if s != side), None)
        if reply is None or firsts.get(1 - side, -1) < i:
            continue  # only the first turn's answer counts, and only if the other side had not spoken yet
        head = norm(reply).split()[:4]
        # a greeting, not a repeated topic word: "игорь добрый день", "Hi Linda", "Да, Виктор, добрый"
        if names & set(head) and set(head) & hellos:
            scores[side] += rules["greeted_by_name"]["weight"]
            why[side].append(f"greeted by name: {sorted(names & set(head))[0]}")
    return scores, why


def unknown_below() -> float:
    """Confidence under which the agent side is reported as unknown (rules/roles.json)."""
    return float(_rules().get("unknown_below", 0.65))


def _confidence(diff: float) -> float:
    return 1.0 / (1.0 + math.exp(-abs(diff)))


def decide_stereo(channel_turns: Sequence[Sequence[tuple[float, str]]], language: str | None, *,
                  script: Any = None, companies: Sequence[str] = ()) -> RoleDecision:
    """channel_turns[c] = [(start s, text), ...] of channel c. Returns which channel is the agent.

    The decision is `unknown` (reported so, the better side kept as the guess) when its confidence
    is under `unknown_below()`.
    """
    starts = [min((s for s, t in ch if t.strip()), default=math.inf) for ch in channel_turns]
    first = min(range(len(starts)), key=lambda c: starts[c])
    scores, evidence = [], []
    for c, ch in enumerate(channel_turns):
        texts = [t for _, t in sorted(ch, key=lambda x: x[0])]
        s, why = channel_evidence(texts, language, first=(c == first and math.isfinite(starts[c])),
                                  script=script, companies=companies)
        scores.append(s)
        evidence.append(why)
    sequence = sorted(((s, c, t) for c, ch in enumerate(channel_turns) for s, t in ch if t.strip()), key=lambda x: x[0])
    extra, why = dialogue_evidence([(c, t) for _s, c, t in sequence], language, len(channel_turns))
    for c in range(len(channel_turns)):
        scores[c] += extra[c]
        evidence[c] += why[c]
    agent = 0 if scores[0] >= scores[1] else 1
    conf = _confidence(scores[0] - scores[1])
    return RoleDecision(agent, conf, "auto", scores, evidence, unknown=conf < unknown_below())


def mono_turns(segments: Sequence[tuple[float, float, str]], language: str | None, *, script: Any = None,
               companies: Sequence[str] = ()) -> tuple[list[tuple[str, float, float, str]], RoleDecision]:
    """Group one channel's segments into alternating turns; returns ([(speaker, start, end, text)], decision)."""
    groups: list[list[tuple[float, float, str]]] = []
    for seg in sorted(segments, key=lambda x: x[0]):
        if groups:
            prev = groups[-1][-1]
            if seg[0] - prev[1] < MONO_TURN_GAP and not prev[2].rstrip().endswith("?"):
                groups[-1].append(seg)
                continue
        groups.append([seg])
    texts = [" ".join(s[2] for s in g) for g in groups]
    even = [t for i, t in enumerate(texts) if i % 2 == 0]
    odd = [t for i, t in enumerate(texts) if i % 2 == 1]
    s_even, w_even = channel_evidence(even, language, first=True, script=script, companies=companies)
    s_odd, w_odd = channel_evidence(odd, language, first=False, script=script, companies=companies)
    extra, why = dialogue_evidence([(i % 2, t) for i, t in enumerate(texts)], language)
    s_even, s_odd = s_even + extra[0], s_odd + extra[1]
    w_even, w_odd = w_even + why[0], w_odd + why[1]
    agent_parity = 0 if s_even >= s_odd else 1
    turns = []
    for i, g in enumerate(groups):
        sp = "agent" if i % 2 == agent_parity else "customer"
        turns.append((sp, g[0][0], g[-1][1], " ".join(s[2].strip() for s in g).strip()))
    sure = _confidence(s_even - s_odd)
    conf = min(MONO_MAX_CONFIDENCE, sure - 0.5 + 0.2)
    return turns, RoleDecision(None, max(0.0, conf), "mono-heuristic", [s_even, s_odd], [w_even, w_odd],
                               unknown=sure < unknown_below())
