"""Printed warnings are outputs too: CRM row problems quote cells (names, phone numbers in
recording names) and `--roles` names people, so with redaction on they pass through the Redactor
(`import`, `transcribe`, `run`); `run --no-redact` shows them as written. Also `run --roles`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cli import app
from nlp.store import Store

PHONE = "+7 916 555-12-34"
NAME = "Иван Петров"
DIALOGUE = ("Марина Кузнецова: Здравствуйте, компания Светлый дом, меня зовут Марина. Чем могу помочь?\n"
            "Олег Сидоров: Добрый день. Хочу поменять окна в квартире, сколько это стоит?\n"
            "Марина Кузнецова: Подскажите, сколько у вас окон и какого они размера?\n"
            "Олег Сидоров: Три окна, стандартные. Дороговато выходит, я подумаю.\n")


def crm(tmp_path: Path) -> Path:
    """A CRM export whose row problems quote personal data: a repeated key that is a recorder's
    file name with a phone number and a name, an agent cell holding a phone number."""
    key = f"2026-09-14_{PHONE}_{NAME}.mp3"
    p = tmp_path / "crm.csv"
    p.write_text("call_id,date,outcome,agent\n"
                 f"call-1,2026-09-14,won,Ирина\n"
                 f"{key},2026-09-14,lost,Ирина\n"
                 f"{key},14.09.2026 {NAME},won,Ирина\n"
                 f"call-2,{NAME} {PHONE},lost,Ирина\n", encoding="utf-8")
    return p


def no_personal_data(out: str) -> None:
    assert "metadata: warning" in out or "warning:" in out, out
    for needle in ("916", "555-12-34", "Петров", "Иван"):
        assert needle not in out, (needle, out)


def calls(tmp_path: Path) -> Path:
    d = tmp_path / "calls"
    d.mkdir()
    (d / "call-1.txt").write_text(DIALOGUE, encoding="utf-8")
    return d


def test_import_redacts_metadata_warnings_and_roles_names(tmp_path):
    r = CliRunner().invoke(app, ["import", str(calls(tmp_path)), "--store", str(tmp_path / "s"), "-q",
                                 "--metadata", str(crm(tmp_path)),
                                 "--roles", f"Олег Сидоров=customer,{NAME}=agent,Mary Ann Smith=agent,spk_7=agent"])
    assert r.exit_code == 0, r.output
    no_personal_data(r.output)
    assert "Mary Ann Smith" not in r.output
    line = next(ln for ln in r.output.splitlines() if "--roles names no speaker" in ln)
    # which items did not match stays clear without the names: their place in --roles
    assert "(item 2)" in line and "(item 3)" in line and "spk_7 (item 4)" in line and "(item 1)" not in line
    assert "already appears in row" in r.output  # the warning itself is kept


def test_transcribe_redacts_metadata_warnings(tmp_path):
    bad = tmp_path / "audio"
    bad.mkdir()
    (bad / "call-1.wav").write_bytes(b"RIFF not really a wave file")
    r = CliRunner().invoke(app, ["transcribe", str(bad), "--store", str(tmp_path / "s"), "-q",
                                 "--metadata", str(crm(tmp_path))])
    assert r.exit_code == 1, r.output  # the only recording fails; the warnings came first
    no_personal_data(r.output)


def test_run_redacts_warnings_and_takes_roles(tmp_path):
    args = ["run", str(calls(tmp_path)), "--metadata", str(crm(tmp_path)),
            "--roles", f"Марина Кузнецова=customer,Олег Сидоров=agent,{NAME}=agent"]
    r = CliRunner().invoke(app, args + ["--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    no_personal_data(r.output)
    assert "--roles names no speaker in these files: [" in r.output and "(item 3)" in r.output
    with Store(tmp_path / "out" / "store", create=False) as st:
        call = st.get_call("call-1")
        # the roles the option gave (the opposite of what the greeting suggests) are the ones kept
        assert [t.speaker for t in call.turns] == ["customer", "agent", "customer", "agent"]
        assert call.metadata.get("agent") == "Ирина"
    r = CliRunner().invoke(app, args + ["--out", str(tmp_path / "raw"), "--no-redact"])
    assert r.exit_code == 0, r.output
    assert NAME in r.output and "--roles names no speaker in these files: Иван Петров (item 3)" in r.output


def test_run_rejects_a_bad_roles_option_before_any_work(tmp_path):
    r = CliRunner().invoke(app, ["run", str(calls(tmp_path)), "--out", str(tmp_path / "out"),
                                 "--roles", "Марина=boss"])
    assert r.exit_code == 2 and "--roles" in r.output and "agent or customer" in r.output, r.output
    assert not (tmp_path / "out").exists()
