"""Sales scripts: parse the company's script into steps.

Markdown: `## step_id: Title` headings, each followed by example phrases or questions
(bullets or plain lines); the `# ...` title line names the company/script.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import InputFormatError

_STEP = re.compile(r"^##\s+([\w\-]+)\s*:\s*(.+?)\s*$")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")


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


def parse_markdown(text: str, path: str | None = None) -> Script:
    title = ""
    steps: list[ScriptStep] = []
    for line in text.splitlines():
        m = _STEP.match(line)
        if m:
            steps.append(ScriptStep(m.group(1), m.group(2)))
            continue
        if line.startswith("# ") and not title:
            title = line[2:].strip()
            continue
        body = _BULLET.sub("", line).strip()
        if body and steps:
            steps[-1].examples.append(body)
    if not steps:
        raise InputFormatError("no script steps found", path=path,
                               hint="mark each step with a heading like '## greeting: Greeting'")
    return Script(title, steps)


def read_script(path: str | Path) -> Script:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputFormatError(f"cannot read script: {e}", path=str(p)) from None
    return parse_markdown(text, str(p))
