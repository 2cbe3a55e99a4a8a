"""Hostile input through every entry point (parser, link, uploaded file, CLI, page): a message, never a
traceback; user text shown as typed, cut short; lookalike names refused; the CLI's training settings checked
before any work. Random JSON structures and strings come from hypothesis, nested around the parser's guard."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import subprocess
import sys
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from explorer.__main__ import main as cli_main
from explorer.literal import markdown_literal, printable
from explorer.reader import MAX_PROBLEMS_SHOWN
from explorer.share import decode
from explorer.spec import SpecError, parse_architecture

from helpers import ASSETS, shown

TUTORIAL_FILE = ASSETS / "tutorial_keras.json"
APP = str(ASSETS.parent / "app.py")

# Strings as hostile users write them: lone surrogates, controls, bidi overrides, markdown and HTML.
nasty_text = st.text(
    alphabet=st.characters(codec=None, categories=None, exclude_characters=None), max_size=30
) | st.sampled_from(
    [
        "\ud800",
        "\x1b[31mred\x1b[0m",
        "\u202eevil",
        "[log in](http://phish.example)",
        "![](http://tracker.example/p.png)",
        "# heading",
        "<script>alert(1)</script>",
        ":red[alarm]",
        "ſimpleRNN",
        "lſtm",
    ]
)
json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | nasty_text
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(nasty_text, children, max_size=4),
    max_leaves=20,
)


def near_the_architecture(value: object) -> st.SearchStrategy:
    """Hostile values where the parser looks: the whole file, the input, a layer, the head."""
    return st.sampled_from(
        [
            value,
            {"input": value, "layers": []},
            {"input": {"features": 10}, "layers": [value]},
            {"input": {"features": 10}, "layers": [{"type": "LSTM", "units": 8, "extra": value}]},
            {"input": {"features": 10}, "layers": [], "head": value},
            {"input": {"features": value}, "layers": [{"type": value, "units": value}]},
        ]
    )


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


def assert_clean(error: SpecError) -> None:
    for problem in error.problems:
        problem.encode("utf-8")  # no lone surrogate: it must reach a page and a terminal
        assert len(problem) < 400
        assert "\x1b" not in problem


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), value=json_values)
def test_random_json_only_ever_gets_a_message(data: st.DataObject, value: object) -> None:
    document = data.draw(near_the_architecture(value))
    raw = json.dumps(document)  # ensure_ascii: surrogates travel as \ud800 escapes, as in a hostile file
    try:
        parse_architecture(raw)
    except SpecError as error:
        assert_clean(error)


@pytest.mark.parametrize("depth", [900, 985, 990, 995, 1000, 1010, 2000])
@pytest.mark.parametrize("where", ["value", "key", "layer"])
def test_nesting_around_the_guard_gets_a_message(depth: int, where: str) -> None:
    inner = nested(depth)
    raw = {
        "value": '{"input": {"features": ' + inner + '}, "layers": []}',
        "key": '{"input": {"features": 10, "x": ' + inner + '}, "layers": []}',
        "layer": '{"input": {"features": 10}, "layers": ' + inner + "}",
    }[where]
    with pytest.raises(SpecError) as caught:
        parse_architecture(raw)
    assert_clean(caught.value)


def test_a_lone_surrogate_key_is_named_escaped() -> None:
    with pytest.raises(SpecError) as caught:
        parse_architecture('{"input": {"features": 10, "\\ud800": 1}, "layers": []}')
    assert_clean(caught.value)
    assert 'input."\\ud800" is not a known key' in caught.value.problems[0]


def test_problem_lists_are_capped() -> None:
    keys = ", ".join(f'"k{i}": 1' for i in range(21_000))
    with pytest.raises(SpecError) as caught:
        parse_architecture('{"input": {"features": 10, ' + keys + '}, "layers": []}')
    from explorer.spec import problems_text

    text = problems_text(caught.value.problems)
    assert text.endswith(f"… and {21_000 - MAX_PROBLEMS_SHOWN:,} more") and len(text) < 2000


@pytest.mark.parametrize(
    ("field", "value"),
    [("type", "ſimpleRNN"), ("type", "lſtm"), ("type", "ＬＳＴＭ"), ("activation", "sıgmoıd")],
)
def test_lookalike_letters_are_not_names(field: str, value: str) -> None:
    layer = {"type": value, "units": 8} if field == "type" else {"type": "LSTM", "units": 8}
    head = {"units": 2, "activation": value} if field == "activation" else None
    with pytest.raises(SpecError, match="must be one of"):
        parse_architecture(json.dumps({"input": {"features": 3}, "layers": [layer], "head": head}))


def link(raw: str) -> str:
    return base64.urlsafe_b64encode(zlib.compress(raw.encode("utf-8", "surrogatepass"))).decode().rstrip("=")


@settings(max_examples=100, deadline=None)
@given(data=st.data(), value=json_values)
def test_random_links_only_ever_get_a_message(data: st.DataObject, value: object) -> None:
    try:
        decode(link(json.dumps(data.draw(near_the_architecture(value)))))
    except SpecError as error:
        assert_clean(error)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli_main(list(args))
        except SystemExit as exit_:  # argparse's own refusals
            code = int(exit_.code or 0)
    return code, out.getvalue(), err.getvalue()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), value=json_values)
def test_random_files_through_the_cli_exit_0_or_2_with_no_traceback(
    tmp_path: Path, data: st.DataObject, value: object
) -> None:
    path = tmp_path / "arch.json"
    path.write_text(json.dumps(data.draw(near_the_architecture(value))))
    code, _, err = run_cli("summary", str(path), "--json")
    assert code in (0, 2) and "Traceback" not in err
    err.encode("utf-8")
    assert "\x1b" not in err


@pytest.mark.parametrize("depth", [985, 995])
def test_a_deeply_nested_file_through_the_cli_and_the_page(tmp_path: Path, depth: int) -> None:
    path = tmp_path / "deep.json"
    path.write_text('{"input": {"features": 10, "x": ' + nested(depth) + '}, "layers": []}')
    code, _, err = run_cli("summary", str(path))
    assert code == 2 and "Traceback" not in err and f"nested {depth + 2} levels deep" in err
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["a"] = link(path.read_text())
    at.run()
    assert not at.exception and any("was not loaded" in text for text in shown(at.error))


def test_markup_in_a_link_is_shown_as_typed_on_the_page() -> None:
    hostile = {
        "input": {"features": 10, "[log in](http://phish.example)": 1, "![x](http://tracker.example/p.png)": 2},
        "layers": [],
    }
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["a"] = link(json.dumps(hostile))
    at.run()
    assert not at.exception
    (notice,) = [e for e in at.error if "not loaded" in e.value]
    # Every bracket and parenthesis escaped: markdown renders no link and no image from it.
    assert "\\[log in\\]\\(http\u2060\\:\\/\\/phish\\.example\\)" in notice.value
    assert "[log in](" not in notice.value and "![" not in notice.value.replace("\\!\\[", "")


def test_markdown_literal_escapes_every_mark_and_keeps_the_text() -> None:
    text = "*a* _b_ [c](d) ![e](f) # g <h> `i` :red[j] $k$ http://l.example"
    escaped = markdown_literal(text)
    assert all(f"\\{mark}" in escaped for mark in "*_[]()!#<>`:$/.")
    assert escaped.replace("\\", "").replace("\u2060", "") == text  # as typed, once shown
    assert "http\u2060\\:" in escaped  # a word joiner keeps the bare address from being linked
    assert printable("a\x1b[31mb\u202ec\ud800d\ne") == "a\ufffd[31mb\ufffdc\ufffdd\ne"
    assert len(printable("x" * 10_000, 100)) == 100


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--seed", str(10**30)], "the seed must be a whole number from 0 to 2,147,483,647"),
        (["--seed", "-1"], "the seed must be a whole number from 0 to"),
        (["--threads", str(2**40)], "threads must be from 1 to"),
        (["--lr", "1e308"], "the learning rate must be a number above 0 and at most 1"),
        (["--save-weights", "/nonexistent-folder/w.pt"], "cannot write the weights to /nonexistent-folder/w.pt"),
        (["--save-weights", "/"], "cannot write the weights to /"),
    ],
)
def test_cli_training_settings_are_checked_before_any_training(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "explorer", "train", str(TUTORIAL_FILE), "--task", "classify", "--json", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""  # refused before the first step


def test_summary_and_export_do_not_import_torch() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from explorer.__main__ import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['summary', {str(TUTORIAL_FILE)!r}])\n"
        f"    main(['export', {str(TUTORIAL_FILE)!r}, '--framework', 'keras'])\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ASSETS.parent)
    assert result.stdout.strip() == "False", result.stderr


@settings(max_examples=12, deadline=None)
@given(data=st.data(), value=json_values)
def test_random_links_on_the_page_show_a_message_and_keep_the_default(data: st.DataObject, value: object) -> None:
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["a"] = link(json.dumps(data.draw(near_the_architecture(value))))
    at.run()
    assert not at.exception
    assert at.session_state["arch"] is not None  # the default stands, or the link's architecture if it was good
    for text in shown(at.error):
        assert "Traceback" not in text and len(text) < 3000
