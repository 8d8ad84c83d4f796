"""Language processing. The only module that touches spaCy objects.

Russian: `spacy.blank("ru")` + sentencizer + pymorphy3 lemmatizer (no trained Russian
pipeline installs from PyPI). English: a trained pipeline when the user has one installed
(`en_core_web_sm`), else `spacy.blank("en")` + lookup lemmatizer from spacy-lookups-data.
Other stages get plain Python data (strings, spans, lemma lists), never Doc objects.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable, Sequence

from .errors import ModelError

_CYR = re.compile(r"[а-яё]", re.I)
_LAT = re.compile(r"[a-z]", re.I)


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
    """The spaCy pipeline for `lang` ('ru' or 'en'), built once per process."""
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
        pkg = "pymorphy3 pymorphy3-dicts-ru" if lang == "ru" else "spacy-lookups-data"
        raise ModelError(f"cannot build the {lang} spaCy lemmatizer: {e}", hint=f"pip install {pkg}") from None
    return nlp


def sentence_spans(text: str, lang: str) -> list[tuple[int, int]]:
    """Character spans of sentences in `text` (stripped of surrounding whitespace)."""
    if not text.strip():
        return []
    doc = get_nlp(lang)(text)
    return [(s.start_char, s.end_char) for s in doc.sents if s.text.strip()]


def lemmas(text: str, lang: str) -> list[str]:
    """Lower-case lemmas of the word tokens of `text` (punctuation and spaces dropped)."""
    return lemmas_many([text], lang)[0]


def lemmas_many(texts: Sequence[str], lang: str, batch_size: int = 256) -> list[list[str]]:
    nlp = get_nlp(lang)
    out = []
    for doc in nlp.pipe(texts, batch_size=batch_size):
        out.append([(t.lemma_ or t.text).lower() for t in doc if not (t.is_punct or t.is_space)])
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
    nlp = get_nlp(lang)
    splitters = [p for p in ("senter", "sentencizer") if p in nlp.pipe_names]
    out: list[list[tuple[int, int]]] = [[] for _ in texts]
    idx = [i for i, t in enumerate(texts) if t.strip()]
    with nlp.select_pipes(enable=splitters[:1]):
        for i, doc in zip(idx, nlp.pipe([texts[i] for i in idx], batch_size=batch_size)):
            out[i] = [(s.start_char, s.end_char) for s in doc.sents if s.text.strip()]
    return out
