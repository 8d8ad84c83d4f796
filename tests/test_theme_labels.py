"""Theme labels a person would write: 2-6 of the theme's own words, in its language, no personal data.

Checked over the gold themes of every labelled business (calls-dev, data/train): the labels are made
by `phrase_labels` from the statements of each gold theme, exactly as `build_themes` makes them.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from nlp.language import lemmas_auto, norm_lang
from nlp.redact import find_pii
from nlp.themes import _personal, _without_names, label_themes, phrase_labels, theme_terms

ROOT = Path(__file__).resolve().parents[1]
BUSINESS_ROOTS = [ROOT.parent / "shared/data/eval/calls-dev", ROOT / "data/train"]
WORD = re.compile(r"\w+")


def _gold_sets():
    for root in BUSINESS_ROOTS:
        if not root.is_dir():
            continue
        for b in sorted(p for p in root.iterdir() if (p / "labels").is_dir()):
            by_kind: dict[str, list[tuple[str, str]]] = {}
            for f in sorted((b / "labels").glob("*.json")):
                d = json.loads(f.read_text(encoding="utf-8"))
                items = ([("opening", d["opening"])] if d.get("opening") else []) + \
                    [(s["kind"], s) for s in d.get("statements", [])]
                for kind, s in items:
                    if s.get("theme"):
                        by_kind.setdefault(kind, []).append((s["text"], s["theme"]))
            for kind, rows in by_kind.items():
                yield b.name, kind, [t for t, _ in rows], [g for _, g in rows]


def check_label(label: str, member_texts: list[str], lang: str) -> str | None:
    """Why `label` is not a label a person would write for these statements (None when it is)."""
    words = WORD.findall(label)
    if not 2 <= len(words) <= 6:
        return f"{len(words)} words"
    said = {w.lower() for t in member_texts for w in WORD.findall(t)}
    missing = [w for w in words if w.lower() not in said]
    if missing:
        return f"words not in its statements: {missing}"
    cyr = sum(1 for w in words if re.search("[а-яё]", w.lower()))
    lat = sum(1 for w in words if re.search("[a-z]", w.lower()))
    if not (cyr >= lat and cyr if lang == "ru" else lat >= cyr and lat):
        return f"not in {lang}"
    if any(c.isdigit() for c in label) or find_pii(label):
        return "a number or personal data"
    return None


@pytest.mark.slow  # every gold theme of data/train (>1000 labels, ~14 s); the label rules have fast tests below
def test_labels_of_every_gold_theme():
    sets = list(_gold_sets())
    if not sets:
        pytest.skip("no labelled businesses here")
    bad, n = [], 0
    for biz, kind, texts, gold in sets:
        langs = [norm_lang(None, t) for t in texts]
        ids = sorted(set(gold))
        labels = np.array([ids.index(g) for g in gold])
        terms = theme_terms(_without_names(lemmas_auto(texts, langs), texts), labels, langs)
        phrases, _ = phrase_labels(texts, langs, labels, np.zeros(len(texts)), terms, blocked=_personal(texts))
        blocked = _personal(texts)
        for k, g in enumerate(ids):
            members = [t for t, v in zip(texts, labels) if v == k]
            for lang, label in phrases.get(k, {}).items():
                n += 1
                why = check_label(label, [t for t in members if norm_lang(None, t) == lang], lang)
                if why is None and any(w.lower() in blocked for w in WORD.findall(label)):
                    why = "a name"
                if why:
                    bad.append(f"{biz}/{kind}/{g}: {label!r}: {why}")
    # A theme whose statements are all one word ("Дорого.") has no 2-word phrase: the only misses allowed.
    assert n > 1000 and not bad, "\n".join(bad[:20])
    n_themes = sum(len(set(g)) for *_, g in sets)
    assert n >= 0.97 * n_themes


def test_label_shows_the_words_said_not_a_wrong_lemma():
    texts = ["Хочу вызвать замер на субботу", "Когда можно сделать замер кухни?", "Замер бесплатный у вас?",
             "Нужен замер в эту субботу"]
    labels = label_themes(np.zeros(4, dtype=int), texts, ["ru"] * 4)
    assert "замер" in labels[0].lower() and "замереть" not in labels[0].lower()
    assert check_label(labels[0], texts, "ru") is None


def test_label_never_holds_a_name_or_number():
    texts = ["My friend Karen used your patio door service", "Karen said the patio door was fine",
             "We want a patio door like Karen's", "A patio door for 2500 dollars"]
    label = label_themes(np.zeros(4, dtype=int), texts, ["en"] * 4)[0]
    assert "karen" not in label.lower() and not any(c.isdigit() for c in label)
    assert check_label(label, texts, "en") is None
    assert "patio door" in label.lower()


def test_mixed_language_theme_has_a_label_per_language():
    texts = ["Слишком дорого для нас", "Дорого, у конкурентов дешевле", "Too expensive for us",
             "That's too expensive, others are cheaper"]
    langs = ["ru", "ru", "en", "en"]
    phrases, _ = phrase_labels(texts, langs, np.zeros(4, dtype=int), np.zeros(4), None)
    assert set(phrases[0]) == {"ru", "en"}
    assert check_label(phrases[0]["ru"], texts[:2], "ru") is None
    assert check_label(phrases[0]["en"], texts[2:], "en") is None
