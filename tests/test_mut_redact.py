"""Redaction (`nlp/redact.py`) on small texts with known answers; written against the mutants that
survived `scripts/mutation.sh redact`. Each case states what a reader must (not) see."""

import re

import pytest

from nlp import redact as R
from nlp.types import Call, Turn


def kinds(text):
    return [(text[a:b], k) for a, b, k in R.find_pii(text)]


# ---- checksums --------------------------------------------------------------------------------
def test_luhn():
    assert R.luhn_ok("4111111111111111") and R.luhn_ok("5500000000000004")
    assert R.luhn_ok("4000000000000002")                 # a 4 doubled: 8, not 8 - 9
    assert R.luhn_ok("5000000000000009")                 # a 5 doubled: 10 - 9 = 1
    assert not R.luhn_ok("4111111111111112") and not R.luhn_ok("4111 1111 1111 1111")
    assert R.luhn_ok("000000000000") and not R.luhn_ok("00000000000")   # 12 digits at least


def test_inn():
    assert R.inn_ok("7707083893") and not R.inn_ok("7707083894")
    assert R.inn_ok("500100732259") and not R.inn_ok("500100732250") and not R.inn_ok("500100732269")
    assert not R.inn_ok("1111111111") and not R.inn_ok("77070838931") and not R.inn_ok("770708389a")


# ---- claimed spans ------------------------------------------------------------------------------
def test_spans_refuse_overlaps_and_empty_ranges():
    s = R._Spans()
    assert s.add(5, 10, "a") and s.add(10, 12, "b") and s.add(0, 5, "c")
    assert not s.add(4, 6, "x") and not s.add(9, 11, "x") and not s.add(11, 11, "x") and not s.add(6, 3, "x")
    assert not s.add(0, 20, "x") and not s.add(6, 7, "x")
    assert s.add(12, 13, "d")
    assert s.items == [(0, 5, "c"), (5, 10, "a"), (10, 12, "b"), (12, 13, "d")]
    assert s.free(13, 14) and not s.free(2, 3) and s.free(20, 30)


def test_checked_end_cuts_the_extra_group():
    text = "4111 1111 1111 1111 25"
    assert R._checked_end(text, 0, len(text), R.luhn_ok) == 19
    assert R._checked_end("4111-1111-1111-1111-25", 0, 22, R.luhn_ok) == 19
    assert R._checked_end("4111 1111 1111 1112", 0, 19, R.luhn_ok) is None
    assert R._checked_end("41111111111111112", 0, 17, R.luhn_ok) is None


# ---- kinds --------------------------------------------------------------------------------------
def test_card_without_cue_keeps_its_luhn_rule():
    assert kinds("4111 1111 1111 1111") == [("4111 1111 1111 1111", "card")]
    assert kinds("4111 1111 1111 1111 25") == [("4111 1111 1111 1111", "card")]
    # 16 digits failing Luhn and no card cue: not a card (and not a phone either)
    assert all(k != "card" for _s, k in kinds("4111 1111 1111 1112"))
    assert kinds("card 4111 1111 1111 1112") == [("4111 1111 1111 1112", "card")]
    # the cue must come within cue_window characters before the number
    far = "card" + " " * 60 + "4111 1111 1111 1112"
    assert all(k != "card" for _s, k in kinds(far))


def test_inn_by_checksum_or_cue():
    assert kinds("код 7707083893 есть") == [("7707083893", "inn")]
    assert kinds("ИНН 7707083894") == [("7707083894", "inn")]
    assert all(k != "inn" for _s, k in kinds("код 7707083894 есть"))


def test_email_written_and_spoken():
    assert kinds("ivan.petrov@mail.ru") == [("ivan.petrov@mail.ru", "email")]
    assert R.redact("пиши timur.kh пятьдесят пять собака gmail точка com", "ru") == "пиши [email]"
    assert R.redact("пиши пятьдесят пять timur.kh собака gmail точка com", "ru") == "пиши [email]"
    assert R.redact("то есть kh собака gmail точка com", "ru") == "то есть [email]"


def test_extend_spoken_left_stops_at_plain_words():
    rules = R._rules()
    text = "напишите мне timur.kh пятьдесят 55 собака"
    a = text.index("собака")
    assert R._extend_spoken_left(text, a, rules) == text.index("timur.kh")
    assert R._extend_spoken_left("word", 0, rules) == 0
    many = "one " * 8 + "x"
    assert R._extend_spoken_left(many, len(many) - 1, rules) == len(many) - 1 - 6 * 4


@pytest.mark.parametrize("words, digits", [
    ("восемь девятьсот шестнадцать", "8916"), ("сто двадцать три", "123"), ("двести пять", "205"),
    ("сорок семь восемьдесят", "4780"), ("один один", "11"), ("двенадцать три", "123"),
    ("пятнадцать двадцать", "1520"), ("триста двенадцать", "312"), ("девяносто девяносто", "9090"),
    ("eight hundred", "800"), ("eight hundred five", "805"), ("hundred", "100"), ("double two one", "221"),
    ("triple five", "555"), ("double 7", "77"), ("415 five", "4155"), ("oh one", "01"),
    ("twenty one", "21"), ("one twenty", "120"), ("seventy seventy", "7070"), ("три двести", "3200"),
])
def test_number_words_spell_digits(words, digits):
    rules = R._rules()
    run = [(0, 0, w) for w in words.split()]
    assert R._digits(run, rules) == digits


def test_spoken_phone_needs_ten_digits_or_a_cue_and_seven():
    ten = "восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь"
    assert kinds(ten) == [(ten, "phone")]
    seven = "сто двадцать три сорок пять шестьдесят семь"
    assert kinds(seven) == []
    assert kinds("мой телефон " + seven) == [(seven, "phone")]
    six = "сто двадцать три сорок пять шесть"
    assert kinds("мой телефон " + six) == []
    far = "телефон" + " " * 50 + seven
    assert kinds(far) == []


def test_spoken_amounts_and_percent_stay():
    assert kinds("восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь тысяч") == []
    assert kinds("восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь %") == []
    assert kinds("на 2026-09-14 число") == []


def test_number_groups_join_only_through_connectors_or_dictation():
    rules = R._rules()
    assert R._joins(" ", rules) and R._joins(" - ", rules) and R._joins(", ", rules)
    assert not R._joins(". ", rules)                      # a full stop inside a turn ends a number
    assert R._joins(".\n", rules)                         # a turn break with punctuation joins
    assert R._joins(", ", rules, fillers=True) and R._joins(" да, ", rules, fillers=True)
    assert not R._joins("\n" + " " * 61, rules)
    assert not R._joins(" ; ", rules) and R._joins(" ;\n", rules)
    assert not R._joins("\n#", rules)
    # within one text: fillers between the groups
    text = "восемь девятьсот шестнадцать, да, сто двадцать три сорок пять шестьдесят семь"
    assert kinds(text) == [(text, "phone")]
    # four fillers are too many
    text = "восемь девятьсот шестнадцать, да да да да, сто двадцать три сорок пять шестьдесят семь"
    assert all(s != text for s, _k in kinds(text))
    # a full stop ends the first group: neither half is long enough alone
    assert kinds("восемь девятьсот шестнадцать. Сто двадцать три сорок пять") == []


def test_phone_number_dictated_over_turns():
    turns = ["Записываю, диктуйте.", "восемь девятьсот три", "да", "один один один два два три три", "Спасибо."]
    out = R.redact_turns(turns, "ru")
    assert out == ["Записываю, диктуйте.", "[телефон]", "да", "[телефон]", "Спасибо."]
    spans = R.find_pii_turns(turns)
    assert spans[2] == [] and spans[1] == [(0, len(turns[1]), "phone")]


def test_cue_in_the_other_sides_question():
    turns = ["Какой у вас номер?", "сто двадцать три сорок пять шестьдесят семь"]
    assert R.redact_turns(turns, "ru") == ["Какой у вас номер?", "[телефон]"]
    assert R.redact_turns(turns[1:], "ru") == turns[1:]


def test_name_introduced_once_goes_in_every_turn():
    turns = ["Меня зовут Соня.", "Хорошо, Соня, записала.", "соня, да"]
    out = R.redact_turns(turns, "ru")
    assert out[0] == "Меня зовут [имя]." and out[1] == "Хорошо, [имя], записала." and "Соня" not in out[2]
    assert R.find_pii_turns([]) == [] and R.find_pii_turns(["", None]) == [[], []]
    assert R.redact_turns(["ok", None], "en") == ["ok", ""]


def test_trim():
    t = "  «8 916», "
    assert R._trim(t, 0, len(t), "name") == (3, 8)
    assert R._trim("да, восемь", 0, 10, "phone") == (4, 10)
    assert R._trim("да, ага", 0, 7, "phone") is None
    assert R._trim(" , . ", 0, 5, "name") is None


# ---- names --------------------------------------------------------------------------------------
def test_names_en():
    assert R.redact("my name is john kowalski calling about windows", "en") == "my name is [name] calling about windows"
    assert R.redact("my name is john calling about windows", "en") == "my name is [name] calling about windows"
    assert R.redact("The company name is Fossil Gas.", "en") == "The company name is Fossil Gas."
    assert R.redact("I'm Laura.", "en") == "I'm [name]."
    assert R.redact("I'm fine.", "en") == "I'm fine."
    assert R.redact("My name is Okay.", "en") == "My name is Okay."
    assert R.redact("We met John Miller today.", "en") == "We met [name] today."
    assert R.redact("We met John MILLER today.", "en") == "We met [name] MILLER today."
    assert R.redact("Frank asked. Then frank talk with Frank.", "en") == "Frank asked. Then frank talk with [name]."
    assert R.redact("My name is O'Neil", "en") == "My name is [name]"
    assert R.redact("my name is 42", "en") == "my name is 42"


def test_names_ru():
    assert R.redact("Спасибо, Ольга Петрова, до свидания", "ru") == "Спасибо, [имя], до свидания"
    assert R.redact("меня зовут ольга", "ru") == "меня зовут [имя]"
    assert R.redact("моя фамилия Квасникова", "ru") == "моя фамилия [имя]"
    assert R.redact("Вера в успех", "ru") == "Вера в успех"
    assert R.redact("приехал Иван-Петров", "ru") == "приехал [имя]"
    assert R._ru_name_score("-") == 0.0 and R._ru_name_score("окно") == 0.0
    assert R._ru_name_score("анна-мария") == min(R._ru_name_score("анна"), R._ru_name_score("мария")) > 0.5


def test_name_after_cue_with_separators_only():
    assert R.redact("меня зовут — Дмитрий", "ru") == "меня зовут — [имя]"
    assert R.redact("this is: Sarah.", "en") == "this is: [name]."
    assert R.redact("this is really Sarah.", "en") == "this is really [name]."     # known first name anyway
    assert R.redact("this is really Zorbak.", "en") == "this is really Zorbak."


def test_name_repeated_with_following_surname():
    assert R.redact("It's Marcus. Later marcus Reed called.", "en") == "It's [name]. Later [name] called."
    assert R.redact("It's Marcus. Marcus OK.", "en") == "It's [name]. [name] OK."


# ---- applying tags ------------------------------------------------------------------------------
def test_apply_merges_overlaps_and_picks_the_language():
    assert R._apply("abcdefgh", [(2, 4, "name"), (3, 6, "phone"), (6, 7, "email")], "en") == "ab[name][email]h"
    assert R._apply("abcdefgh", [(4, 6, "phone"), (0, 2, "name")], "ru") == "[имя]cd[телефон]gh"
    assert R._apply("abc", [], "en") == "abc"
    assert R._rules().tag("name", "de") == "[name]"
    assert R._lang(None, "Добрый день, меня зовут Анна") == "ru" and R._lang("EN-us", "x") == "en"
    assert R._lang("de", "x") == "en"


# ---- call ids, paths, messages ------------------------------------------------------------------
@pytest.mark.parametrize("name, personal", [
    ("+79161234567", True), ("89161234567", True), ("call_+7916123", True), ("call_7916123", True), ("rec_7916", False),
    ("2026-09-14_10-30-00", False), ("2026-09-14_10-30-00_incoming", False),
    ("2026-09-14_10-30-00_incoming_Ivan", True), ("Ivan_Petrov", True), ("Incoming_Call", False),
    ("call-bcdfghjkmn", False), ("", False), ("call 12", False), ("меня зовут Иван", True),
    ("rec_20260914_103000", False), ("20260914", False),
])
def test_personal_id(name, personal):
    assert R.personal_id(name) is personal


def test_pseudonym():
    a = R.pseudonym("+79161234567", b"k1")
    assert R.PSEUDONYM_RE.match(a) and a == R.pseudonym("+79161234567", b"k1")
    assert a != R.pseudonym("+79161234567", b"k2") and a != R.pseudonym("+79161234568", b"k1")
    assert len({R.pseudonym(str(i), b"k") for i in range(200)}) == 200


def test_safe_path_and_message():
    assert R.safe_path("/calls/Ivan Petrov/+79161234567.wav") == "/calls/[…]/[…].wav"
    assert R.safe_path("/calls/Ivan Petrov/+79161234567.wav", "call-x") == "/calls/[…]/[call-x].wav"
    assert R.safe_path("calls/2026-09-14_10-30-00.wav") == "calls/2026-09-14_10-30-00.wav"
    assert R.safe_path("+79161234567.longsuffix") == "[…]"
    assert R.safe_path("") == ""
    assert R.safe_path("rel/Ivan Petrov/a.wav") == "rel/[…]/a.wav"
    msg = R.safe_message("cannot decode /in/+79161234567.wav (+79161234567): bad header", "/in/+79161234567.wav",
                         "call-q")
    assert msg == "cannot decode /in/[call-q].wav (call-q): bad header"
    assert R.safe_message("file Ivan Petrov/x.wav failed", "Ivan Petrov/x.wav") == "file […]/x.wav failed"
    assert R.safe_message(None) == "" and R.safe_message("ok", "") == "ok"
    assert R.safe_message("call me on 8 916 123 45 67") == "call me on [phone]"


class _Store:
    def __init__(self, turns):
        self._turns = turns

    def original_id(self, cid):
        return "orig-" + cid

    def call_id_for(self, cid):
        return "pid-" + cid

    def aliases(self):
        return {"+79161234567": "call-aaaa", "+7916123456": "call-bbbb"}

    def get_call(self, cid):
        if cid not in self._turns:
            raise KeyError(cid)
        return Call(cid, [Turn("customer", t, 0.0, 1.0) for t in self._turns[cid]], "ru", {}, {})


def test_redactor_gate():
    off = R.Redactor(enabled=False)
    assert off.call_id("+79161234567") == "+79161234567" and off.path("/a/+79161234567.wav") == "/a/+79161234567.wav"
    assert off.text("my name is Anna") == "my name is Anna" and off.turns(["Меня зовут Соня."]) == ["Меня зовут Соня."]
    assert off.message("8 916 123 45 67") == "8 916 123 45 67" and off.path(None) == ""
    assert R.Redactor(_Store({}), enabled=False).call_id("x") == "orig-x"
    on = R.Redactor()
    assert on.call_id(None) is None and on.call_id("") == "" and on.call_id("plain-7") == "plain-7"
    pid = on.call_id("+79161234567")
    assert R.PSEUDONYM_RE.match(pid) and pid == on.call_id("+79161234567")
    assert on.path("/a/+79161234567.wav", "+79161234567") == f"/a/[{pid}].wav" and on.path(None) == ""
    assert on.turns(["Меня зовут Соня.", "Соня, да"]) == ["Меня зовут [имя].", "[имя], да"]
    assert on.message("") == "" and on.message(None) == ""
    stored = R.Redactor(_Store({"c1": ["Меня зовут Соня.", "восемь девятьсот три", "да", "один один один два два три три"]}))
    assert stored.call_id("c1") == "pid-c1"
    # the longer original is replaced first, so no piece of it is left
    assert stored.message("failed: +79161234567") == "failed: call-aaaa"
    assert stored.text("Соня, да", call_id="c1") == "[имя], да"
    assert stored.text("восемь девятьсот три", call_id="c1", turn=1) == "[телефон]"
    assert stored.text("восемь девятьсот три", call_id="c1", turn=99) == "[телефон]"
    # a quote that is not verbatim in the call: pieces of personal data found in the call still go
    assert stored.text("Клиентка Соня перезвонит", call_id="c1") == "Клиентка [имя] перезвонит"
    assert stored.text("Соня", call_id="gone") == "[имя]"
    assert stored.text("  ") == "  " and stored.text(None) is None
    loose = R.Redactor(calls=[Call("k", [Turn("customer", "Меня зовут Соня.", 0.0, 1.0)], "ru", {}, {})])
    assert loose.text("Соня", call_id="k") == "[имя]"


def test_known_spans_match_whole_words_only():
    texts = ["Меня зовут Соня."]
    per = R.find_pii_turns(texts)
    assert R._known_spans("Соня и Сонечка, соня", texts, per) == [(0, 4, "name"), (16, 20, "name")]
    assert R._known_spans("x", ["ab"], [[(0, 2, "name")]]) == []


def test_personal_lemmas_and_name_like():
    texts = ["My friend Karen said so", "write to karen.lee@mail.com", None, ""]
    lem = R.personal_lemmas(texts, lambda ps: [[p.lower()] for p in ps])
    assert {"karen", "karen.lee@mail.com", "lee", "mail", "com"} <= lem and "friend" not in lem
    assert R.personal_lemmas(["no names here"], lambda ps: [[]]) == set()
    assert R.name_like("karen") and not R.name_like("mark") and not R.name_like("window")
    assert R.name_like("ольга") and not R.name_like("окно") and not R.name_like("a") and not R.name_like("k2")
    docs = R.drop_personal_lemmas([["karen", "window", "ольга", "price"]], texts, lambda ps: [[p.lower()] for p in ps])
    assert docs == [["window", "price"]]
    assert list(R.iter_kinds()) == list(R.KINDS)


# ---- the rules file, read afresh ------------------------------------------------------------------
@pytest.fixture
def fresh_rules():
    # the rules are read once per process (lru_cache); these cases read them again, so that what is
    # loaded from rules/redact.json is checked, not only what an earlier test left in the cache
    for f in (R._rules, R._id_rules, R.personal_id, R._ru_name_score):
        f.cache_clear()
    yield R._rules()
    for f in (R._rules, R._id_rules, R.personal_id, R._ru_name_score):
        f.cache_clear()


def test_rules_read_from_the_file_drive_every_kind(fresh_rules):
    r = fresh_rules
    assert r.tag("phone", "ru") == "[телефон]" and r.tag("name", "en") == "[name]" and r.cue_window == 40
    assert (r.min_digits, r.cue_min_digits, r.max_fillers) == (10, 7, 3)
    assert {p.kind for p in r.patterns} == set(R.KINDS) - {"name"}
    assert [p.check for p in r.patterns if p.check] == ["luhn", "inn"]
    assert sum(p.cue is not None for p in r.patterns) == 7
    assert r.numbers["девятьсот"] == ("hundreds", 900) and r.numbers["double"] == ("repeat", 2)
    cases = [
        ("card 4111 1111 1111 1112", "en", "card [card]"),                       # cue, no Luhn
        ("4111 1111 1111 1111", "en", "[card]"),                                 # Luhn, no cue
        ("ИНН 7707083894", "ru", "ИНН [ИНН]"), ("код 7707083893", "ru", "код [ИНН]"),
        ("СНИЛС 11223344595", "ru", "СНИЛС [СНИЛС]"), ("SSN 123456789", "en", "SSN [SSN]"),
        ("паспорт 4508 123456", "ru", "паспорт [паспорт]"), ("a@b.io", "en", "[email]"),
        ("мой телефон сто двадцать три сорок пять шестьдесят семь", "ru", "мой телефон [телефон]"),
        ("сто двадцать три сорок пять шестьдесят семь", "ru", "сто двадцать три сорок пять шестьдесят семь"),
        ("восемь девятьсот шестнадцать - сто двадцать три, сорок пять шестьдесят семь", "ru", "[телефон]"),
        ("восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь тысяч", "ru",
         "восемь девятьсот шестнадцать сто двадцать три сорок пять шестьдесят семь тысяч"),
        ("на 2026-09-14 число", "ru", "на 2026-09-14 число"),
        ("восемь девятьсот шестнадцать, ага, сто двадцать три сорок пять шестьдесят семь", "ru", "[телефон]"),
        ("Меня зовут Соня.", "ru", "Меня зовут [имя]."), ("моя фамилия Квасникова", "ru", "моя фамилия [имя]"),
        ("I'm fine.", "en", "I'm fine."), ("The company name is Fossil Gas.", "en", "The company name is Fossil Gas."),
        ("my name is john calling", "en", "my name is [name] calling"),
        ("my name is john kowalski", "en", "my name is [name]"),
        ("We met John today.", "en", "We met [name] today."), ("Bill me later.", "en", "Bill me later."),
        ("Спасибо, Ольга.", "ru", "Спасибо, [имя]."), ("спасибо анна", "ru", "спасибо [имя]"),
        ("а вера есть", "ru", "а вера есть"),
    ]
    for text, lang, want in cases:
        assert R.redact(text, lang) == want, text
    assert R.personal_id("2026-09-14_10-30-00_incoming") is False and R.personal_id("2026-09-14_Ivan") is True
    assert R.personal_id("+7916123") is True and R.personal_id("rec 1234567") is False


# ---- checksums against their published definitions -------------------------------------------------
def _luhn_reference(digits):
    # ISO/IEC 7812-1: from the right, every second digit doubled, digits of the product summed
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d // 10 + d % 10
    return total % 10 == 0


def _inn_digit(digits, weights):
    # Russian tax id (ФНС): sum of digit x weight, mod 11, mod 10
    return sum(int(c) * w for c, w in zip(digits, weights)) % 11 % 10


def test_checksums_agree_with_their_definitions_on_random_numbers():
    import random

    rng = random.Random(20261130)
    for _ in range(300):
        n = "".join(rng.choice("0123456789") for _ in range(rng.choice([12, 13, 16, 19])))
        assert R.luhn_ok(n) is _luhn_reference(n), n
    w10 = [2, 4, 10, 3, 5, 9, 4, 6, 8]
    w11, w12 = [7, 2, 4, 10, 3, 5, 9, 4, 6, 8], [3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8]
    for _ in range(300):
        head = "".join(rng.choice("0123456789") for _ in range(9))
        inn = head + str(_inn_digit(head, w10))
        assert R.inn_ok(inn) or len(set(inn)) == 1, inn
        assert not R.inn_ok(head + str((int(inn[-1]) + 1) % 10)), inn
        head = "".join(rng.choice("0123456789") for _ in range(10))
        d11 = str(_inn_digit(head, w11))
        inn = head + d11 + str(_inn_digit(head + d11, w12))
        assert R.inn_ok(inn) or len(set(inn)) == 1, inn
        assert not R.inn_ok(inn[:-1] + str((int(inn[-1]) + 1) % 10)), inn
        assert not R.inn_ok(head + str((int(d11) + 1) % 10) + inn[-1]), inn
    # real organisations' ids
    for inn in ("7707083893", "7736050003", "7736207543", "7706107510", "7708004767", "7740000076", "7712040126"):
        assert R.inn_ok(inn), inn


def test_small_edges():
    assert R._lang("ru-RU", "x") == "ru" and R._lang("EN", "x") == "en"
    assert R.redact_turns(["phone 8 916 123 45 67"], "ru") == ["phone [телефон]"]
    assert R.redact(123) == 123
    assert R.safe_path("/x.wav") == "/x.wav"
    assert R.safe_path("+79161234567.abcde") == "[…].abcde"          # a suffix of up to 6 characters stays
    assert R.safe_path("+79161234567.abcdef") == "[…]"
