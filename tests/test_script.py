"""Script parser: Markdown, numbered plain text, DOCX, and clear errors."""

from __future__ import annotations

import pytest

from nlp.errors import InputFormatError
from nlp.script import parse_markdown, parse_text, read_script

MD_RU = """# Салон «Пример» — скрипт входящего звонка

## greeting: Приветствие
Добрый день, салон «Пример», меня зовут ..., чем могу помочь?

## budget: Бюджет
- На какой бюджет вы ориентируетесь?
- В какую сумму хотели бы уложиться?
"""


def test_markdown_ids_titles_examples():
    s = parse_markdown(MD_RU)
    assert s.title == "Салон «Пример» — скрипт входящего звонка"
    assert s.step_ids() == ["greeting", "budget"]
    assert s.steps[1].title == "Бюджет"
    assert s.steps[1].examples == ["На какой бюджет вы ориентируетесь?", "В какую сумму хотели бы уложиться?"]


def test_markdown_headings_without_ids_get_slugs():
    s = parse_markdown("# Solar\n## Greeting and intro\nHi there\n### Ask the name\n- Who am I speaking with?\n")
    assert s.step_ids() == ["greeting_and_intro", "ask_the_name"]
    assert s.steps[1].examples == ["Who am I speaking with?"]


def test_numbered_plain_text_english_with_numbered_examples():
    text = ("Sunward call script\n1. Greeting\nThanks for calling Sunward.\n2. Needs: discovery\n"
            "  1. What got you interested in solar?\n  2. Is backup power important?\n3. Closing\nHave a great day!\n")
    s = parse_text(text)
    assert s.title == "Sunward call script"
    assert [x.title for x in s.steps] == ["Greeting", "discovery", "Closing"]
    assert s.steps[1].step_id == "Needs"
    assert s.steps[1].examples == ["What got you interested in solar?", "Is backup power important?"]


def test_numbered_plain_text_russian_step_words(tmp_path):
    p = tmp_path / "скрипт.txt"
    p.write_text("Шаг 1. Приветствие\nЗдравствуйте!\nШаг 2. Выявление потребности\nЧто для вас важно?\n",
                 encoding="utf-8")
    s = read_script(p)
    assert [x.title for x in s.steps] == ["Приветствие", "Выявление потребности"]
    assert s.steps[1].step_id == "выявление_потребности"
    assert s.steps[1].examples == ["Что для вас важно?"]


def test_docx_headings_and_numbered_list(tmp_path):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_heading("Кухни — скрипт", level=1)
    d.add_heading("greeting: Приветствие", level=2)
    d.add_paragraph("Добрый день!")
    d.add_heading("Бюджет", level=2)
    d.add_paragraph("На какой бюджет вы ориентируетесь?", style="List Bullet")
    p = tmp_path / "script.docx"
    d.save(str(p))
    s = read_script(p)
    assert s.title == "Кухни — скрипт"
    assert s.step_ids() == ["greeting", "бюджет"]
    assert s.steps[1].examples == ["На какой бюджет вы ориентируетесь?"]

    d2 = docx.Document()
    d2.add_paragraph("Greeting", style="List Number")
    d2.add_paragraph("Hello, thanks for calling", style="List Bullet")
    d2.add_paragraph("Close", style="List Number")
    d2.add_paragraph("Have a great day")
    p2 = tmp_path / "numbered.docx"
    d2.save(str(p2))
    s2 = read_script(p2)
    assert s2.step_ids() == ["greeting", "close"]
    assert s2.steps[1].examples == ["Have a great day"]


def test_docx_table(tmp_path):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    t = d.add_table(rows=3, cols=2)
    for r, (a, b) in enumerate([("Step", "Examples"), ("1. Greeting", "Hi!\nHello there"), ("2. Close", "Bye")]):
        t.cell(r, 0).text, t.cell(r, 1).text = a, b
    p = tmp_path / "table.docx"
    d.save(str(p))
    s = read_script(p)
    assert s.step_ids() == ["greeting", "close"]
    assert s.steps[0].examples == ["Hi!", "Hello there"]


@pytest.mark.parametrize("content,needle", [
    ("", "empty"),
    ("   \n\n", "empty"),
    ("just some words\nwithout steps\n", "no script steps"),
    ("## a: One\n## a: Two\n", "used twice"),
])
def test_bad_scripts_raise_clear_errors(tmp_path, content, needle):
    p = tmp_path / "s.md"
    p.write_text(content, encoding="utf-8")
    with pytest.raises(InputFormatError) as e:
        read_script(p)
    assert needle in str(e.value) and str(p) in str(e.value)


def test_missing_binary_and_wrong_format(tmp_path):
    with pytest.raises(InputFormatError, match="not found"):
        read_script(tmp_path / "nope.md")
    b = tmp_path / "s.md"
    b.write_bytes(b"\x00\x01\x02binary")
    with pytest.raises(InputFormatError, match="UTF-8"):
        read_script(b)
    pdf = tmp_path / "s.pdf"
    pdf.write_bytes(b"%PDF-1.4")
    with pytest.raises(InputFormatError, match="unsupported"):
        read_script(pdf)
    bad = tmp_path / "s.docx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(InputFormatError, match="DOCX"):
        read_script(bad)
