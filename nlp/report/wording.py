"""Numbers with their nouns, in Russian and English: "1 проигранном звонке", "5 звонков", "1 lost call".

Russian nouns change with the number and the case the sentence puts them in; pymorphy3 inflects
them (`make_agree_with_number` for the nominative/accusative, where 2-4 and 5+ take different
genitive forms; singular vs plural of the sentence's own case otherwise: "в 1 звонке",
"в 2 звонках", "из 21 звонка"). The noun phrases are in `nlp/i18n/report.json` under `nouns`:
a Russian entry is the phrase in the nominative singular ("проигранный звонок"), an English
entry the [singular, plural] pair.
"""

from __future__ import annotations

from functools import lru_cache

CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct")


@lru_cache(maxsize=1)
def _morph():
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


def _singular(n: int) -> bool:
    return n % 10 == 1 and n % 100 != 11


@lru_cache(maxsize=4096)
def ru_phrase(n: int, phrase: str, case: str = "nomn") -> str:
    """`phrase` (nominative singular, adjectives before the noun) agreed with the number `n` in
    grammatical `case` (an OpenCorpora case tag, see CASES); the number itself is not included.
    Words pymorphy3 does not know stay as written."""
    if case not in CASES:
        raise ValueError(f"unknown case {case!r}; use one of {', '.join(CASES)}")
    morph = _morph()
    out = []
    for word in phrase.split():
        parses = [p for p in morph.parse(word) if {"NOUN", "ADJF", "PRTF"} & set(str(p.tag).replace(" ", ",").split(","))
                  and "nomn" in p.tag]
        if not parses:
            out.append(word)
            continue
        p = parses[0]
        if case in ("nomn", "accs"):
            # the counted form after a number: 1 звонок, 2 звонка, 5 звонков (inanimate: accs = nomn)
            form = p.make_agree_with_number(abs(n))
        else:
            form = p.inflect({"sing" if _singular(abs(n)) else "plur", case})
        out.append(form.word if form is not None else word)
    return " ".join(out)


def count(n: int, noun: str | list | tuple, lang: str, case: str = "nomn", *, number: bool = True) -> str:
    """"5 звонков" / "5 calls": the number and its noun phrase agreed. `noun` is the i18n entry
    (a Russian nominative-singular phrase, or an English [singular, plural] pair); `case` matters
    for Russian only. With number=False only the agreed noun phrase is returned."""
    if lang == "ru":
        words = ru_phrase(int(n), str(noun), case)
    else:
        if isinstance(noun, str):
            sing, plur = noun, noun + "s"
        else:
            sing, plur = noun[0], noun[1]
        words = sing if abs(int(n)) == 1 else plur
    return f"{n} {words}" if number else words
