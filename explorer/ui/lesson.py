"""Lesson mode on the page: the lesson's idea and question above the graph, the asked label hidden until answered.

`lesson=<slug>` in the link opens that lesson (its stack loaded), so a teacher can send a class to it.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from explorer.analysis import Analysis, analyze
from explorer.graph import NOTHING_HIDDEN, Hidden
from explorer.lessons import BY_SLUG, LESSONS, MAX_ANSWER_CHARS, Lesson, applies, check, truth
from explorer.literal import markdown_literal
from explorer.ui import state

ON = "lesson.on"
PICK = "lesson.pick"  # the slug of the lesson shown; the link's parameter is LINK_PARAM
ANSWER = "lesson.answer"
VERDICT = "lesson.verdict"  # (right, text) of the last check
REVEALED = "lesson.revealed"
CHOICE = "lesson.choice"
LINK_PARAM = "lesson"


def current() -> Lesson | None:
    return BY_SLUG.get(st.session_state.get(PICK, "")) if st.session_state.get(ON) else None


def _start(slug: str) -> None:
    """Open a lesson: its stack, its question unanswered, its slug in the link."""
    lesson = BY_SLUG[slug]
    st.session_state[PICK] = st.session_state[CHOICE] = slug
    st.session_state[ON] = True
    st.session_state[ANSWER] = ""
    st.session_state.pop(VERDICT, None)
    st.session_state[REVEALED] = False
    st.query_params[LINK_PARAM] = slug
    state.apply(lambda _: lesson.architecture())


def init() -> None:
    """First run of a session: a lesson link opens its lesson (its stack replaces the link's architecture)."""
    if ON in st.session_state:
        return
    slug = st.query_params.get(LINK_PARAM)
    st.session_state[ON] = False
    if slug in BY_SLUG:
        _start(slug)
    elif slug is not None:
        st.query_params.pop(LINK_PARAM, None)
        state.notify("error", "The link names a lesson that does not exist; the lessons are listed under Lesson mode.")


def _mode_changed() -> None:
    if st.session_state[ON]:
        _start(st.session_state.get(PICK) or LESSONS[0].slug)
    else:
        st.query_params.pop(LINK_PARAM, None)


def toggle(container: DeltaGenerator) -> None:
    container.toggle(
        "Lesson mode",
        key=ON,
        on_change=_mode_changed,
        help="Short lessons, one idea each: predict a shape or a count before the graph shows it. The link "
        "then opens the same lesson for the whole class.",
    )


def hidden(analysis: Analysis) -> Hidden:
    """What the graph keeps back: the asked label, until the answer is right or shown."""
    lesson = current()
    if lesson is None or st.session_state.get(REVEALED) or not applies(lesson, analysis):
        return NOTHING_HIDDEN
    return lesson.question.hidden()


def _check() -> None:
    lesson, analysis = current(), analyze(state.current())
    if lesson is None or not applies(lesson, analysis):
        return
    verdict = check(lesson, analysis, str(st.session_state.get(ANSWER, "")))
    st.session_state[VERDICT] = (verdict.right, verdict.text)
    st.session_state[REVEALED] = verdict.right


def _reveal() -> None:
    lesson, analysis = current(), analyze(state.current())
    if lesson is not None and applies(lesson, analysis):
        st.session_state[VERDICT] = (True, f"The answer: {truth(lesson, analysis)}.")
        st.session_state[REVEALED] = True


def panel(analysis: Analysis) -> None:
    lesson = current()
    if lesson is None:
        return
    number = LESSONS.index(lesson)
    with st.container(border=True, key="lesson_panel"):
        top = st.container(horizontal=True, vertical_alignment="bottom")
        top.selectbox(
            "Lesson",
            [item.slug for item in LESSONS],
            format_func=lambda slug: f"{LESSONS.index(BY_SLUG[slug]) + 1}. {BY_SLUG[slug].title}",
            key=CHOICE,
            on_change=lambda: _start(st.session_state[CHOICE]),
            width=420,
        )
        if number + 1 < len(LESSONS):
            top.button("Next lesson", key="lesson.next", on_click=_start, args=(LESSONS[number + 1].slug,))
        st.markdown(lesson.idea)  # our own text: markdown is safe
        if not applies(lesson, analysis):
            st.info("The stack was changed so far that this question no longer fits it.")
            st.button("Start the lesson again", key="lesson.restart", on_click=_start, args=(lesson.slug,))
            return
        st.markdown(f"**Predict:** {lesson.question.prompt}")
        if not st.session_state.get(REVEALED):
            row = st.container(horizontal=True, vertical_alignment="bottom")
            row.text_input(
                "Your prediction",
                key=ANSWER,
                max_chars=MAX_ANSWER_CHARS,
                placeholder="(4, 20, 64)" if lesson.question.asked.value.endswith("shape") else "12,345",
                width=260,
                on_change=_check,  # Enter checks too
            )
            row.button("Check", key="lesson.check", type="primary", on_click=_check)
            row.button("Show the answer", key="lesson.reveal", type="tertiary", on_click=_reveal)
        verdict = st.session_state.get(VERDICT)
        if verdict:
            right, text = verdict
            # Our own words and numbers, never the typed answer; literal all the same (h_n's axis has a '*').
            (st.success if right else st.error)(markdown_literal(text))
        st.caption(f"This lesson's link: add ?{LINK_PARAM}={lesson.slug} to the page's address (it is in it now).")
