"""The graphs as DOT: deterministic, every shape on its edge, broken edges red with their diagnostic beside them."""

from __future__ import annotations

import html
import re
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given, settings

from explorer.analysis import analyze, shape_label
from explorer.graph import ERROR_RED, architecture_graph, dot_binary, render_svg, sized_svg, unrolled_graph
from explorer.legend import legend
from explorer.spec import Architecture, parse_architecture

from helpers import ASSETS, valid_architectures

EXPECTED = Path(__file__).resolve().parent / "expected"
PRESET_NAMES = sorted(p.stem for p in ASSETS.glob("*.json"))


def preset(name: str) -> Architecture:
    return parse_architecture((ASSETS / f"{name}.json").read_bytes())


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_graph_source_is_exactly_the_expected_file(name: str, overwrite: bool) -> None:
    """tests/expected/NAME.gv: regenerate with `pytest --overwrite` and review the diff."""
    analysis = analyze(preset(name))
    actual = architecture_graph(analysis, show_states=True).source + "\n" + unrolled_graph(analysis).source
    expected_file = EXPECTED / f"{name}.gv"
    if overwrite:
        expected_file.write_text(actual)
    assert actual == expected_file.read_text()


@settings(max_examples=40, deadline=None)
@given(arch=valid_architectures())
def test_every_edge_carries_its_shape_and_a_valid_stack_has_no_red(arch: Architecture) -> None:
    analysis = analyze(arch)
    source = architecture_graph(analysis).source
    assert architecture_graph(analysis).source == source  # the same architecture, the same text
    for shape in [analysis.input_shape, *(info.output_shape for info in analysis.layers)]:
        assert shape_label(shape) in source
    assert ERROR_RED not in source
    assert source.count("last step only") == sum(not layer.return_sequences for layer in arch.layers)


def test_a_broken_edge_is_red_and_the_rest_still_draws() -> None:
    analysis = analyze(preset("teaching_broken"))
    source = architecture_graph(analysis).source
    broken = [line for line in source.splitlines() if "layer2 -> layer3" in line]
    assert len(broken) == 1 and ERROR_RED in broken[0] and "needs a sequence" in broken[0]
    assert "layer3 -> layer4" in source and "layer4 -> output" in source
    assert "Fix: Set return_sequences=True on layer 2." in source  # the diagnostic stands beside the layer


def test_fused_runs_are_grouped_and_num_layers_is_drawn() -> None:
    source = architecture_graph(analyze(preset("sequence_labelling"))).source
    assert "subgraph cluster_run1" in source and "one nn.GRU(num_layers=2)" in source
    source = architecture_graph(analyze(preset("tutorial_pytorch_num_layers"))).source
    assert "peripheries=2" in source and "2 layers stacked inside" in source


def test_unrolled_view_hands_on_only_the_last_step_without_return_sequences() -> None:
    arch = preset("tutorial_keras")
    source = unrolled_graph(analyze(arch)).source
    assert "L1_1_20 -> L2_1_20" in source and "L1_1_2 -> L2_1_2" in source  # LSTM hands on every step
    assert "L2_1_20 -> L3" in source and "L2_1_2 -> L3" not in source  # GRU only its last
    bidirectional = unrolled_graph(analyze(preset("bidirectional"))).source
    assert "L2_1_1 -> L3" in bidirectional and "L2_1_20 -> L3" in bidirectional  # backward ends at step 1


def test_unrolled_view_passes_only_hidden_states_along_time_and_has_a_legend() -> None:
    source = unrolled_graph(analyze(preset("sequence_labelling"))).source
    # Inputs and outputs do not feed each other: their rows are held in order by invisible edges only.
    for row in ("x", "y"):
        edges = [line for line in source.splitlines() if line.strip().startswith(f"{row}_")]
        assert edges and all(
            "invis" in line for line in edges if "->" in line and line.split("->")[1].strip()[0] == row
        )
    assert "L1_1_1 -> L1_1_2 [style=solid]" in source  # the hidden state does
    assert "x t: input at step t" in source and "hidden state carried to the next step" in source
    assert "backward direction" not in source  # no bidirectional layer here
    assert "backward direction" in unrolled_graph(analyze(preset("bidirectional"))).source
    assert "needs a sequence is handed one state" in unrolled_graph(analyze(preset("teaching_broken"))).source


def test_unrolled_variable_length_names_the_last_step_t() -> None:
    source = unrolled_graph(analyze(preset("variable_length"))).source
    assert "xT" in source and "…" in source


def test_server_side_svg_has_the_edge_labels() -> None:
    binary = dot_binary()
    assert binary is not None, "graphviz-pure is in requirements.txt"
    arch = preset("tutorial_keras")
    svg = html.unescape(render_svg(architecture_graph(analyze(arch)).source, binary).decode())
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "(batch=4, time=20, features=64)" in svg
    changed = arch.with_layer(1, return_sequences=True)
    assert "(batch=4, time=20, features=32)" in html.unescape(
        render_svg(architecture_graph(analyze(changed)).source, binary).decode()
    )


def test_dot_program_can_be_chosen_or_switched_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXPLORER_DOT", "")
    assert dot_binary() is None
    monkeypatch.setenv("EXPLORER_DOT", "no-such-graphviz-program")
    assert dot_binary() is None


def test_head_free_sequence_output_reaches_output_node() -> None:
    arch = replace(preset("sequence_labelling"), head=None)
    source = architecture_graph(analyze(arch)).source
    assert "layer2 -> output" in source


def test_every_kind_is_drawn_distinctly_and_the_unrolled_view_says_where_it_stops() -> None:
    analysis = analyze(preset("text_classifier"))
    source = architecture_graph(analysis).source
    assert "▦ Embedding(5000, 32)" in source and "⊤ GlobalMaxPool1D" in source and "⋯ Dropout(0.3)" in source
    assert "shape=invhouse" in source and 'style="rounded,filled,dashed"' in source
    conv = architecture_graph(analyze(preset("cnn_lstm_forecaster"))).source
    assert conv.count("torch: ⇅ transposed to (batch, features, time) and back") == 2  # Conv1D and MaxPool1D
    unrolled = unrolled_graph(analysis).source
    assert 'L1_1 [label="Embedding t1"' in unrolled  # a row without arrows along time
    assert "3 GlobalMaxPool1D changes the time axis:\\nthe unrolled view stops here" in unrolled
    assert "L2_1_40 -> stop" in unrolled and "y_1" not in unrolled


@pytest.mark.parametrize("min_px", [14, 20, 30])
@pytest.mark.parametrize("name", PRESET_NAMES)
def test_the_inlined_graph_never_draws_text_under_the_minimum_size(name: str, min_px: int) -> None:
    """The smallest text, scaled as the browser scales the SVG (its CSS width over its viewBox width), measures the
    minimum; a graph whose own text is larger keeps its own size."""
    svg = render_svg(architecture_graph(analyze(preset(name)), show_states=True).source, dot_binary()).decode()
    sized = sized_svg(svg, min_px)
    assert sized.startswith("<svg") and "pt" not in sized[: sized.index(">")]
    css_width = float(re.search(r'style="width: ([\d.]+)px; height: auto"', sized)[1])
    viewbox_width = float(re.search(r'viewBox="[\d.]+ [\d.]+ ([\d.]+) ', sized)[1])
    smallest_font = min(float(f) for f in re.findall(r'font-size="([\d.]+)"', sized))
    drawn_px = smallest_font * css_width / viewbox_width
    assert drawn_px >= min_px - 0.5
    own_width_px = float(re.search(r'<svg width="([\d.]+)pt"', svg)[1]) * 4 / 3
    assert css_width == pytest.approx(max(own_width_px, own_width_px * min_px / (smallest_font * 4 / 3)), abs=1)


def test_the_legend_lists_the_marks_the_drawing_has_and_only_those() -> None:
    def marks(name: str, **view: bool) -> str:
        return " | ".join(e.mark for e in legend(analyze(preset(name)), **view))

    tutorial = marks("tutorial_keras")
    assert "Dashed arrow, 'last step only'" in tutorial and "Solid arrow" in tutorial
    assert "red" not in tutorial.lower() and "⇄" not in tutorial and "stacked outlines" not in tutorial
    assert "Thick red arrow" in marks("teaching_broken") and "Red note" in marks("teaching_broken")
    assert "⇄ forward ⊕ backward" in marks("bidirectional")
    assert "stacked outlines" in marks("tutorial_pytorch_num_layers")
    assert "transposed" in marks("cnn_lstm_forecaster")
    assert "Grey dashed box" in marks("tutorial_keras", show_states=True)
    unrolled = marks("bidirectional", unrolled=True)
    assert "Blue arrow to the left" in unrolled and "Arrow to the right" in unrolled
    assert "Blue" not in marks("tutorial_keras", unrolled=True)
