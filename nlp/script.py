"""Sales scripts: parse the company's script into steps.

Three inputs, one result (`Script(title, steps=[ScriptStep(step_id, title, examples)])`):

- Markdown: `## step_id: Title` headings (or `## Title`, `### Title`), each followed by example phrases or
  questions (bullets or plain lines); the first `# ...` line names the company/script.
- Plain text with numbered steps: `1. Greeting` / `Step 2: Needs` / `Шаг 3. Бюджет` lines, each followed by
  its examples. A numbered line counts as a new step only when it carries the next step number, so
  examples may be numbered lists of their own.
- DOCX (python-docx): Title/Heading 1 is the script title; Heading 2-3 paragraphs, "List Number"
  paragraphs or numbered lines are steps; a two-column table (step | examples) works too.

Step ids come from `id: Title` when given, else from the title (lower-case words joined by `_`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputFormatError

_ID = r"[A-Za-z0-9][\w\-]*"
_HEADING = re.compile(r"^(#{1,3})\s+(.+?)\s*#*\s*$")
_ID_TITLE = re.compile(rf"^({_ID})\s*:\s*(.+)$")
_NUMBERED = re.compile(r"^(?:(?:step|шаг|этап)\s*)?(\d{1,2})\s*[.):]\s*(.+)$", re.I)
_BULLET = re.compile(r"^\s*(?:[-*•–—]|\d+[.)])\s+")
_TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text", ""}


@dataclass
class ScriptStep:
    step_id: str
    title: str
    examples: list[str] = field(default_factory=list)


@dataclass
class Script:
    title: str
    steps: list[ScriptStep]

    def step_ids(self) -> list[str]:
        return [s.step_id for s in self.steps]


def slugify(title: str) -> str:
    words = re.findall(r"\w+", title.lower())
    return "_".join(words[:5]) or "step"


class _Builder:
    def __init__(self, path: str | None):
        self.path = path
        self.title = ""
        self.steps: list[ScriptStep] = []
        self.explicit: dict[str, int] = {}

    def step(self, text: str, line_no: int) -> None:
        text = text.strip().strip("*_ ").strip()
        m = _ID_TITLE.match(text)
        if m and " " not in m.group(1):
            sid, title = m.group(1), m.group(2).strip()
            if sid in self.explicit:
                raise InputFormatError(f"step id {sid!r} is used twice (lines {self.explicit[sid]} and {line_no})",
                                       path=self.path, hint="give every step its own id")
            self.explicit[sid] = line_no
        else:
            title, sid = text, slugify(text)
        used = {s.step_id for s in self.steps}
        base, n = sid, 2
        while sid in used:
            sid, n = f"{base}_{n}", n + 1
        self.steps.append(ScriptStep(sid, title))

    def example(self, line: str) -> None:
        body = _BULLET.sub("", line).strip()
        if body and self.steps:
            self.steps[-1].examples.append(body)

    def script(self) -> "Script":
        if not self.steps:
            raise InputFormatError(
                "no script steps found", path=self.path,
                hint="mark each step with a heading like '## greeting: Greeting' or a numbered line like "
                     "'1. Greeting', with its example phrases on the lines below")
        return Script(self.title, self.steps)


def parse_markdown(text: str, path: str | None = None) -> Script:
    """Markdown headings when the text has `##` headings, else numbered plain-text steps."""
    lines = text.splitlines()
    if not any((m := _HEADING.match(ln)) and len(m.group(1)) > 1 for ln in lines):
        return parse_text(text, path)
    b = _Builder(path)
    for i, line in enumerate(lines, 1):
        m = _HEADING.match(line)
        if m and len(m.group(1)) > 1:
            b.step(m.group(2), i)
        elif m and not b.title and not b.steps:
            b.title = m.group(2).strip()
        else:
            b.example(line)
    return b.script()


def parse_text(text: str, path: str | None = None) -> Script:
    """Plain text: an optional title line, then numbered steps each followed by example lines."""
    b = _Builder(path)
    expected = None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _NUMBERED.match(line) if not line[:1].isspace() else None
        if m and (expected is None or int(m.group(1)) == expected):
            b.step(m.group(2), i)
            expected = int(m.group(1)) + 1
        elif not b.steps and not b.title:
            b.title = line.strip().lstrip("# ").strip()
        else:
            b.example(line)
    return b.script()


def _docx_lines(path: Path) -> list[str]:
    """The DOCX as Markdown-ish lines: headings, numbered steps, bullets, and step tables."""
    try:
        import docx
    except ImportError:
        raise InputFormatError("reading DOCX scripts needs python-docx", path=str(path),
                               hint="pip install python-docx, or save the script as .md or .txt") from None
    try:
        doc = docx.Document(str(path))
    except Exception as e:  # python-docx raises zipfile/KeyError/ValueError on broken files
        raise InputFormatError(f"cannot open DOCX: {e}", path=str(path),
                               hint="check the file opens in Word, or save the script as .md or .txt") from None
    lines: list[str] = []
    has_heading_steps = any((p.style.name or "").lower().startswith(("heading 2", "heading 3"))
                            for p in doc.paragraphs)
    for p in doc.paragraphs:
        text = p.text.strip()
        if not text:
            continue
        style = (p.style.name or "").lower()
        if style == "title" or style.startswith("heading 1"):
            lines.append(f"# {text}")
        elif style.startswith(("heading 2", "heading 3")):
            lines.append(f"## {text}")
        elif style.startswith("list number") and not has_heading_steps:
            lines.append(f"## {text}")
        elif style.startswith("list"):
            lines.append(f"- {text}")
        else:
            lines.append(text)
    for table in doc.tables:
        for r, row in enumerate(table.rows):
            cells = [c.text.strip() for c in row.cells]
            if len(cells) < 2 or not cells[0] or (r == 0 and not any(ch.isdigit() for ch in cells[0])
                                                   and len(table.rows) > 1 and _looks_like_header(cells)):
                continue
            lines.append("## " + re.sub(r"^\d+[.)]?\s*", "", cells[0]))
            lines += [f"- {x.strip()}" for x in re.split(r"\n+", cells[1]) if x.strip()]
    return lines


def _looks_like_header(cells: list[str]) -> bool:
    return all(len(c.split()) <= 2 for c in cells[:2])


def read_script(path: str | Path) -> Script:
    """Parse a script file (Markdown, plain text or DOCX), with errors naming the file and the fix."""
    p = Path(path)
    if not p.exists():
        raise InputFormatError("script file not found", path=str(p))
    if p.is_dir():
        raise InputFormatError("the script must be a file, not a folder", path=str(p))
    suffix = p.suffix.lower()
    if suffix == ".docx":
        lines = _docx_lines(p)
        if not lines:
            raise InputFormatError("the DOCX script is empty", path=str(p))
        return parse_markdown("\n".join(lines), str(p))
    if suffix not in _TEXT_SUFFIXES:
        raise InputFormatError(f"unsupported script format {suffix!r}", path=str(p),
                               hint="use Markdown (.md), plain text (.txt) or Word (.docx)")
    try:
        raw = p.read_bytes()
        if b"\x00" in raw[:4096]:
            raise UnicodeDecodeError("utf-8", raw[:1], 0, 1, "binary data")
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputFormatError("the script is not UTF-8 text", path=str(p),
                               hint="save it as UTF-8 Markdown/text, or as .docx") from None
    except OSError as e:
        raise InputFormatError(f"cannot read script: {e.strerror}", path=str(p)) from None
    if not text.strip():
        raise InputFormatError("the script is empty", path=str(p),
                               hint="write one '## step_id: Title' heading per step with example phrases below")
    return parse_markdown(text, str(p))
