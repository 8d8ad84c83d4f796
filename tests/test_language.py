from nlp.language import (analyze, detect_language, lemmas, lemmas_auto, lemmas_many, norm_lang, sentence_spans,
                          sentence_spans_many)


def test_detect_and_norm_language():
    assert detect_language("Сколько стоит кухня?") == "ru"
    assert detect_language("How much is it?") == "en"
    assert detect_language("12345", default="ru") == "ru"
    assert norm_lang("RU-ru") == "ru" and norm_lang("auto", "hello there") == "en" and norm_lang("de", "привет") == "ru"


def test_sentence_spans_punctuated_both_languages():
    ru = "Здравствуйте. Мне нужен шкаф в прихожую! А сколько стоит?"
    en = "Hi there. I need a quote for my house. How long does it take?"
    for text, lang, n in ((ru, "ru", 3), (en, "en", 3)):
        spans = sentence_spans(text, lang)
        assert len(spans) == n
        assert text[spans[1][0]:spans[1][1]].startswith(("Мне", "I need"))


def test_unpunctuated_speech_is_cut_at_discourse_markers():
    ru = "мы квартиру купили вторичку хотим ремонт сделать потому что старый совсем развалился и пол кривой"
    en = "i mean the bill mainly and honestly we're thinking we might sell in like five six years anyway"
    for text, lang, first in ((ru, "ru", "мы квартиру купили вторичку хотим ремонт сделать"),
                              (en, "en", "i mean the bill mainly")):
        spans = sentence_spans(text, lang)
        assert len(spans) >= 2
        assert text[spans[0][0]:spans[0][1]] == first
        # units tile the text: every piece is an exact substring, in order
        assert all(a < b for a, b in spans) and all(spans[i][1] <= spans[i + 1][0] for i in range(len(spans) - 1))


def test_short_unpunctuated_turn_stays_whole():
    assert sentence_spans("да давайте на субботу", "ru") == [(0, 21)]


def test_lemmas_both_languages():
    assert lemmas("Кухни дорогие", "ru") == ["кухня", "дорогой"]
    assert lemmas("The children were looking", "en") == ["the", "child", "be", "look"]
    assert lemmas_many(["I can't", "We're"], "en") == [["i", "can", "not"], ["we", "be"]]
    assert lemmas_auto(["дети", "kids"]) == [["ребёнок".replace("ё", "е")], ["kid"]]


def test_empty_inputs():
    assert sentence_spans("", "ru") == [] and sentence_spans("   ", "en") == []
    assert lemmas("", "ru") == [] and lemmas_many([], "en") == [] and lemmas_auto([]) == []
    assert analyze([], "ru") == []
    assert sentence_spans_many(["", "Hi. Bye."], "en") == [[], [(0, 3), (4, 8)]]
    an = analyze(["..."], "en")[0]
    assert an.units == []
