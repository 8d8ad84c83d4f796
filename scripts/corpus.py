#!/usr/bin/env python3
"""The labelled training corpus in `data/train/`: build call/label JSON from marked-up sources, and check it.

  python scripts/corpus.py build [DIR]    # src/*.txt -> calls/*.json + labels/*.json (default data/train)
  python scripts/corpus.py check [DIR...] # every label: exact substring, customer turn, known kind/theme/step
  python scripts/corpus.py stats [DIR]    # calls, businesses, languages, styles, kinds
  python scripts/corpus.py render CALL.json  # a call + its labels back as marked-up source (for review)

A business folder holds `script.md` (eval README format), `themes.json` ({kind: {theme_id: description}}
for opening, motive, need, objection) and `src/<call_id>.txt`, one call each:

    # call: ru-florist-001
    # language: ru
    # style: asr            (asr = speech-recogniser style: no case/punctuation, fillers; else "clean")
    # meta: date=2026-03-02; agent=Ольга; lead_source=instagram; campaign=march8; outcome=won; amount=4500
    # steps: greeting, needs_question, presentation, closing
    A: Цветочная мастерская «Пион», Ольга, здравствуйте.
    C: Здравствуйте, [opening/bouquet_order: хочу заказать букет на юбилей]. [motive/anniversary: У мамы юбилей.]

`A:` is the agent, `C:` the customer; a `[kind/theme: text]` span marks a labelled statement (kinds:
opening, motive, need, objection; spans may nest, e.g. a motive inside an opening). The brackets are
removed from the call text; the label's text is the span's text, an exact substring of the turn.
Exit status of `check`: 0 when every label is valid, 1 otherwise (each problem printed with its file).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = ("opening", "motive", "need", "objection")
OUTCOMES = ("won", "lost", "pending")
_STEP = re.compile(r"^##\s*([A-Za-z0-9_\-]+)\s*:", re.M)
_OPEN = re.compile(r"\[(opening|motive|need|objection)/([A-Za-z0-9_\-]+):\s*")


class SourceError(ValueError):
    pass


def parse_turn(raw: str, where: str) -> tuple[str, list[tuple[str, str, str]]]:
    """Strip `[kind/theme: ...]` marks from one turn; returns (text, [(kind, theme, span_text)])."""
    out: list[str] = []
    stack: list[tuple[str, str, int]] = []
    spans: list[tuple[str, str, str]] = []
    i = 0
    while i < len(raw):
        m = _OPEN.match(raw, i)
        if m:
            stack.append((m.group(1), m.group(2), len("".join(out))))
            i = m.end()
            continue
        ch = raw[i]
        if ch == "]":
            if not stack:
                raise SourceError(f"{where}: ']' without an open label")
            kind, theme, start = stack.pop()
            text = "".join(out)
            span = text[start:].strip()
            if not span:
                raise SourceError(f"{where}: empty {kind}/{theme} span")
            spans.append((kind, theme, span))
            i += 1
            continue
        if ch == "[":
            raise SourceError(f"{where}: '[' that does not open a label ([kind/theme: text])")
        out.append(ch)
        i += 1
    if stack:
        raise SourceError(f"{where}: label {stack[-1][0]}/{stack[-1][1]} is never closed")
    text = re.sub(r"\s+", " ", "".join(out)).strip()
    spans = [(k, t, re.sub(r"\s+", " ", s).strip().rstrip(",;").strip()) for k, t, s in spans]
    return text, spans


def parse_source(path: Path) -> tuple[dict, dict]:
    """One src/<call_id>.txt -> (call JSON, labels JSON). Raises SourceError naming the file and line."""
    head: dict[str, str] = {}
    turns: list[dict] = []
    labels: list[tuple[int, str, str, str]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = line.rstrip()
        if not line.strip():
            continue
        where = f"{path}:{n}"
        if line.startswith("#"):
            key, _, val = line.lstrip("#").partition(":")
            head[key.strip().lower()] = val.strip()
            continue
        m = re.match(r"^([AC]):\s?(.*)$", line)
        if not m:
            raise SourceError(f"{where}: a line must start with 'A:', 'C:' or '#'")
        text, spans = parse_turn(m.group(2), where)
        if not text:
            raise SourceError(f"{where}: empty turn")
        speaker = "agent" if m.group(1) == "A" else "customer"
        if spans and speaker != "customer":
            raise SourceError(f"{where}: labels are only for customer turns")
        for k, t, s in spans:
            labels.append((len(turns), k, t, s))
        turns.append({"speaker": speaker, "text": text})
    for key in ("call", "language"):
        if key not in head:
            raise SourceError(f"{path}: missing '# {key}:' header")
    meta: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in head.get("meta", "").split(";"))):
        k, _, v = part.partition("=")
        v = v.strip()
        meta[k.strip()] = int(v) if re.fullmatch(r"-?\d+", v) else v
    meta.setdefault("style", head.get("style", "clean"))
    call = {"call_id": head["call"], "language": head["language"], "metadata": meta, "turns": turns}
    openings = [x for x in labels if x[1] == "opening"]
    if len(openings) > 1:
        raise SourceError(f"{path}: more than one opening")
    lab = {"call_id": head["call"],
           "opening": ({"turn": openings[0][0], "text": openings[0][3], "theme": openings[0][2]}
                       if openings else None),
           "statements": [{"turn": t, "kind": k, "text": s, "theme": th}
                          for t, k, th, s in labels if k != "opening"],
           "script_steps": [s.strip() for s in head.get("steps", "").split(",") if s.strip()]}
    return call, lab


def build(root: Path) -> int:
    bad = 0
    n = 0
    for biz in sorted(p for p in root.iterdir() if (p / "src").is_dir()):
        (biz / "calls").mkdir(exist_ok=True)
        (biz / "labels").mkdir(exist_ok=True)
        for src in sorted((biz / "src").glob("*.txt")):
            try:
                call, lab = parse_source(src)
            except SourceError as e:
                print(f"error: {e}", file=sys.stderr)
                bad += 1
                continue
            if call["call_id"] != src.stem:
                print(f"error: {src}: '# call: {call['call_id']}' differs from the file name", file=sys.stderr)
                bad += 1
                continue
            for sub, obj in (("calls", call), ("labels", lab)):
                (biz / sub / f"{src.stem}.json").write_text(
                    json.dumps(obj, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
            n += 1
    print(f"built {n} calls, {bad} sources with errors")
    return 1 if bad else 0


def _biz_roots(dirs: list[Path]) -> list[Path]:
    roots: list[Path] = []
    for d in dirs:
        roots += sorted(p.parent for p in d.rglob("labels") if p.is_dir() and (p.parent / "calls").is_dir())
    return roots


def check(dirs: list[Path]) -> int:
    problems: list[str] = []
    n_calls = 0
    for biz in _biz_roots(dirs):
        themes = json.loads((biz / "themes.json").read_text(encoding="utf-8")) if (biz / "themes.json").exists() else None
        steps = set(_STEP.findall((biz / "script.md").read_text(encoding="utf-8"))) if (biz / "script.md").exists() else None
        if themes is None:
            problems.append(f"{biz}: no themes.json")
        if steps is None:
            problems.append(f"{biz}: no script.md")
        for lf in sorted((biz / "labels").glob("*.json")):
            cf = biz / "calls" / lf.name
            if not cf.exists():
                problems.append(f"{lf}: no call file {cf.name}")
                continue
            call = json.loads(cf.read_text(encoding="utf-8"))
            lab = json.loads(lf.read_text(encoding="utf-8"))
            n_calls += 1
            turns = call.get("turns", [])
            if call.get("language") not in ("ru", "en"):
                problems.append(f"{cf}: language must be ru or en")
            out = (call.get("metadata") or {}).get("outcome")
            if out not in OUTCOMES:
                problems.append(f"{cf}: metadata.outcome must be one of {OUTCOMES}, got {out!r}")
            items = ([("opening", lab["opening"])] if lab.get("opening") else []) + \
                    [(s.get("kind"), s) for s in lab.get("statements", [])]
            for kind, s in items:
                t = s.get("turn")
                if kind not in KINDS:
                    problems.append(f"{lf}: unknown kind {kind!r}")
                    continue
                if not isinstance(t, int) or not 0 <= t < len(turns):
                    problems.append(f"{lf}: {kind} turn {t} out of range")
                    continue
                if turns[t]["speaker"] != "customer":
                    problems.append(f"{lf}: {kind} on an agent turn {t}")
                if s.get("text", "") not in turns[t]["text"] or not s.get("text"):
                    problems.append(f"{lf}: {kind} text is not a substring of turn {t}: {s.get('text')!r}")
                if themes is not None and s.get("theme") not in themes.get(kind, {}):
                    problems.append(f"{lf}: {kind} theme {s.get('theme')!r} not in themes.json")
            if steps is not None:
                for st in lab.get("script_steps", []):
                    if st not in steps:
                        problems.append(f"{lf}: script step {st!r} not in script.md")
    for p in problems:
        print(p)
    print(f"checked {n_calls} calls: {len(problems)} problems")
    return 1 if problems else 0


def stats(root: Path) -> int:
    c = Counter()
    biz_lang: dict[str, str] = {}
    for biz in _biz_roots([root]):
        for cf in sorted((biz / "calls").glob("*.json")):
            call = json.loads(cf.read_text(encoding="utf-8"))
            lab = json.loads((biz / "labels" / cf.name).read_text(encoding="utf-8"))
            lang = call.get("language")
            biz_lang[biz.name] = lang
            c[("calls", lang)] += 1
            c[("style", (call.get("metadata") or {}).get("style", "?"))] += 1
            c[("opening", "null" if lab.get("opening") is None else "yes")] += 1
            for s in lab.get("statements", []):
                c[(s["kind"], lang)] += 1
    c.update(("businesses", lang) for lang in biz_lang.values())
    for k in sorted(c):
        print(f"{k[0]:<11} {k[1]:<8} {c[k]}")
    return 0


def render(cf: Path) -> str:
    call = json.loads(cf.read_text(encoding="utf-8"))
    lf = cf.parent.parent / "labels" / cf.name
    lab = json.loads(lf.read_text(encoding="utf-8")) if lf.exists() else {}
    spans: dict[int, list[tuple[str, str, str]]] = {}
    if lab.get("opening"):
        o = lab["opening"]
        spans.setdefault(o["turn"], []).append(("opening", o.get("theme", "?"), o["text"]))
    for s in lab.get("statements", []):
        spans.setdefault(s["turn"], []).append((s["kind"], s.get("theme", "?"), s["text"]))
    meta = dict(call.get("metadata") or {})
    style = meta.pop("style", "clean")
    lines = [f"# call: {call['call_id']}", f"# language: {call.get('language')}", f"# style: {style}",
             "# meta: " + "; ".join(f"{k}={v}" for k, v in meta.items()),
             "# steps: " + ", ".join(lab.get("script_steps", []))]
    for i, t in enumerate(call["turns"]):
        txt = t["text"]
        # longest first so an opening that contains a motive wraps it
        for k, th, sp in sorted(spans.get(i, []), key=lambda x: -len(x[2])):
            pos = txt.find(sp)
            if pos < 0:
                txt += f"  [[MISSING {k}/{th}: {sp}]]"
                continue
            txt = txt[:pos] + f"[{k}/{th}: " + txt[pos:pos + len(sp)] + "]" + txt[pos + len(sp):]
        lines.append(("A: " if t["speaker"] == "agent" else "C: ") + txt)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("dir", nargs="?", default=str(ROOT / "data" / "train"))
    c = sub.add_parser("check")
    c.add_argument("dirs", nargs="*", default=[str(ROOT / "data" / "train")])
    s = sub.add_parser("stats")
    s.add_argument("dir", nargs="?", default=str(ROOT / "data" / "train"))
    r = sub.add_parser("render")
    r.add_argument("calls", nargs="+")
    a = ap.parse_args(argv)
    if a.cmd == "build":
        return build(Path(a.dir))
    if a.cmd == "check":
        return check([Path(d) for d in a.dirs])
    if a.cmd == "stats":
        return stats(Path(a.dir))
    for cf in a.calls:
        sys.stdout.write(render(Path(cf)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
