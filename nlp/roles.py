"""Who is the agent? Decide per call which channel (or which turns, for mono) belong to the agent.

Stereo calls: each channel is one side. Evidence that a channel is the agent's, summed per channel
(weights and phrases live in `rules/roles.json`):
  - greeting with the company in its first turns ("добрый день, компания …, меня зовут …",
    "thank you for calling …, this is …"), the company's name from the script or vocabulary;
  - the script's phrases and questions (a script example whose words the turn mostly contains);
  - agent phrases ("могу предложить", "let me …") versus customer phrases ("сколько стоит", "I need …");
  - speaking first (the agent answers an incoming call) – weak.
The side with more evidence is the agent; confidence = logistic of the evidence difference, so
0.5 means a coin toss and values near 1 a clear call.

Mono calls (one mixed channel): speakers cannot be told apart by channel. Heuristic: a pause of
at least `MONO_TURN_GAP` seconds or a question mark ends a turn and the speaker alternates; the
first speaker is whichever alternation gives the agent more agent evidence. This is often wrong
for long monologues or back-to-back turns, so its confidence is capped at 0.4 (marked
low-confidence in `source.roles`).
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


def norm(text: str) -> str:
    return " ".join(_NORM.sub(" ", text.lower().replace("ё", "е")).split())


@lru_cache(maxsize=1)
def _rules() -> dict[str, Any]:
    return json.loads(_RULES.read_text(encoding="utf-8"))


@dataclass
class RoleDecision:
    agent_channel: int | None          # 0 = left, 1 = right; None for mono
    confidence: float
    method: str                        # auto | forced | mono-heuristic
    scores: list[float] = field(default_factory=list)
    evidence: list[list[str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        ch = {0: "left", 1: "right", None: None}[self.agent_channel]
        d = {"agent_channel": ch, "confidence": round(self.confidence, 3), "method": self.method}
        if self.scores:
            d["scores"] = [round(s, 2) for s in self.scores]
        if self.evidence:
            d["evidence"] = [e[:8] for e in self.evidence]
        if self.method == "mono-heuristic":
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
    """Agent evidence for one side given its turns' texts (in time order)."""
    rules = _rules()
    langs = [language] if language in ("ru", "en") else ["ru", "en"]
    score, why = 0.0, []
    normed = [norm(t) for t in turns if t.strip()]
    opening = " " + " ".join(normed[:2]) + " "
    everything = " " + " ".join(normed) + " "
    for lang in langs:
        for cue in rules["greeting"].get(lang, []):
            if f" {cue} " in opening:
                score += rules["greeting"]["weight"]
                why.append(f"greets: {cue}")
        for cue in rules["agent_phrases"].get(lang, []):
            if f" {cue} " in everything:
                score += rules["agent_phrases"]["weight"]
                why.append(f"agent phrase: {cue}")
        for cue in rules["customer_phrases"].get(lang, []):
            if f" {cue} " in everything:
                score -= rules["customer_phrases"]["weight"]
                why.append(f"customer phrase: {cue}")
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


def _confidence(diff: float) -> float:
    return 1.0 / (1.0 + math.exp(-abs(diff)))


def decide_stereo(channel_turns: Sequence[Sequence[tuple[float, str]]], language: str | None, *,
                  script: Any = None, companies: Sequence[str] = ()) -> RoleDecision:
    """channel_turns[c] = [(start, text), ...] of channel c. Returns which channel is the agent."""
    starts = [min((s for s, t in ch if t.strip()), default=math.inf) for ch in channel_turns]
    first = min(range(len(starts)), key=lambda c: starts[c])
    scores, evidence = [], []
    for c, ch in enumerate(channel_turns):
        texts = [t for _, t in sorted(ch, key=lambda x: x[0])]
        s, why = channel_evidence(texts, language, first=(c == first and math.isfinite(starts[c])),
                                  script=script, companies=companies)
        scores.append(s)
        evidence.append(why)
    agent = 0 if scores[0] >= scores[1] else 1
    return RoleDecision(agent, _confidence(scores[0] - scores[1]), "auto", scores, evidence)


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
    agent_parity = 0 if s_even >= s_odd else 1
    turns = []
    for i, g in enumerate(groups):
        sp = "agent" if i % 2 == agent_parity else "customer"
        turns.append((sp, g[0][0], g[-1][1], " ".join(s[2].strip() for s in g).strip()))
    conf = min(MONO_MAX_CONFIDENCE, _confidence(s_even - s_odd) - 0.5 + 0.2)
    return turns, RoleDecision(None, max(0.0, conf), "mono-heuristic", [s_even, s_odd], [w_even, w_odd])
