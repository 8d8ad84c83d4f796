"""Transcript formats people have (issue 13, "Transcripts and CRM exports"): each imports with
speakers and times, or fails with a message naming the detected format and what is missing.
The handed field cases live in tests/data/field/; every other input here is invented."""

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from nlp.errors import InputFormatError
from nlp.importers import _calls_from_file, import_paths, parse_blocks, parse_dialogue, parse_roles_option
from nlp.store import Store

FIELD = Path(__file__).parent / "data" / "field"


def one_call(path):
    calls, fmt = _calls_from_file(Path(path))
    assert len(calls) == 1
    return calls[0], fmt


def write(tmp_path, name, content):
    p = tmp_path / name
    if isinstance(content, (dict, list)):
        content = json.dumps(content, ensure_ascii=False, indent=1)
    p.write_text(content, encoding="utf-8")
    return p


def fails(path, *needles):
    with pytest.raises(InputFormatError) as e:
        _calls_from_file(Path(path))
    for n in needles:
        assert n in str(e.value), str(e.value)
    return str(e.value)


# ---- the handed field cases ------------------------------------------------------------------
@pytest.mark.parametrize("name,starts", [("otter-call-0915.txt", [0, 6, 12, 20, 27, 33]),
                                         ("otter-call-0919-long.txt", [2, 8, 55, 64, 72, 80])])
def test_field_otter_text(name, starts):
    call, fmt = one_call(FIELD / "otter-txt" / name)
    assert fmt == "otter"
    # one turn per speaker block: turns never merge across speakers
    assert [t.speaker for t in call.turns] == ["agent", "customer"] * 3
    assert [t.start for t in call.turns] == starts
    assert call.turns[0].text == "Здравствуйте, фитнес клуб Атлетика, меня зовут Марина. Чем могу помочь?"
    assert call.turns[5].text == "Только вечером после семи. И дороговато для меня, мне нужно подумать."
    # no digits of the time glued onto the text
    assert not any(t.text[:1].isdigit() for t in call.turns)
    roles = call.source["roles"]
    assert roles["labels"] == {"Марина Кузнецова": "agent", "Олег Сидоров": "customer"}
    assert roles["method"] == "text-evidence" and 0.5 < roles["confidence"] <= 0.8


def test_field_amazon_transcribe_channels():
    call, fmt = one_call(FIELD / "amazon-transcribe-json" / "call-0918.json")
    assert fmt == "amazon-transcribe"
    assert [t.speaker for t in call.turns] == ["agent", "customer", "agent", "customer"]
    assert [(t.start, t.end) for t in call.turns][:2] == [(0.5, 4.95), (6.0, 10.0)]
    assert call.turns[0].text == "Здравствуйте, фитнес клуб Атлетика, меня зовут Марина. Чем могу помочь?"
    assert call.turns[3].text == "Врач сказал укрепить спину. Но дороговато для меня, мне нужно подумать."
    assert call.source["roles"]["labels"] == {"ch_0": "agent", "ch_1": "customer"}
    # the words of both channels all arrive, once each
    data = json.loads((FIELD / "amazon-transcribe-json" / "call-0918.json").read_text(encoding="utf-8"))
    n_words = sum(1 for it in data["results"]["items"] if it["type"] == "pronunciation")
    assert sum(len(t.text.split()) for t in call.turns) == n_words


def test_field_cases_import_through_the_cli(tmp_path):
    from cli import app

    r = CliRunner().invoke(app, ["import", str(FIELD / "otter-txt"), str(FIELD / "amazon-transcribe-json"),
                                 "--store", str(tmp_path / "s"), "-q"])
    assert r.exit_code == 0, r.output
    assert "imported 3" in r.output and "failed 0" in r.output


# ---- Amazon Transcribe ----------------------------------------------------------------------
def amazon_items(turns, label_key=None):
    """[(label, start, "words ...")] -> results.items, 0.4 s a word, punctuation as its own item."""
    items = []
    for label, t, text in turns:
        for w in text.split():
            core, punct = (w[:-1], w[-1]) if w[-1] in ",.?!" else (w, "")
            it = {"start_time": f"{t:.3f}", "end_time": f"{t + 0.35:.3f}", "type": "pronunciation",
                  "alternatives": [{"confidence": "0.98", "content": core}]}
            if label_key:
                it[label_key] = label
            items.append(it)
            if punct:
                p = {"type": "punctuation", "alternatives": [{"confidence": "0.0", "content": punct}]}
                if label_key:
                    p[label_key] = label
                items.append(p)
            t += 0.4
    return items


DIALOGUE = [("spk_0", 0.3, "Good morning, Brightside Roofing, this is Dana. How can I help?"),
            ("spk_1", 4.0, "Hi, how much does a roof repair cost? I need it fixed."),
            ("spk_0", 9.0, "We offer a free inspection, let me book it."),
            ("spk_1", 13.0, "Too expensive for me, I will think about it.")]


def test_amazon_speaker_labels_variant(tmp_path):
    items = amazon_items(DIALOGUE)
    segments = []
    for label, t, text in DIALOGUE:
        n = len(text.split())
        segments.append({"start_time": f"{t:.3f}", "end_time": f"{t + 0.4 * n:.3f}", "speaker_label": label,
                         "items": [{"start_time": f"{t + 0.4 * i:.3f}", "end_time": f"{t + 0.4 * i + 0.35:.3f}",
                                    "speaker_label": label} for i in range(n)]})
    data = {"jobName": "job-77", "status": "COMPLETED",
            "results": {"transcripts": [{"transcript": "..."}], "speaker_labels": {"speakers": 2, "segments": segments},
                        "items": items}}
    call, fmt = one_call(write(tmp_path, "amz.json", data))
    assert fmt == "amazon-transcribe"
    assert [t.speaker for t in call.turns] == ["agent", "customer", "agent", "customer"]
    assert [t.start for t in call.turns] == [0.3, 4.0, 9.0, 13.0]
    assert call.turns[1].text == "Hi, how much does a roof repair cost? I need it fixed."


def test_amazon_labels_on_items_and_audio_segments(tmp_path):
    data = {"results": {"items": amazon_items(DIALOGUE, "speaker_label")}}
    call, _ = one_call(write(tmp_path, "a.json", data))
    assert [t.speaker for t in call.turns] == ["agent", "customer", "agent", "customer"]
    segs = [{"id": i, "transcript": text, "start_time": str(t), "end_time": str(t + 3), "speaker_label": lb,
             "items": []} for i, (lb, t, text) in enumerate(DIALOGUE)]
    call, _ = one_call(write(tmp_path, "b.json", {"results": {"audio_segments": segs, "items": []}}))
    assert [(t.speaker, t.start) for t in call.turns] == [("agent", 0.3), ("customer", 4.0), ("agent", 9.0),
                                                          ("customer", 13.0)]


def test_amazon_call_analytics(tmp_path):
    data = {"JobStatus": "COMPLETED", "LanguageCode": "en-US", "Transcript": [
        {"Id": "a1", "ParticipantRole": "AGENT", "Content": "Thanks for calling Brightside Roofing.",
         "BeginOffsetMillis": 400, "EndOffsetMillis": 2900},
        {"Id": "a2", "ParticipantRole": "CUSTOMER", "Content": "My roof leaks.", "BeginOffsetMillis": 3500,
         "EndOffsetMillis": 4800}]}
    call, fmt = one_call(write(tmp_path, "ca.json", data))
    assert fmt == "amazon-call-analytics"
    assert [(t.speaker, t.start, t.end) for t in call.turns] == [("agent", 0.4, 2.9), ("customer", 3.5, 4.8)]
    assert call.source["roles"]["method"] == "labels"


def test_amazon_without_labels_or_results_fails_naming_it(tmp_path):
    data = {"jobName": "job-1", "results": {"transcripts": [{"transcript": "hi"}], "items": amazon_items(DIALOGUE)}}
    fails(write(tmp_path, "a.json", data), "Amazon Transcribe JSON", "no speaker or channel labels",
          "ChannelIdentification")
    fails(write(tmp_path, "b.json", {"jobName": "job-2", "status": "IN_PROGRESS"}), "Amazon Transcribe JSON",
          "IN_PROGRESS")


def test_json_detected_by_content_not_suffix(tmp_path):
    data = json.loads((FIELD / "amazon-transcribe-json" / "call-0918.json").read_text(encoding="utf-8"))
    call, fmt = one_call(write(tmp_path, "amazon-result.txt", data))
    assert fmt == "amazon-transcribe" and len(call.turns) == 4
    fails(write(tmp_path, "odd.json", {"transcript": "hello", "meta": 1}), "unknown layout", "transcript, meta")


# ---- Whisper, WhisperX, whisper.cpp ---------------------------------------------------------
def test_whisper_json_without_speakers_fails_saying_so(tmp_path):
    data = {"text": " Hello. Hi.", "language": "en", "segments": [
        {"id": 0, "seek": 0, "start": 0.0, "end": 1.5, "text": " Hello, Brightside Roofing.", "tokens": [1, 2],
         "temperature": 0.0, "avg_logprob": -0.2, "compression_ratio": 1.1, "no_speech_prob": 0.01},
        {"id": 1, "seek": 0, "start": 2.0, "end": 3.0, "text": " Hi, my roof leaks.", "tokens": [3],
         "temperature": 0.0, "avg_logprob": -0.3, "compression_ratio": 1.0, "no_speech_prob": 0.02}]}
    fails(write(tmp_path, "w.json", data), "Whisper JSON", "no speaker labels", "WhisperX")
    cpp = {"result": {"language": "en"}, "transcription": [
        {"timestamps": {"from": "00:00:00,000", "to": "00:00:01,500"}, "offsets": {"from": 0, "to": 1500},
         "text": " Hello."}]}
    fails(write(tmp_path, "cpp.json", cpp), "whisper.cpp JSON", "no speaker labels")


def test_whisper_segments_with_speakers_in_the_text(tmp_path):
    data = {"segments": [{"start": 0.0, "end": 2.0, "text": " Agent: Thanks for calling, this is Dana."},
                         {"start": 2.5, "end": 4.0, "text": " Customer: How much is a new roof?"}]}
    call, fmt = one_call(write(tmp_path, "w.json", data))
    assert fmt == "whisper" and [(t.speaker, t.start) for t in call.turns] == [("agent", 0.0), ("customer", 2.5)]
    assert call.turns[1].text == "How much is a new roof?"


def test_whisperx_diarized(tmp_path):
    def words(text, t, sp):
        out = []
        for w in text.split():
            out.append({"word": w, "start": round(t, 2), "end": round(t + 0.3, 2), "score": 0.9, "speaker": sp})
            t += 0.35
        return out

    seg3_words = words("Let me check.", 6.0, "SPEAKER_00") + words("Sure.", 7.2, "SPEAKER_01")
    data = {"segments": [
        {"start": 0.0, "end": 3.0, "text": " Good morning, Brightside Roofing, this is Dana, how can I help?",
         "speaker": "SPEAKER_00", "words": words("Good morning, Brightside Roofing, this is Dana, how can I help?", 0.0,
                                                 "SPEAKER_00")},
        {"start": 3.2, "end": 5.5, "text": " How much does a roof repair cost? I need it fixed.",
         "speaker": "SPEAKER_01", "words": words("How much does a roof repair cost? I need it fixed.", 3.2, "SPEAKER_01")},
        # diarization changed speaker inside one segment: the words decide
        {"start": 6.0, "end": 7.6, "text": " Let me check. Sure.", "speaker": "SPEAKER_00", "words": seg3_words},
        {"start": 8.0, "end": 9.0, "text": " Thanks."},  # no speaker: continues the one before
    ], "word_segments": []}
    call, fmt = one_call(write(tmp_path, "wx.json", data))
    assert fmt == "whisperx"
    assert [(t.speaker, t.text) for t in call.turns] == [
        ("agent", "Good morning, Brightside Roofing, this is Dana, how can I help?"),
        ("customer", "How much does a roof repair cost? I need it fixed."),
        ("agent", "Let me check."), ("customer", "Sure. Thanks.")]
    assert call.turns[2].start == 6.0 and call.turns[3].start == 7.2
    assert call.source["roles"]["labels"] == {"SPEAKER_00": "agent", "SPEAKER_01": "customer"}


# ---- Yandex SpeechKit -----------------------------------------------------------------------
def v2_chunk(tag, t, text):
    words = []
    for w in text.split():
        words.append({"startTime": f"{t:.9f}s", "endTime": f"{t + 0.3:.9f}s", "word": w.strip(",.?").lower(),
                      "confidence": 1})
        t += 0.35
    return {"alternatives": [{"words": words, "text": text, "confidence": 1}], "channelTag": tag}


def test_yandex_v2_channels(tmp_path):
    data = {"done": True, "id": "e03sup6d5h1qxxxxxxxx", "createdAt": "2026-09-14T10:00:00Z",
            "response": {"@type": "type.googleapis.com/yandex.cloud.ai.stt.v2.LongRunningRecognitionResponse",
                         "chunks": [v2_chunk("1", 0.8, "Добрый день, салон Мебель Плюс, меня зовут Анна."),
                                    v2_chunk("1", 9.1, "Могу предложить рассрочку."),
                                    v2_chunk("2", 4.2, "Здравствуйте, сколько стоит диван?"),
                                    v2_chunk("2", 12.0, "Дорого, я подумаю.")]}}
    call, fmt = one_call(write(tmp_path, "y2.json", data))
    assert fmt == "yandex-v2"
    assert [(t.speaker, t.start) for t in call.turns] == [("agent", 0.8), ("customer", 4.2), ("agent", 9.1),
                                                          ("customer", 12.0)]
    assert call.turns[1].text == "Здравствуйте, сколько стоит диван?"
    assert call.source["roles"]["labels"] == {"channel 1": "agent", "channel 2": "customer"}


def test_yandex_v2_failures_name_the_format(tmp_path):
    fails(write(tmp_path, "op.json", {"done": False, "id": "e03x", "createdAt": "2026-09-14T10:00:00Z"}),
          "Yandex SpeechKit v2 JSON", "not finished")
    mono = {"response": {"chunks": [v2_chunk("1", 0.5, "Алло."), v2_chunk("1", 2.0, "Добрый день.")]}}
    fails(write(tmp_path, "mono.json", mono), "Yandex SpeechKit v2 JSON", "only one speaker")


def v3_msgs(tag, index, t_ms, raw, normalized):
    final = {"result": {"audioCursors": {"finalIndex": str(index)}, "channelTag": tag,
                        "final": {"alternatives": [{"words": [], "text": raw, "startTimeMs": str(t_ms),
                                                    "endTimeMs": str(t_ms + 2500)}], "channelTag": tag}}}
    refine = {"result": {"channelTag": tag, "finalRefinement": {"finalIndex": str(index), "normalizedText": {
        "alternatives": [{"text": normalized, "startTimeMs": str(t_ms), "endTimeMs": str(t_ms + 2500)}],
        "channelTag": tag}}}}
    return [final, refine]


def test_yandex_v3_json_lines_prefer_normalized_text(tmp_path):
    msgs = [{"result": {"channelTag": "0", "partial": {"alternatives": [{"text": "добр"}]}}}]
    msgs += v3_msgs("0", 0, 500, "добрый день салон мебель плюс меня зовут анна", "Добрый день, салон Мебель Плюс, меня зовут Анна.")
    msgs += v3_msgs("1", 0, 3500, "сколько стоит диван", "Сколько стоит диван?")
    msgs += v3_msgs("0", 1, 6500, "сорок две тысячи могу предложить рассрочку", "42 000, могу предложить рассрочку.")
    p = tmp_path / "y3.jsonl"
    p.write_text("".join(json.dumps(m, ensure_ascii=False) + "\n" for m in msgs), encoding="utf-8")
    call, fmt = one_call(p)
    assert fmt == "yandex-v3"
    assert [(t.speaker, t.start, t.end, t.text) for t in call.turns] == [
        ("agent", 0.5, 3.0, "Добрый день, салон Мебель Плюс, меня зовут Анна."),
        ("customer", 3.5, 6.0, "Сколько стоит диван?"),
        ("agent", 6.5, 9.0, "42 000, могу предложить рассрочку.")]
    # the same messages as one JSON array
    call2, fmt2 = one_call(write(tmp_path, "y3.json", msgs))
    assert fmt2 == "yandex-v3" and [t.text for t in call2.turns] == [t.text for t in call.turns]


def test_yandex_v3_partials_only_fails(tmp_path):
    msgs = [{"result": {"channelTag": "0", "partial": {"alternatives": [{"text": "добр"}]}}}] * 3
    fails(write(tmp_path, "p.json", msgs), "Yandex SpeechKit v3 JSON", "only 3 partial results")


# ---- subtitles ------------------------------------------------------------------------------
def test_teams_vtt_with_voice_tags_and_cue_ids(tmp_path):
    vtt = ("WEBVTT\n\n"
           "3f2a1c9e-1d2b-4c61-9a7e-55d1c0b7a001/12-0\n00:00:01.200 --> 00:00:04.800\n"
           "<v Irina Volkova>Добрый день, компания Окна Плюс, меня зовут Ирина.</v>\n\n"
           "3f2a1c9e-1d2b-4c61-9a7e-55d1c0b7a001/15-0\n00:00:05.100 --> 00:00:08.000\n"
           "<v Pavel Orlov>Здравствуйте, сколько стоит замена окна?</v>\n\n"
           "3f2a1c9e-1d2b-4c61-9a7e-55d1c0b7a001/16-0\n00:00:08.000 --> 00:00:09.500\n"
           "<v Pavel Orlov>У меня балкон.</v>\n\n"
           "3f2a1c9e-1d2b-4c61-9a7e-55d1c0b7a001/19-0\n00:00:10.000 --> 00:00:13.000\n"
           "<v Irina Volkova>Могу предложить бесплатный замер.</v>\n")
    call, fmt = one_call(write(tmp_path, "teams.vtt", vtt))
    assert fmt == "vtt"
    assert [(t.speaker, t.start, t.end) for t in call.turns] == [("agent", 1.2, 4.8), ("customer", 5.1, 9.5),
                                                                 ("agent", 10.0, 13.0)]
    assert call.turns[1].text == "Здравствуйте, сколько стоит замена окна? У меня балкон."


def test_zoom_vtt_with_full_names(tmp_path):
    vtt = ("WEBVTT\n\n1\n00:00:00.500 --> 00:00:04.000\nMary Ann Keller: Good morning, Brightside Roofing, "
           "this is Mary Ann, how can I help you?\n\n2\n00:00:04.500 --> 00:00:07.000\nTom J Walsh: Hi, how much does "
           "a new roof cost?\n\n3\n00:00:07.500 --> 00:00:09.000\nMary Ann Keller: Let me check the price.\n\n"
           "4\n00:00:09.500 --> 00:00:11.000\nTom J Walsh: Okay.\n")
    call, fmt = one_call(write(tmp_path, "GMT20260914-100000_Recording.transcript.vtt", vtt))
    assert fmt == "vtt" and [t.speaker for t in call.turns] == ["agent", "customer", "agent", "customer"]
    assert call.turns[1].text == "Hi, how much does a new roof cost?"


def test_vtt_with_name_lines_and_sounds(tmp_path):
    vtt = ("WEBVTT\n\n00:00:00.500 --> 00:00:03.000\n(Марина)\nФитнес клуб Атлетика, здравствуйте, меня зовут Марина.\n\n"
           "00:00:03.500 --> 00:00:06.000\n(Олег)\nДобрый день, сколько стоит абонемент?\n\n"
           "00:00:06.000 --> 00:00:07.000\n[смеётся]\n\n"
           "00:00:07.500 --> 00:00:09.000\n(Марина)\nТридцать шесть тысяч рублей в год.\n")
    call, fmt = one_call(write(tmp_path, "call.vtt", vtt))
    assert [(t.speaker, t.start) for t in call.turns] == [("agent", 0.5), ("customer", 3.5), ("agent", 7.5)]
    assert call.turns[1].text == "Добрый день, сколько стоит абонемент?"
    assert "(" not in " ".join(t.text for t in call.turns) and "смеётся" not in " ".join(t.text for t in call.turns)
    # the same file saved as .txt is found by its content
    _, fmt2 = one_call(write(tmp_path, "call.txt", vtt))
    assert fmt2 == "vtt"


# ---- text exports ---------------------------------------------------------------------------
def test_zoom_saved_transcript_text(tmp_path):
    txt = ("[Irina Volkova] 14:02:11\nДобрый день, компания Окна Плюс, меня зовут Ирина. Чем могу помочь?\n"
           "[Pavel Orlov] 14:02:18\nЗдравствуйте, хочу поменять окна на балконе.\nСколько это стоит?\n"
           "[Irina Volkova] 14:02:30\nДавайте запишу вас на бесплатный замер.\n")
    call, fmt = one_call(write(tmp_path, "meeting_saved_closed_caption.txt", txt))
    assert fmt == "zoom-txt"
    # times of day become seconds from the first turn
    assert [(t.speaker, t.start) for t in call.turns] == [("agent", 0.0), ("customer", 7.0), ("agent", 19.0)]
    assert call.turns[1].text == "Здравствуйте, хочу поменять окна на балконе. Сколько это стоит?"
    assert call.source["roles"]["clock_start"] == 14 * 3600 + 2 * 60 + 11


def test_google_meet_transcript_text(tmp_path):
    txt = ("Консультация по окнам (2026-09-14 10:00 GMT+3) - Transcript\nAttendees\nIrina Volkova, Pavel Orlov\n"
           "Transcript\n00:00:00\n \nIrina Volkova: Добрый день, компания Окна Плюс, меня зовут Ирина.\n"
           "Pavel Orlov: Здравствуйте. Хочу поменять окна, сколько это стоит?\n00:05:00\n"
           "Irina Volkova: Давайте запишу вас на бесплатный замер.\nPavel Orlov: Хорошо, давайте в субботу.\n"
           "Transcription ended after 00:06:12\n\n"
           "This editable transcript was computer generated and might contain errors.\n")
    call, fmt = one_call(write(tmp_path, "meet.txt", txt))
    assert fmt == "text"
    assert [(t.speaker, t.start) for t in call.turns] == [("agent", 0.0), ("customer", None), ("agent", 300.0),
                                                          ("customer", None)]
    assert call.turns[3].text == "Хорошо, давайте в субботу."  # the export's notices are not speech
    assert call.source["roles"]["skipped_lines"] == 6


def test_teams_docx_transcript(tmp_path):
    docx = pytest.importorskip("docx")
    d = docx.Document()
    for line in ["Консультация", "Irina Volkova   0:03", "Добрый день, компания Окна Плюс, меня зовут Ирина.",
                 "Pavel Orlov   0:08", "Здравствуйте, сколько стоит замена окна?", "Irina Volkova   1:15",
                 "Могу предложить бесплатный замер."]:
        d.add_paragraph(line)
    d.save(tmp_path / "Transcript.docx")
    call, fmt = one_call(tmp_path / "Transcript.docx")
    assert fmt == "otter"
    assert [(t.speaker, t.start) for t in call.turns] == [("agent", 3.0), ("customer", 8.0), ("agent", 75.0)]
    assert call.source["roles"]["skipped_lines"] == 1


def test_broken_docx_fails_alone(tmp_path):
    (tmp_path / "bad.docx").write_bytes(b"PK\x03\x04 not a zip")
    fails(tmp_path / "bad.docx", "cannot open DOCX")


names = st.sampled_from(["Анна Белова", "Пётр Ким", "Dana Whitfield", "Speaker 1", "Unknown Speaker", "Ян"])
sentences = st.lists(st.sampled_from(["Добрый день.", "Сколько стоит?", "12 окон, 3 двери.", "Да", "ok",
                                      "Давайте в 10:30.", "1:05 это много?", "Цена 45 000.",
                                      "Итого: 5", "Встреча 10:30", "Перезвоните в 10:30"]), min_size=1, max_size=3)


@settings(max_examples=80, deadline=None, derandomize=True, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(turns=st.lists(st.tuples(st.integers(0, 1), sentences, st.integers(0, 20)), min_size=2, max_size=8),
       pair=st.lists(names, min_size=2, max_size=2, unique=True))
def test_otter_layout_property(turns, pair):
    """Whatever the text says (digits, times, colons), every speaker block is one turn with its
    own start, its text intact, and blocks of different speakers never merge."""
    blocks, t = [], 0
    for who, lines, gap in turns:
        t += gap
        blocks.append((pair[who], t, lines))
    # each sentence on its own line, as long turns wrap
    text = "\n\n".join(f"{name}  {t // 60}:{t % 60:02d}\n" + "\n".join(body) for name, t, body in blocks) + "\n"
    # what the parser should give: consecutive blocks of one speaker joined
    expected = []
    for name, t, body in ((n, t, " ".join(b)) for n, t, b in blocks):
        if expected and expected[-1][0] == name:
            expected[-1][2] += " " + body
        else:
            expected.append([name, t, body])
    if len({e[0] for e in expected}) < 2:
        return
    res = parse_blocks(text, {pair[0].lower().replace("ё", "е"): "agent", pair[1].lower().replace("ё", "е"): "customer"})
    assert res is not None
    got, prov, _ = res
    assert [(t.speaker, t.start, t.text) for t in got] == [
        ("agent" if name == pair[0] else "customer", float(t), body) for name, t, body in expected]


# ---- more than two speakers, --roles --------------------------------------------------------
THREE = ("Марина: Добрый день, фитнес клуб Атлетика, меня зовут Марина. Чем могу помочь?\n"
         "Олег: Здравствуйте, сколько стоит годовой абонемент? Мне нужно укрепить спину.\n"
         "Марина: Тридцать шесть тысяч. К нам подключилась старший тренер.\n"
         "Светлана: Добрый день, меня зовут Светлана, я старший тренер клуба. Могу предложить программу для спины "
         "и бесплатное пробное занятие.\n"
         "Олег: Дорого, я подумаю.\n")


def test_a_trainer_joining_gets_a_role_and_the_call_is_kept():
    turns, prov = parse_dialogue(THREE)
    assert [t.speaker for t in turns] == ["agent", "customer", "agent", "agent", "customer"]
    assert prov["labels"] == {"Марина": "agent", "Олег": "customer", "Светлана": "agent"}
    assert set(prov["speakers"]) == {"Марина", "Олег", "Светлана"}
    assert all(0 < s["confidence"] <= 0.8 for s in prov["speakers"].values())


def test_two_customers_and_a_role_word_speaker():
    text = ("Менеджер: Добрый день, салон Мебель Плюс, слушаю вас.\n"
            "Ольга: Здравствуйте, мы хотим диван, сколько стоит угловой?\n"
            "Менеджер: От сорока тысяч, могу предложить рассрочку.\n"
            "Игорь: А есть доставка? Нам нужно до субботы.\n"
            "Ольга: Я подумаю, дорого.\n")
    turns, prov = parse_dialogue(text)
    assert [t.speaker for t in turns] == ["agent", "customer", "agent", "customer", "customer"]
    assert prov["speakers"]["Менеджер"]["by"] == "label"


def test_roles_option_overrides_the_guess(tmp_path):
    # the evidence alone would make Олег (speaks first, greets) the agent
    text = ("Олег: Добрый день, меня зовут Олег, компания Атлетика?\nМарина: Да, слушаю вас.\n"
            "Олег: Сколько стоит абонемент?\nМарина: Тридцать шесть тысяч.\n")
    turns, _ = parse_dialogue(text)
    assert turns[0].speaker == "agent"
    turns, prov = parse_dialogue(text, parse_roles_option("Марина=agent, олег=клиент"))
    assert [t.speaker for t in turns] == ["customer", "agent", "customer", "agent"]
    assert prov["method"] == "given" and prov["given"] == ["марина", "олег"]
    # a first name picks the one speaker holding it
    call, _ = one_call(FIELD / "otter-txt" / "otter-call-0915.txt")
    calls, _ = _calls_from_file(FIELD / "otter-txt" / "otter-call-0915.txt", parse_roles_option("Олег=agent"))
    assert [t.speaker for t in calls[0].turns] == ["customer", "agent"] * 3


@pytest.mark.parametrize("value,needle", [("Марина", "is not NAME=ROLE"), ("Марина=boss", "role 'boss'"),
                                          ("Марина=agent,марина=customer", "both roles"), ("=agent", "NAME=ROLE")])
def test_bad_roles_option(value, needle):
    with pytest.raises(InputFormatError, match=needle):
        parse_roles_option(value)


def test_cli_roles_and_three_speakers(tmp_path):
    from cli import app

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "three.txt").write_text(THREE, encoding="utf-8")
    r = CliRunner().invoke(app, ["import", str(tmp_path / "in"), "--store", str(tmp_path / "s"), "-q",
                                 "--roles", "Светлана=customer,Никто=agent"])
    assert r.exit_code == 0, r.output
    assert "imported 1" in r.output and "Никто" not in r.output.split("warning:")[0]
    assert "--roles names no speaker in these files: Никто (item 2)" in r.output
    with Store(tmp_path / "s", create=False) as s:
        (cid,) = s.call_ids()
        assert [t.speaker for t in s.get_call(cid).turns] == ["agent", "customer", "agent", "customer", "customer"]
    # changed roles re-import the unchanged file; the same roles skip it
    r = CliRunner().invoke(app, ["import", str(tmp_path / "in"), "--store", str(tmp_path / "s"), "-q"])
    assert "imported 1" in r.output
    r = CliRunner().invoke(app, ["import", str(tmp_path / "in"), "--store", str(tmp_path / "s"), "-q"])
    assert "skipped 1" in r.output
    r = CliRunner().invoke(app, ["import", str(tmp_path / "in"), "--store", str(tmp_path / "s2"), "--roles", "x"])
    assert r.exit_code == 2 and "--roles" in r.output and "Traceback" not in r.output
    assert not (tmp_path / "s2").exists()


def test_many_named_speakers_never_drop_the_call(tmp_path):
    lines = ["Анна: Добрый день, компания Окна Плюс, меня зовут Анна, слушаю вас.",
             "Борис: Здравствуйте, сколько стоит окно?", "Вера: А есть скидка?", "Глеб: Мы хотим три окна.",
             "Анна: Могу предложить скидку десять процентов.", "Борис: Хорошо.", "Вера: Спасибо.", "Глеб: Да."]
    p = write(tmp_path, "four.txt", "\n".join(lines) + "\n")
    with Store(tmp_path / "s") as s:
        summary = import_paths([p], s)
        assert len(summary.imported) == 1 and not summary.failed
        call = s.get_call(summary.imported[0].call_id)
    assert len(call.turns) == 8 and call.turns[0].speaker == "agent"
    assert {t.speaker for t in call.turns} == {"agent", "customer"}
    assert len(call.source["roles"]["speakers"]) == 4


def test_numeric_speaker_ids_are_speakers(tmp_path):
    # some diarizers write speaker 0 / 1 as numbers; 0 is a speaker, not "no speaker"
    data = {"segments": [{"start": 0.0, "end": 2.0, "text": " Good morning, Brightside Roofing, this is Dana.", "speaker": 0},
                         {"start": 2.5, "end": 4.0, "text": " How much is a roof?", "speaker": 1},
                         {"start": 4.5, "end": 6.0, "text": " Let me check. Okay.", "speaker": 0, "words": [
                             {"word": "Let", "start": 4.5, "end": 4.7, "speaker": 0},
                             {"word": "me", "start": 4.8, "end": 4.9, "speaker": 0},
                             {"word": "check.", "start": 5.0, "end": 5.2, "speaker": 0},
                             {"word": "Okay.", "start": 5.5, "end": 5.9, "speaker": 1}]}]}
    call, fmt = one_call(write(tmp_path, "n.json", data))
    assert fmt == "whisperx"
    assert [(t.speaker, t.start) for t in call.turns] == [("agent", 0.0), ("customer", 2.5), ("agent", 4.5),
                                                          ("customer", 5.5)]
    assert call.source["roles"]["labels"] == {"0": "agent", "1": "customer"}


def test_zoom_vtt_third_speaker_with_one_remark_is_not_merged(tmp_path):
    vtt = ("WEBVTT\n\n1\n00:00:00.500 --> 00:00:04.000\nMary Ann Keller: Good morning, Brightside Roofing, this is "
           "Mary Ann, how can I help you?\n\n2\n00:00:04.500 --> 00:00:07.000\nTom J Walsh: Hi, how much does a new "
           "roof cost? I need it before winter.\n\n3\n00:00:07.500 --> 00:00:10.000\nRay De Luca: Hi Tom, this is Ray, "
           "the estimator, let me check the schedule, we can offer Thursday.\n\n"
           "4\n00:00:10.500 --> 00:00:12.000\nTom J Walsh: Too expensive for me.\n")
    call, _ = one_call(write(tmp_path, "z.vtt", vtt))
    assert [t.speaker for t in call.turns] == ["agent", "customer", "agent", "customer"]
    assert call.turns[2].text.startswith("Hi Tom, this is Ray") and call.turns[2].start == 7.5
    assert call.source["roles"]["labels"]["Ray De Luca"] == "agent"


def test_more_speakers_than_the_joint_search_takes_still_import():
    from nlp.importers import MAX_JOINT_SPEAKERS

    names = [f"Speaker {i}" for i in range(MAX_JOINT_SPEAKERS + 3)]
    lines = ["Speaker 0: Добрый день, компания Окна Плюс, меня зовут Анна, чем могу помочь?"]
    for n in names[1:]:
        lines += [f"{n}: Сколько стоит окно? Я хочу поменять окна.", "Speaker 0: Могу предложить бесплатный замер."]
    turns, prov = parse_dialogue("\n".join(lines) + "\n")
    assert len(turns) == len(lines) and turns[0].speaker == "agent"
    assert [t.speaker for t in turns[1:3]] == ["customer", "agent"]
    assert len(prov["speakers"]) == len(names)


def test_otter_export_with_title_and_footer(tmp_path):
    txt = ("Roof consultation\nMon, 9/14 10:02AM • 4:10\n\nDana Whitfield  0:00\nGood morning, Brightside Roofing, "
           "this is Dana. How can I help?\n\nUnknown Speaker  0:06\nHi. How much does a new roof cost?\nWe have a "
           "leak over the kitchen.\n\nDana Whitfield  0:15\nLet me book a free inspection.\n\n"
           "Transcribed by https://otter.ai\n")
    call, fmt = one_call(write(tmp_path, "otter.txt", txt))
    assert fmt == "otter"
    assert [(t.speaker, t.start) for t in call.turns] == [("agent", 0.0), ("customer", 6.0), ("agent", 15.0)]
    assert call.turns[1].text == "Hi. How much does a new roof cost? We have a leak over the kitchen."
    assert call.turns[2].text == "Let me book a free inspection."
    assert call.source["roles"]["skipped_lines"] == 3
