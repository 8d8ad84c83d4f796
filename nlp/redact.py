"""PII redaction for quotes and exports: phone numbers, emails, card numbers, passports, INN, SNILS/SSN
and names become tags such as `[телефон]` / `[phone]`.

The rules live in `rules/redact.json`. Every rule finds spans in the original text; a span that
overlaps one already claimed by an earlier rule is skipped, so the order of the rules decides
ties (email before phone: an address may hold digits). Three kinds of rules:

* regexes (with an optional digit check such as Luhn, and an optional cue that must come shortly
  before, e.g. "ИНН" before a 10-digit number that fails the INN checksum);
* numbers said as words, the way an ASR without normalisation writes a phone number dictated
  over the line ("восемь девятьсот шестнадцать триста двадцать пять ...");
* names: a word right after a cue ("меня зовут", "my name is") and, anywhere, a Russian word
  whose likely pymorphy3 parse is a known first name/surname/patronymic or a capitalised
  English first name from the rules' list.

Patterns are written without nested unbounded repeats: redaction runs on untrusted text.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterator

from .errors import InputFormatError

RULES_PATH = Path(__file__).with_name("rules") / "redact.json"
KINDS = ("phone", "email", "card", "passport", "inn", "snils", "ssn", "name")

_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-][^\W\d_])*|\d+")
_SENT_END = re.compile(r"(?:^|[.!?…]\s*|[\n\r]\s*|[\"«(]\s*)$")
_CYR = re.compile(r"[а-яё]", re.I)


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern
    check: str | None
    cue: re.Pattern | None


class _Rules:
    def __init__(self, d: dict[str, Any]):
        self.tags: dict[str, dict[str, str]] = d["tags"]
        self.cue_window = int(d.get("cue_window", 40))
        self.patterns = [
            _Pattern(p["kind"], re.compile(p["pattern"], re.I), p.get("check"),
                     re.compile(p["cue"], re.I) if p.get("cue") else None)
            for p in d["patterns"]]
        sp = d["spoken_phone"]
        self.min_digits = int(sp["min_digits"])
        self.cue_min_digits = int(sp["cue_min_digits"])
        self.phone_cue = re.compile(sp["cue"], re.I)
        self.connectors = set(sp["connectors"])
        self.stop = tuple(sp["stop"])
        self.not_phone = re.compile(sp["not_phone"]) if sp.get("not_phone") else None
        self.numbers: dict[str, tuple[str, int]] = {}  # word -> (class, value)
        for lang in ("ru", "en"):
            for cls in ("units", "teens", "tens", "hundreds", "repeat"):
                for w, v in sp[lang].get(cls, {}).items():
                    self.numbers[w] = (cls, int(v))
        n = d["names"]
        self.strong_cues = {c.lower() for c in n["strong_cues"]}
        self.cues = sorted({c.lower() for c in n["ru_cues"] + n["en_cues"]} | self.strong_cues,
                           key=lambda c: -len(c))
        self.en_not_names = set(n["en_not_names"])
        self.en_first = set(n["first_names"])
        self.en_ambiguous = set(n["en_ambiguous"])
        self.ru_min = float(n["ru_min_score"])
        self.ru_cue_min = float(n["ru_cue_min_score"])
        self.ru_lower_min = float(n["ru_lower_min_score"])

    def tag(self, kind: str, lang: str) -> str:
        t = self.tags[kind]
        return t.get(lang) or t["en"]


@lru_cache(maxsize=1)
def _rules() -> _Rules:
    try:
        return _Rules(json.loads(RULES_PATH.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, re.error) as e:
        raise InputFormatError(f"cannot load redaction rules: {e}", path=str(RULES_PATH),
                               hint="reinstall callbridge") from None


# ---- checks -------------------------------------------------------------------------------
def luhn_ok(digits: str) -> bool:
    if not digits.isdigit() or len(digits) < 12:
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def inn_ok(digits: str) -> bool:
    """The check digits of a Russian INN (10 digits: organisation, 12: person)."""
    if not digits.isdigit() or len(set(digits)) == 1:
        return False
    n = [int(c) for c in digits]

    def ctrl(weights: list[int], upto: int) -> int:
        return sum(w * x for w, x in zip(weights, n[:upto])) % 11 % 10

    if len(n) == 10:
        return ctrl([2, 4, 10, 3, 5, 9, 4, 6, 8], 9) == n[9]
    if len(n) == 12:
        return (ctrl([7, 2, 4, 10, 3, 5, 9, 4, 6, 8], 10) == n[10]
                and ctrl([3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8], 11) == n[11])
    return False


_CHECKS = {"luhn": luhn_ok, "inn": inn_ok}


# ---- span finding -------------------------------------------------------------------------
class _Spans:
    """Claimed character ranges, kept sorted; a new span overlapping a claimed one is refused."""

    def __init__(self) -> None:
        self.starts: list[int] = []
        self.spans: list[tuple[int, int, str]] = []

    @property
    def items(self) -> list[tuple[int, int, str]]:
        return self.spans

    def free(self, a: int, b: int) -> bool:
        i = bisect.bisect_right(self.starts, a)
        if i > 0 and self.spans[i - 1][1] > a:
            return False
        return not (i < len(self.spans) and self.spans[i][0] < b)

    def add(self, a: int, b: int, kind: str) -> bool:
        if a < b and self.free(a, b):
            i = bisect.bisect_right(self.starts, a)
            self.starts.insert(i, a)
            self.spans.insert(i, (a, b, kind))
            return True
        return False


def _regex_spans(text: str, rules: _Rules, spans: _Spans) -> None:
    for p in rules.patterns:
        for m in p.regex.finditer(text):
            a, b = m.span()
            if p.cue is not None and not p.cue.search(text, max(0, a - rules.cue_window), a):
                continue
            if p.check:
                b = _checked_end(text, a, b, _CHECKS[p.check])
                if b is None:
                    continue
            if p.kind == "email" and "@" not in text[a:b]:
                a = _extend_spoken_left(text, a, rules)
            spans.add(a, b, p.kind)


_PREV_TOKEN = re.compile(r"([\w.]+)\s{1,3}$")


def _extend_spoken_left(text: str, a: int, rules: _Rules) -> int:
    """Start of a spoken address whose local part was dictated in pieces: "timur.kh пятьдесят пять собака …"."""
    for _ in range(6):
        m = _PREV_TOKEN.search(text, max(0, a - 60), a)
        if not m:
            break
        tok = m.group(1).lower()
        if not (tok.isdigit() or tok in rules.numbers or re.fullmatch(r"[a-z0-9]+[._][a-z0-9._]+", tok)):
            break
        a = m.start(1)
    return a


def _checked_end(text: str, a: int, b: int, check) -> int | None:
    """End of the longest prefix of text[a:b], cut at a separator, whose digits pass `check`.

    A card number followed by another number ("4276 3800 1234 5678 25") must not fail the Luhn
    check just because the regex took the extra group.
    """
    while b > a:
        if check(re.sub(r"\D", "", text[a:b])):
            return b
        cut = max(text.rfind(" ", a, b), text.rfind("-", a, b))
        if cut <= a:
            return None
        b = cut
    return None


def _spoken_phone_spans(text: str, rules: _Rules, spans: _Spans) -> None:
    """Runs of number words / digit groups long enough to be a phone number."""
    tokens = [(m.start(), m.end(), m.group().lower()) for m in _WORD.finditer(text)]
    i = 0
    while i < len(tokens):
        if not _is_number_token(tokens[i][2], rules) or not spans.free(tokens[i][0], tokens[i][1]):
            i += 1
            continue
        j = i
        run = [tokens[i]]
        while j + 1 < len(tokens):
            gap = text[tokens[j][1]:tokens[j + 1][0]]
            nxt = tokens[j + 1]
            if not _is_number_token(nxt[2], rules) or not spans.free(nxt[0], nxt[1]) or not _joins(gap, rules):
                break
            run.append(nxt)
            j += 1
        digits = _digits(run, rules)
        after = tokens[j + 1][2] if j + 1 < len(tokens) else ""
        is_amount = after.startswith(rules.stop) or text[run[-1][1]:run[-1][1] + 2].strip().startswith("%")
        a, b = run[0][0], run[-1][1]
        if rules.not_phone is not None and rules.not_phone.match(text[a:b]):
            is_amount = True  # a date such as 2026-09-14
        cued = rules.phone_cue.search(text, max(0, a - rules.cue_window), a) is not None
        if not is_amount and (len(digits) >= rules.min_digits or (cued and len(digits) >= rules.cue_min_digits)):
            # a leading "oh"/"o" that only looks like a zero stays text
            spans.add(a, b, "phone")
        i = j + 1


def _is_number_token(tok: str, rules: _Rules) -> bool:
    return tok.isdigit() or tok in rules.numbers


def _joins(gap: str, rules: _Rules) -> bool:
    g = gap.strip()
    return len(gap) <= 4 and (g == "" or g in rules.connectors)


def _digits(run: list[tuple[int, int, str]], rules: _Rules) -> str:
    """The digit string a run of number tokens spells: "девятьсот шестнадцать" -> "916"."""
    out: list[str] = []
    group: dict[str, int] = {}
    repeat = 1

    def close() -> None:
        if group:
            out.append(str(sum(group.values())))
            group.clear()

    for _, _, tok in run:
        if tok.isdigit():
            close()
            out.append(tok * repeat)
            repeat = 1
            continue
        cls, v = rules.numbers[tok]
        if cls == "repeat":
            close()
            repeat = v
            continue
        if cls == "hundreds":
            if v == 100 and set(group) == {"units"}:  # English "eight hundred"
                group["hundreds"] = group.pop("units") * 100
                continue
            close()
            group["hundreds"] = v
        elif cls in ("tens", "teens"):
            if set(group) - {"hundreds"}:
                close()
            group[cls] = v
        else:  # units
            if repeat > 1:
                close()
                out.append(str(v) * repeat)
                repeat = 1
                continue
            if "units" in group or "teens" in group:
                close()
            group["units"] = v
    close()
    return "".join(out)


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


_NAME_GRAMMEMES = frozenset({"Name", "Surn", "Patr"})


@lru_cache(maxsize=65536)
def _ru_name_score(word: str) -> float:
    """Share of pymorphy3's probability on known first-name/surname/patronymic parses of `word`."""
    score = 0.0
    for p in _morph().parse(word):
        if p.is_known and _NAME_GRAMMEMES & p.tag.grammemes:
            score += p.score
    return score


def _is_name_word(tok: str, text: str, start: int, rules: _Rules, after_cue: bool, strong: bool) -> bool:
    if tok.isdigit() or len(tok) < 2:
        return False
    cap = tok[0].isupper() and not tok.isupper()
    if _CYR.search(tok):
        score = _ru_name_score(tok.lower())
        if after_cue:
            return score >= rules.ru_cue_min or (strong and cap)
        return score >= (rules.ru_min if cap else rules.ru_lower_min)
    if tok in rules.en_not_names:
        return False
    if strong:
        return tok.isalpha() or "'" in tok or "-" in tok
    if not cap:
        return False
    if after_cue:
        return True
    if tok in rules.en_first:
        # "Bill me later", "Frank answer": common words pass only inside a sentence
        return tok not in rules.en_ambiguous or not _SENT_END.search(text[max(0, start - 3):start])
    return False


def _name_spans(text: str, rules: _Rules, spans: _Spans) -> None:
    low = text.lower()
    tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    cue_end: dict[int, bool] = {}  # token index right after a cue -> strong cue?
    for c in rules.cues:
        for m in re.finditer(r"(?<![^\W\d_])" + re.escape(c) + r"(?![^\W\d_])", low):
            cue_end.setdefault(m.end(), c in rules.strong_cues)
    i = 0
    while i < len(tokens):
        a, b, tok = tokens[i]
        prev_end = tokens[i - 1][1] if i else 0
        after_cue = None
        for e in range(prev_end, a + 1):  # only separators may stand between a cue and the name
            if e in cue_end and text[e:a].strip(" ,—-:") == "":
                after_cue = cue_end[e]
                break
        if not _is_name_word(tok, text, a, rules, after_cue is not None, bool(after_cue)):
            i += 1
            continue
        # A first name may come with a surname or patronymic: "Иван Петров", "Анна Сергеевна", "John Miller".
        end = b
        k = i + 1
        while k < len(tokens) and k <= i + 2:
            na, nb, nt = tokens[k]
            if text[end:na] != " ":
                break
            if _CYR.search(nt):
                ok = _ru_name_score(nt.lower()) >= (rules.ru_cue_min if nt[0].isupper() else rules.ru_min)
            else:
                ok = (nt[0].isupper() and not nt.isupper() and nt not in rules.en_not_names
                      and not _CYR.search(tok))
            if not ok:
                break
            end = nb
            k += 1
        spans.add(a, end, "name")
        i = k
    # A name found once (after a cue, or by its parse) is the same person's name elsewhere in the text.
    found = {text[a:b].split()[0] for a, b, kind in spans.items if kind == "name" and text[a:b].strip()}
    for a, b, tok in tokens:
        if tok in found and spans.free(a, b) and not (
                tok in rules.en_ambiguous and _SENT_END.search(text[max(0, a - 3):a])):
            end = b
            nxt = _WORD.match(text, b + 1) if text[b:b + 1] == " " else None
            if nxt and nxt.group()[0].isupper() and not nxt.group().isupper() and nxt.group() not in rules.en_not_names:
                end = nxt.end()  # with the surname that may follow: "Marcus Reed"
            spans.add(a, end, "name")


# ---- public -------------------------------------------------------------------------------
def find_pii(text: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) of every piece of personal data in `text`, in text order."""
    if not text:
        return []
    rules = _rules()
    spans = _Spans()
    _regex_spans(text, rules, spans)
    _spoken_phone_spans(text, rules, spans)
    _name_spans(text, rules, spans)
    return list(spans.items)


def redact(text: str, lang: str | None = None) -> str:
    """`text` with personal data replaced by tags in `lang` ('ru' or 'en'; detected when None)."""
    if not isinstance(text, str) or not text:
        return text
    from .language import detect_language

    lang = (lang or detect_language(text)).lower()[:2]
    lang = lang if lang in ("ru", "en") else "en"
    rules = _rules()
    out: list[str] = []
    pos = 0
    for a, b, kind in find_pii(text):
        out.append(text[pos:a])
        out.append(rules.tag(kind, lang))
        pos = b
    out.append(text[pos:])
    return "".join(out)


def iter_kinds() -> Iterator[str]:
    return iter(KINDS)
