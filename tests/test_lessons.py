"""Lesson mode: every lesson's stack works, its answer is the analysis' own number, wrong guesses get the reason."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.analysis import analyze
from explorer.build import build
from explorer.graph import KEPT_BACK, Hidden, architecture_graph
from explorer.layers.stages import RecurrentBlock
from explorer.lessons import BY_SLUG, LESSONS, Asked, applies, check, truth

from helpers import ASSETS, drawn_graph, shown

APP = str(ASSETS.parent / "app.py")


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.slug)
def test_every_lesson_loads_a_working_stack_and_accepts_the_real_answer(lesson) -> None:
    analysis = analyze(lesson.architecture())
    assert analysis.valid and applies(lesson, analysis)
    question = lesson.question
    arch = analysis.architecture
    stages = build(arch, fuse=False).stage_list  # one torch stage per layer of the stack
    # The answer is what torch really produces or holds, not only what the analysis says.
    if question.asked is Asked.PARAMS:
        real = sum(p.numel() for p in stages[question.layer - 1].parameters())
        assert truth(lesson, analysis) == f"{real:,}"
        grouped = f"{real:,}"  # thousands grouped as people write them: 9,408, 9_408, 9 408
        answers = [str(real), grouped, f"{real:_}", grouped.replace(",", " "), grouped.replace(",", "\u202f")]
    else:
        out, lengths = torch.randn(arch.input.batch, arch.input.seq_len, arch.input.features), None
        with torch.no_grad():
            for stage in stages[: question.layer]:
                if isinstance(stage, RecurrentBlock):
                    out, lengths, h_n = stage.step(out, lengths)
                else:
                    out, lengths = stage(out, lengths, True)
        real_shape = tuple((h_n if question.asked is Asked.H_N else out).shape)
        answers = [str(real_shape), ", ".join(map(str, real_shape)), " x ".join(map(str, real_shape))]
    for answer in answers:
        verdict = check(lesson, analysis, answer)
        assert verdict.right, (answer, verdict.text)


@pytest.mark.parametrize(
    ("slug", "answer", "reason"),
    [
        ("return-sequences", "(4, 20, 32)", "hands on only its last step, so the time axis is gone"),
        ("return-sequences", "(4, 64)", "it is the layer's units, 32"),
        ("return-sequences", "(8, 32)", "the batch never changes"),
        ("stacking", "9,312", "A GRU has 3 gates"),
        ("num-layers", "(1, 4, 64)", "one row per inner layer (num_layers)"),
        ("num-layers", "(4, 64)", "h_n has three axes"),
        ("bidirectional", "(1, 4, 32)", "one row per inner layer (num_layers) and per direction"),
        ("dropout", "52,224", "That is Keras' count"),
        ("cells", "1,120", "That is Keras' count"),
        ("cells", "four thousand", "Type a number"),
        ("last-step", "", "Type the sizes"),
    ],
)
def test_a_wrong_prediction_gets_its_reason_without_the_answer(slug: str, answer: str, reason: str) -> None:
    lesson = BY_SLUG[slug]
    analysis = analyze(lesson.architecture())
    verdict = check(lesson, analysis, answer)
    assert not verdict.right and reason in verdict.text
    assert truth(lesson, analysis).strip("()") not in verdict.text  # not given away


def test_the_asked_label_is_kept_back_in_the_graph_and_only_that_one() -> None:
    lesson = BY_SLUG["return-sequences"]
    analysis = analyze(lesson.architecture())
    shown_graph = architecture_graph(analysis).source
    kept = architecture_graph(analysis, hidden=lesson.question.hidden()).source
    assert "(batch=4, features=32)" in shown_graph and "(batch=4, features=32)" not in kept
    assert f'label=" {KEPT_BACK}"' in kept and "last step only" not in kept
    assert "(batch=4, time=20, features=64)" in kept  # the other edges keep their labels
    params = architecture_graph(analysis, hidden=Hidden(params=2)).source
    assert "9,408" not in params and "19,456" in params
    states = architecture_graph(analysis, show_states=True, hidden=Hidden(states=1)).source
    assert "h_n ?" in states and "c_n ?" in states and "h_n (layers*directions=1, batch=4, units=32)" in states


def test_a_question_that_no_longer_fits_the_edited_stack_says_so() -> None:
    lesson = BY_SLUG["bidirectional"]
    arch = lesson.architecture()
    assert not applies(lesson, analyze(replace(arch, layers=arch.layers[:1])))  # layer 2 is now the Dense head


def test_a_lesson_link_opens_the_lesson_and_the_answer_reveals_the_label() -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lesson"] = "num-layers"
    at.run()
    assert not at.exception and at.toggle(key="lesson.on").value
    # The lesson's stack, its h_n kept back.
    assert "LSTM(64, num_layers=2)" in drawn_graph(at) and "h_n ?" in drawn_graph(at)
    assert "(layers*directions=2" not in drawn_graph(at)
    assert not at.table  # the summary would give it away
    at.text_input(key="lesson.answer").input("(1, 4, 64)")
    at.button(key="lesson.check").click().run()
    (wrong,) = shown(at.error)
    assert "one row per inner layer (num_layers)" in wrong and "h_n ?" in drawn_graph(at)
    at.text_input(key="lesson.answer").input("2, 4, 64")
    at.button(key="lesson.check").click().run()
    assert any("Right: (layers*directions=2, batch=4, units=64)" in text for text in shown(at.success))
    assert "h_n (layers*directions=2, batch=4, units=64)" in drawn_graph(at) and at.table
    at.button(key="lesson.next").click().run()  # the next lesson: its stack and a fresh question
    assert at.query_params["lesson"] == "last-step" and "?" in drawn_graph(at)
    assert "GRU(32)" in drawn_graph(at) and not at.error


def test_a_lesson_link_to_nothing_says_so_and_shows_the_default() -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["lesson"] = "<b>nope</b>"
    at.run()
    assert not at.exception and not at.toggle(key="lesson.on").value
    assert any("names a lesson that does not exist" in text for text in shown(at.error))
