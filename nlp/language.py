"""Language processing. The only module that touches spaCy objects.

Russian: `spacy.blank("ru")` + sentencizer, lemmas from pymorphy3 (no trained Russian
pipeline installs from PyPI). English: a trained pipeline when the user has one installed
(`en_core_web_sm`) for `get_nlp`, else `spacy.blank("en")` + lookup lemmas from
spacy-lookups-data. Other stages get plain Python data (strings, spans, lemma lists), never
Doc objects.

The fast path (`analyze`, `lemmas_many`) tokenizes and splits with a blank pipeline and
looks lemmas up per word form through a cache: speech repeats the same few thousand word
forms, so after warm-up lemmatization costs a dict lookup per token instead of a
morphological parse (about 10x faster than spaCy's own pymorphy3 lemmatizer component).

Speech-recogniser text has no punctuation, so the sentencizer returns whole turns.
`sentence_spans` then cuts long unpunctuated stretches before discourse markers
("потому что", "а вот", "and honestly", "but"...), kept as data in `rules/split_<lang>.json`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterable, Sequence

from .errors import ModelError

_CYR = re.compile(r"[а-яё]", re.I)
_LAT = re.compile(r"[a-z]", re.I)
_RULES_DIR = Path(__file__).with_name("rules")


def detect_language(text: str, default: str = "en") -> str:
    """'ru' or 'en' by script. Calls are Russian or English first; mixed text goes by majority."""
    cyr = len(_CYR.findall(text))
    lat = len(_LAT.findall(text))
    if cyr == 0 and lat == 0:
        return default
    return "ru" if cyr >= lat else "en"


def norm_lang(lang: str | None, text: str = "") -> str:
    if not lang or lang == "auto":
        return detect_language(text)
    lang = lang.lower()[:2]
    return lang if lang in ("ru", "en") else detect_language(text, default="en")


@lru_cache(maxsize=4)
def get_nlp(lang: str):
    """The spaCy pipeline for `lang` ('ru' or 'en') with a lemmatizer, built once per process."""
    import spacy

    lang = norm_lang(lang)
    if lang == "en":
        try:
            nlp = spacy.load("en_core_web_sm", exclude=["ner", "parser"])
            if "sentencizer" not in nlp.pipe_names and "senter" not in nlp.pipe_names:
                nlp.add_pipe("sentencizer")
            return nlp
        except OSError:
            pass
    nlp = spacy.blank(lang)
    nlp.add_pipe("sentencizer")
    try:
        if lang == "ru":
            nlp.add_pipe("lemmatizer", config={"mode": "pymorphy3"})
        else:
            nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
        nlp.initialize()
    except Exception as e:  # missing pymorphy3 dictionaries or lookup tables
        raise _lemma_error(lang, e) from None
    return nlp


def _lemma_error(lang: str, e: Exception) -> ModelError:
    pkg = "pymorphy3 pymorphy3-dicts-ru" if lang == "ru" else "spacy-lookups-data"
    return ModelError(f"cannot build the {lang} lemmatizer: {e}", hint=f"pip install {pkg}")


@lru_cache(maxsize=4)
def _splitter(lang: str):
    """Tokenizer + rule sentencizer only: the cheap part of the pipeline."""
    import spacy

    nlp = spacy.blank(lang)
    nlp.add_pipe("sentencizer")
    return nlp


@lru_cache(maxsize=4)
def _lemma_fn(lang: str) -> Callable[[str], str]:
    """A cached word-form -> lemma function (input already lower-cased)."""
    if lang == "ru":
        try:
            import pymorphy3

            morph = pymorphy3.MorphAnalyzer()
        except Exception as e:
            raise _lemma_error(lang, e) from None

        @lru_cache(maxsize=300_000)
        def ru(w: str) -> str:
            if not _CYR.search(w):
                return w
            return morph.parse(w)[0].normal_form.replace("ё", "е")

        return ru
    try:
        from spacy.lookups import load_lookups

        table = load_lookups(lang, ["lemma_lookup"]).get_table("lemma_lookup")
    except Exception as e:
        raise _lemma_error(lang, e) from None
    contractions = {"n't": "not", "'m": "be", "'re": "be", "'s": "'s", "'ve": "have", "'ll": "will",
                    "'d": "would", "ca": "can", "wo": "will", "gon": "go", "na": "to", "ai": "be"}

    @lru_cache(maxsize=300_000)
    def en(w: str) -> str:
        w2 = w.replace("’", "'")
        if w2 in contractions:
            return contractions[w2]
        return str(table.get(w2, w2)).lower()

    return en


@lru_cache(maxsize=4)
def split_rules(lang: str) -> dict:
    """Discourse markers that may open a new unit in unpunctuated speech (data file)."""
    p = _RULES_DIR / f"split_{lang}.json"
    if not p.exists():
        return {"markers": [], "min_words": 4, "max_words": 14}
    d = json.loads(p.read_text(encoding="utf-8"))
    d["markers"] = [tuple(m.lower().split()) for m in d.get("markers", [])]
    return d


@dataclass
class Token:
    text: str
    lower: str
    lemma: str
    start: int  # char offset in the analysed text
    end: int
    is_punct: bool


@dataclass
class Analysis:
    """One analysed text: tokens and sentence-like units as token index ranges [start, end)."""

    text: str
    lang: str
    tokens: list[Token]
    units: list[tuple[int, int]]

    def unit_span(self, u: tuple[int, int]) -> tuple[int, int]:
        return self.tokens[u[0]].start, self.tokens[u[1] - 1].end


def analyze(texts: Sequence[str], lang: str, batch_size: int = 256) -> list[Analysis]:
    """Tokens (with lemmas) and units (sentences; long unpunctuated ones cut at discourse markers)."""
    lang = norm_lang(lang)
    nlp = _splitter(lang)
    lem = _lemma_fn(lang)
    rules = split_rules(lang)
    out: list[Analysis] = []
    for text, doc in zip(texts, nlp.pipe(texts, batch_size=batch_size)):
        toks = []
        ours: list[int] = []  # doc token index -> our index (spaces dropped), -1 for spaces
        for t in doc:
            if t.is_space:
                ours.append(-1)
                continue
            low = t.lower_
            ours.append(len(toks))
            toks.append(Token(t.text, low, lem(low) if not t.is_punct else low, t.idx, t.idx + len(t.text),
                              bool(t.is_punct)))
        units: list[tuple[int, int]] = []
        for s in doc.sents:
            idx = [ours[i] for i in range(s.start, s.end) if ours[i] >= 0]
            if not idx:
                continue
            a, b = idx[0], idx[-1] + 1
            if all(toks[i].is_punct for i in range(a, b)):
                if units:  # stray punctuation joins the previous unit
                    units[-1] = (units[-1][0], b)
                continue
            units.extend(_split_run_on(toks, a, b, rules))
        out.append(Analysis(text, lang, toks, units))
    return out


def _split_run_on(toks: list[Token], a: int, b: int, rules: dict) -> list[tuple[int, int]]:
    """Cut an unpunctuated stretch before discourse markers, keeping pieces of min_words or more."""
    words = [i for i in range(a, b) if not toks[i].is_punct]
    inner_punct = any(toks[i].is_punct and toks[i].text not in "-—–'\"«»" for i in range(a, b - 1))
    if inner_punct or len(words) <= rules.get("max_words", 14):
        return [(a, b)]
    min_w = rules.get("min_words", 4)
    markers = rules["markers"]
    cuts = []
    last = a
    i = a + 1
    by_first = rules.get("_by_first")
    if by_first is None:
        by_first = rules["_by_first"] = {}
        for m in markers:
            by_first.setdefault(m[0], []).append(m)
    while i < b:
        for m in by_first.get(toks[i].lower, ()):
            if tuple(t.lower for t in toks[i:i + len(m)]) == m:
                left = sum(1 for j in range(last, i) if not toks[j].is_punct)
                right = sum(1 for j in range(i, b) if not toks[j].is_punct)
                if left >= min_w and right >= min_w:
                    cuts.append(i)
                    last = i
                break
        i += 1
    bounds = [a] + cuts + [b]
    return [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]


def sentence_spans(text: str, lang: str) -> list[tuple[int, int]]:
    """Character spans of sentences in `text` (long unpunctuated runs cut at discourse markers)."""
    if not text.strip():
        return []
    an = analyze([text], lang)[0]
    return [an.unit_span(u) for u in an.units]


def lemmas(text: str, lang: str) -> list[str]:
    """Lower-case lemmas of the word tokens of `text` (punctuation and spaces dropped)."""
    return lemmas_many([text], lang)[0]


def lemmas_many(texts: Sequence[str], lang: str, batch_size: int = 256) -> list[list[str]]:
    lang = norm_lang(lang)
    nlp = _splitter(lang)
    lem = _lemma_fn(lang)
    out = []
    for doc in nlp.tokenizer.pipe(texts, batch_size=batch_size):
        out.append([lem(t.lower_) for t in doc if not (t.is_punct or t.is_space)])
    return out


def lemmas_auto(texts: Iterable[str], langs: Iterable[str | None] | None = None) -> list[list[str]]:
    """Lemmas for texts of mixed languages, each text in its own (given or detected) language."""
    texts = list(texts)
    langs = list(langs) if langs is not None else [None] * len(texts)
    by_lang: dict[str, list[int]] = {}
    for i, (t, l) in enumerate(zip(texts, langs)):
        by_lang.setdefault(norm_lang(l, t), []).append(i)
    out: list[list[str]] = [[] for _ in texts]
    for lang, idx in by_lang.items():
        for i, lem in zip(idx, lemmas_many([texts[i] for i in idx], lang)):
            out[i] = lem
    return out


def sentence_spans_many(texts: Sequence[str], lang: str, batch_size: int = 256) -> list[list[tuple[int, int]]]:
    """`sentence_spans` for many texts at once. Runs only the sentence splitter (no lemmatizer), which is
    ~30x faster: script-gap analysis splits every agent turn of every call on each run."""
    nlp = _splitter(norm_lang(lang))
    out: list[list[tuple[int, int]]] = [[] for _ in texts]
    idx = [i for i, t in enumerate(texts) if t.strip()]
    for i, doc in zip(idx, nlp.pipe([texts[i] for i in idx], batch_size=batch_size)):
        out[i] = [(s.start_char, s.end_char) for s in doc.sents if s.text.strip()]
    return out
