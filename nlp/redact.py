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
from typing import Any, Callable, Iterable, Iterator, Sequence

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
        self.fillers = {w.lower() for w in sp.get("fillers", [])}
        self.max_fillers = int(sp.get("max_fillers", 3))
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
        self.cue_not_after = {w.lower() for w in n.get("cue_not_after", [])}
        self.en_name_followers = {w.lower() for w in n.get("en_name_followers", [])} | {
            w.lower() for w in n["en_not_names"]}
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
            # A listener's "да" / "uh-huh" (or a turn break) between two groups does not end a number
            # being dictated: "восемь девятьсот три" / "да" / "один один один два два три три".
            k = j + 1
            while k < len(tokens) and k - j <= rules.max_fillers and tokens[k][2] in rules.fillers:
                k += 1
            if k >= len(tokens):
                break
            gap = text[tokens[j][1]:tokens[k][0]]
            nxt = tokens[k]
            if not _is_number_token(nxt[2], rules) or not spans.free(nxt[0], nxt[1]) or \
                    not _joins(gap, rules, fillers=k > j + 1):
                break
            run.append(nxt)
            j = k
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


_GAP_WORDS = re.compile(r"[^\W\d_](?:[^\W\d_]|['’-][^\W\d_])*")
_GAP_PUNCT = frozenset(" \t\r\n\u00a0,.;:!?…-–—\"'«»()")


def _joins(gap: str, rules: _Rules, fillers: bool = False) -> bool:
    """Whether two number groups with `gap` between them belong to one number.

    A short connector ("-", ",") always joins. Sentence punctuation joins only across a turn
    break (a newline: calls are redacted with their turns joined by newlines) or around a
    listener's filler words, the way dictation sounds; a full stop inside a turn still ends a number.
    """
    g = gap.strip()
    if len(gap) <= 4 and (g == "" or g in rules.connectors):
        return True
    if len(gap) > 60 or not (fillers or "\n" in gap):
        return False
    rest = _GAP_WORDS.sub(" ", gap)  # the words here are fillers (checked by the caller)
    return all(c in _GAP_PUNCT for c in rest)


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
    """Share of pymorphy3's probability on known first-name/surname/patronymic parses of `word`;
    a double name or surname ("анна-мария", "смирнова-петрова") scores as its weakest part."""
    if "-" in word.strip("-"):
        return min(_ru_name_score(part) for part in word.split("-") if part) if word.strip("-") else 0.0
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
        # lowercase transcripts (human or speech-recogniser): "thanks john", "hi this is mary from..."
        # after a cue, an unambiguous first name ("will", "mark", "hope" are not) is a name
        return after_cue and name_like(tok)
    if after_cue:
        return True
    if tok in rules.en_first:
        # "Bill me later", "Frank answer": common words pass only inside a sentence
        return tok not in rules.en_ambiguous or not _SENT_END.search(text[max(0, start - 3):start])
    return False


_LAST_WORD = re.compile(r"([^\W\d_]+)['’]?s?\W{0,3}$")


def _name_spans(text: str, rules: _Rules, spans: _Spans) -> None:
    low = text.lower()
    tokens = [(m.start(), m.end(), m.group()) for m in _WORD.finditer(text)]
    cue_end: dict[int, bool] = {}  # token index right after a cue -> strong cue?
    for c in rules.cues:
        for m in re.finditer(r"(?<![^\W\d_])" + re.escape(c) + r"(?![^\W\d_])", low):
            before = _LAST_WORD.search(low, max(0, m.start() - 30), m.start())
            if before and before.group(1) in rules.cue_not_after:
                continue  # "the company name is Fossil Gas" names no person
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
                # "my name is john kowalski": after a strong cue a lowercase surname goes too
                ok = ok or (bool(after_cue) and k == i + 1 and not _CYR.search(tok) and nt.isalpha()
                            and nt.lower() not in rules.en_name_followers)
            if not ok:
                break
            end = nb
            k += 1
        spans.add(a, end, "name")
        i = k
    # A name found once (after a cue, or by its parse) is the same person's name elsewhere in the text.
    # Every word of it: a surname said once after "my name is" and spelled again later goes too.
    found = {w for a, b, kind in spans.items if kind == "name" for w in _WORD.findall(text[a:b])
             if len(w) > 1 and not w.isdigit()}
    found_low = {w.lower() for w in found if w not in rules.en_ambiguous}
    for a, b, tok in tokens:
        if (tok in found or tok.lower() in found_low) and spans.free(a, b) and not (
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


def _lang(lang: str | None, text: str) -> str:
    from .language import detect_language

    lang = (lang or detect_language(text)).lower()[:2]
    return lang if lang in ("ru", "en") else "en"


def _apply(text: str, spans: Iterable[tuple[int, int, str]], lang: str) -> str:
    """`text` with each span replaced by its kind's tag; overlapping spans merge into the first."""
    rules = _rules()
    out: list[str] = []
    pos = 0
    for a, b, kind in sorted(spans):
        if a < pos:  # overlaps the tag just written: it only grows
            pos = max(pos, b)
            continue
        out.append(text[pos:a])
        out.append(rules.tag(kind, lang))
        pos = b
    out.append(text[pos:])
    return "".join(out)


def redact(text: str, lang: str | None = None) -> str:
    """`text` with personal data replaced by tags in `lang` ('ru' or 'en'; detected when None)."""
    if not isinstance(text, str) or not text:
        return text
    return _apply(text, find_pii(text), _lang(lang, text))


# ---- whole calls ----------------------------------------------------------------------------
_NUMBER_PIECE = re.compile(r"\d|[^\W\d_]+")
_TRIM = " \t\r\n\u00a0,.;:!?…-–—\"'«»()"


def _trim(text: str, a: int, b: int, kind: str) -> tuple[int, int] | None:
    """The part of text[a:b] worth a tag: without edge punctuation, and for a phone only from its
    first to its last number word ("да." between two dictated groups stays)."""
    rules = _rules()
    if kind == "phone":
        toks = [m for m in _WORD.finditer(text, a, b) if _is_number_token(m.group().lower(), rules)]
        if not toks:
            return None
        return toks[0].start(), toks[-1].end()
    while a < b and text[a] in _TRIM:
        a += 1
    while b > a and text[b - 1] in _TRIM:
        b -= 1
    return (a, b) if _NUMBER_PIECE.search(text, a, b) else None


def find_pii_turns(texts: Sequence[str]) -> list[list[tuple[int, int, str]]]:
    """Spans of personal data per turn of one call, read as one conversation.

    Beyond `find_pii` on each turn: a phone number dictated over several turns ("восемь девятьсот
    три" / "да" / "один один один два два три три"), a number whose cue ("номер?") is in the other
    side's question, and a name introduced in one turn wherever it comes back.
    """
    texts = ["" if t is None else str(t) for t in texts]
    per = [find_pii(t) for t in texts]
    joined = "\n".join(texts)
    if not joined.strip():
        return per
    starts, pos = [], 0
    for t in texts:
        starts.append(pos)
        pos += len(t) + 1
    claimed = _Spans()
    for i, spans in enumerate(per):
        for a, b, kind in spans:
            claimed.add(starts[i] + a, starts[i] + b, kind)
    rules = _rules()
    # Number runs first: "8 916" / "ага" / "123 45 67" is one number, not a cued tail and a stub.
    _spoken_phone_spans(joined, rules, claimed)
    _regex_spans(joined, rules, claimed)
    _name_spans(joined, rules, claimed)
    for ja, jb, kind in claimed.items:
        i = bisect.bisect_right(starts, ja) - 1
        while i < len(texts) and starts[i] < jb:
            a, b = max(ja, starts[i]) - starts[i], min(jb, starts[i] + len(texts[i])) - starts[i]
            piece = _trim(texts[i], a, b, kind) if a < b else None
            if piece and all(pb <= piece[0] or pa >= piece[1] for pa, pb, _ in per[i]):
                per[i].append((piece[0], piece[1], kind))
            i += 1
    return [sorted(s) for s in per]


def redact_turns(texts: Sequence[str], lang: str | None = None) -> list[str]:
    """The turns of one call with personal data replaced, found with the whole call as context
    (see `find_pii_turns`). `lang`: the call's language; detected from all turns when None."""
    texts = ["" if t is None else str(t) for t in texts]
    lg = _lang(lang, " ".join(texts))
    return [_apply(t, spans, lg) if spans else t for t, spans in zip(texts, find_pii_turns(texts))]


# ---- call ids and file names ----------------------------------------------------------------
_PSEUDONYM_ALPHABET = "bcdfghjkmnpqrstvwxz"  # no vowels, no digits: a pseudonym never reads as a name or number
PSEUDONYM_RE = re.compile(rf"^call-[{_PSEUDONYM_ALPHABET}]{{10}}$")
_DIGIT_RUN = re.compile(r"\+?\(?\d(?:[ \-.()+]{0,2}\d)*\)?")
_ID_WORD = re.compile(r"[^\W\d_]{2,}")
_TITLE_PAIR = re.compile(r"(?<![^\W\d_])([A-ZА-ЯЁ][a-zа-яё]+)[ _]+([A-ZА-ЯЁ][a-zа-яё]+)(?![^\W\d_])")


@lru_cache(maxsize=1)
def _id_rules() -> tuple[re.Pattern, int, int, int, frozenset[str]]:
    d = json.loads(RULES_PATH.read_text(encoding="utf-8"))["call_ids"]
    return (re.compile(d["stamp"]), int(d["min_digits"]), int(d["plus_min_digits"]), int(d["stamp_min_digits"]),
            frozenset(w.lower() for w in d["recorder_words"]))


@lru_cache(maxsize=4096)
def personal_id(name: str) -> bool:
    """Whether a call id or file stem may hold personal data (a phone number, a contact's name,
    anything the redaction rules find). The rules are in `rules/redact.json` ("call_ids");
    a pseudonym made by `pseudonym` is never personal."""
    name = str(name or "")
    if not name or PSEUDONYM_RE.match(name):
        return False
    stamp, min_digits, plus_min, stamp_min, words = _id_rules()
    has_stamp = False
    masked = name
    for m in _DIGIT_RUN.finditer(name):
        run = m.group()
        n = sum(c.isdigit() for c in run)
        core = run.strip("+() ")
        if n >= stamp_min and stamp.fullmatch(core):
            has_stamp = True  # a date/time is not a phone number
            masked = masked[:m.start()] + " " * len(run) + masked[m.end():]
            continue
        if n >= min_digits or (run.startswith("+") and n >= plus_min):
            return True
    if find_pii(masked.replace("_", " ")):
        return True
    others = [w for w in _ID_WORD.findall(name) if w.lower() not in words]
    if has_stamp and others:
        return True
    return any(a.lower() not in words and b.lower() not in words for a, b in _TITLE_PAIR.findall(name))


def pseudonym(original: str, key: bytes) -> str:
    """`call-` and 10 letters from HMAC-SHA256(key, original): stable for one key (one store),
    not reversible without it, and no dictionary of phone numbers can find the number behind it."""
    import hashlib
    import hmac

    n = int.from_bytes(hmac.new(key, str(original).encode("utf-8"), hashlib.sha256).digest()[:10], "big")
    out = []
    for _ in range(10):
        n, r = divmod(n, len(_PSEUDONYM_ALPHABET))
        out.append(_PSEUDONYM_ALPHABET[r])
    return "call-" + "".join(out)


def safe_path(path: Any, call_id: str | None = None) -> str:
    """A file path fit to show people: a folder or file name that may hold personal data is
    replaced, the file's by `[<call_id>]` (its pseudonym) when given, else by `[…]`."""
    from pathlib import PurePath

    p = PurePath(str(path))
    parts = list(p.parts)
    if not parts:
        return str(path)
    out = [("[…]" if personal_id(part) else part) for part in parts[:-1]]
    name = parts[-1]
    stem, suffix = (p.stem, p.suffix) if len(p.suffix) <= 6 else (name, "")
    if personal_id(stem) or personal_id(name):
        name = f"[{call_id or '…'}]{suffix}"
    out.append(name)
    if len(out) > 1 and out[0] == p.anchor:
        return out[0] + "/".join(out[1:]) if p.anchor.endswith(("/", "\\")) else "/".join(out)
    return "/".join(out)


def safe_message(message: Any, path: Any = None, call_id: str | None = None) -> str:
    """An error or progress message fit to show: the file `path` it is about (whole, its name, its
    stem, any folder) shown as `safe_path` shows it, then the rest redacted (a message may quote
    the file's text or name)."""
    from pathlib import PurePath

    msg = "" if message is None else str(message)
    if path is not None and str(path):
        p = PurePath(str(path))
        shown = PurePath(safe_path(p, call_id))
        subs = [(str(path), str(shown))]
        if personal_id(p.stem) or personal_id(p.name):
            subs += [(p.name, shown.name), (p.stem, call_id or "[…]")]
        subs += [(part, "[…]") for part in p.parts[:-1] if personal_id(part)]
        for old, new in subs:
            if old and old != new:
                msg = msg.replace(old, new)
    return redact(msg) if msg else msg


# ---- the gate to every output ----------------------------------------------------------------
@lru_cache(maxsize=1)
def _session_key() -> bytes:
    import secrets

    return secrets.token_bytes(32)


class Redactor:
    """What every output passes through: report, tables, exports, CSVs, printed lines.

    `enabled=False` (`--no-redact`) lets everything through and shows the original call ids.
    With a `store`, call ids are shown through its pseudonym table (a personal id the store did
    not pseudonymise, from an older store, gets its pseudonym now) and text from a call is
    redacted with the whole call as context (`find_pii_turns`). Without a store, personal call
    ids get a pseudonym that holds for this process only.
    """

    def __init__(self, store: Any = None, enabled: bool = True, calls: Iterable[Any] = ()):
        self.store = store
        self.enabled = bool(enabled)
        self._calls: dict[str, tuple[list[str], list[list[tuple[int, int, str]]]] | None] = {}
        # calls not in a store (`callbridge extract FILES`): their turns are the context
        self._loose = {str(c.call_id): [t.text for t in c.turns] for c in calls}

    def call_id(self, call_id: Any) -> Any:
        """The id to show for `call_id` (a pseudonym unless redaction is off)."""
        if call_id is None or call_id == "":
            return call_id
        cid = str(call_id)
        if not self.enabled:
            return self.store.original_id(cid) if self.store is not None else cid
        if self.store is not None:
            return self.store.call_id_for(cid)
        return pseudonym(cid, _session_key()) if personal_id(cid) else cid

    def path(self, path: Any, call_id: str | None = None) -> str:
        """A file path to show: personal folder/file names replaced (see `safe_path`)."""
        if path is None or not self.enabled:
            return "" if path is None else str(path)
        return safe_path(path, self.call_id(call_id) if call_id else None)

    def message(self, message: Any, path: Any = None, call_id: str | None = None) -> str:
        """An error or progress message (about the file `path` of call `call_id`, when known):
        original ids become pseudonyms, personal file names go, the rest is redacted."""
        msg = "" if message is None else str(message)
        if not self.enabled or not msg:
            return msg
        if self.store is not None:
            for original, pid in sorted(self.store.aliases().items(), key=lambda kv: -len(kv[0])):
                if original in msg:
                    msg = msg.replace(original, pid)
        return safe_message(msg, path, self.call_id(call_id) if call_id else None)

    def turns(self, texts: Sequence[str], lang: str | None = None) -> list[str]:
        """The turns of one call, redacted with the call as context."""
        return list(texts) if not self.enabled else redact_turns(texts, lang)

    def text(self, text: Any, lang: str | None = None, call_id: str | None = None, turn: int | None = None) -> Any:
        """`text` (a quote, an evidence sentence, a label) with personal data replaced. With the
        `call_id` (and `turn`) it came from, what the call says elsewhere counts too: a number
        dictated over several turns, a name introduced earlier."""
        if not self.enabled or not isinstance(text, str) or not text.strip():
            return text
        spans = list(find_pii(text))
        ctx = self._call(call_id) if call_id is not None else None
        if ctx:
            texts, per = ctx
            order = ([turn] if isinstance(turn, int) and 0 <= turn < len(texts) else []) + list(range(len(texts)))
            for i in order:
                off = texts[i].find(text)
                if off < 0:
                    continue
                end = off + len(text)
                spans += [(max(a, off) - off, min(b, end) - off, k) for a, b, k in per[i] if a < end and b > off]
                break
            else:
                spans += _known_spans(text, texts, per)
        return _apply(text, spans, _lang(lang, text))

    def _call(self, call_id: str):
        cid = str(call_id)
        if cid not in self._calls:
            texts = self._loose.get(cid)
            if texts is None and self.store is not None:
                try:
                    texts = [t.text for t in self.store.get_call(cid).turns]
                except Exception:  # a quote whose call is gone: the text alone is redacted
                    texts = None
            self._calls[cid] = (texts, find_pii_turns(texts)) if texts is not None else None
        return self._calls[cid]


def _known_spans(text: str, texts: Sequence[str], per: Sequence[Sequence[tuple[int, int, str]]]):
    """Spans of `text` that repeat a piece of personal data found in the call's turns."""
    out = []
    seen: set[str] = set()
    low = text.lower()
    for t, spans in zip(texts, per):
        for a, b, kind in spans:
            piece = t[a:b].strip().lower()
            if len(piece) < 3 or piece in seen:
                continue
            seen.add(piece)
            i = low.find(piece)
            while i >= 0:
                j = i + len(piece)
                if (i == 0 or not low[i - 1].isalnum()) and (j == len(low) or not low[j].isalnum()):
                    out.append((i, j, kind))
                i = low.find(piece, j)
    return out


def personal_lemmas(texts: Sequence[str], lemmatize: Callable[[list[str]], list[list[str]]]) -> set[str]:
    """Lowercase words and lemmas of the names and e-mail addresses in `texts` ("Karen" in "my
    friend Karen said" -> "karen"). `lemmatize(texts) -> one lemma list per text`."""
    pieces = [t[a:b] for t in texts if t for a, b, kind in find_pii(t) if kind in ("name", "email")]
    if not pieces:
        return set()
    out = {w.lower() for p in pieces for w in _WORD.findall(p)}
    for lem in lemmatize(pieces):
        out.update(w.lower() for w in lem)
    return {w for w in out if any(c.isalpha() for c in w)}


def name_like(word: str) -> bool:
    """A bare lowercase word (a lemma) that is most likely a first name or surname: a Russian word
    pymorphy3 reads as one with high probability, or an English first name that is not also a
    common word ("karen" yes, "mark" no)."""
    w = str(word or "").strip().lower()
    if len(w) < 2 or not w.isalpha():
        return False
    rules = _rules()
    if _CYR.search(w):
        return _ru_name_score(w) >= rules.ru_lower_min
    return w.capitalize() in rules.en_first and w.capitalize() not in rules.en_ambiguous


def number_like(term: str) -> bool:
    """A term (words or lemmas) made of digits and number words only ("ноль девять", "six two
    eight"): in a theme's key terms such a term is most likely a piece of a number someone dictated,
    and cut from its call it can no longer be recognised as one, so redacted outputs leave it out."""
    words = re.findall(r"\w+", str(term or "").lower())
    rules = _rules()
    return bool(words) and all(_is_number_token(w, rules) for w in words)


def drop_personal_lemmas(docs: Sequence[list[str]], texts: Sequence[str],
                         lemmatize: Callable[[list[str]], list[list[str]]]) -> list[list[str]]:
    """`docs` (one lemma list per text) without the lemmas of names and e-mails found in `texts`
    or that look like a name on their own: what theme labels and key terms are built from."""
    bad = personal_lemmas(texts, lemmatize)
    return [[w for w in d if w.lower() not in bad and not name_like(w)] for d in docs]


def iter_kinds() -> Iterator[str]:
    return iter(KINDS)
