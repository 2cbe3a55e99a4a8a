"""Each step's state and gates, recomputed from a layer's weights, against what torch itself returns."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.build import build
from explorer.inside import (
    GATES,
    MAX_STEPS_SHOWN,
    MAX_UNITS_SHOWN,
    VIEWS,
    heatmap_window,
    input_window,
    layer_steps,
    sample_target,
    steps,
)
from explorer.layers.stages import RecurrentBlock
from explorer.presets import load_preset
from explorer.spec import Architecture, CellType, InputSpec, RecurrentLayer

from helpers import VARIABLE_TIME, stack_inputs, valid_architectures, valid_stacks

torch.set_num_threads(1)
MODULES = {CellType.LSTM: torch.nn.LSTM, CellType.GRU: torch.nn.GRU, CellType.RNN: torch.nn.RNN}


@pytest.mark.parametrize("cell", list(CellType))
@pytest.mark.parametrize(("num_layers", "bidirectional"), [(1, False), (2, False), (1, True), (2, True)])
def test_steps_reproduce_torch_outputs_and_final_states(cell: CellType, num_layers: int, bidirectional: bool) -> None:
    torch.manual_seed(num_layers + 2 * bidirectional)
    rnn = MODULES[cell](3, 5, num_layers=num_layers, bidirectional=bidirectional, batch_first=True).eval()
    x = torch.randn(2, 7, 3)
    with torch.no_grad():
        output, state = rnn(x)
    found = steps(rnn, x)
    assert set(found) == set(VIEWS[cell])
    torch.testing.assert_close(found["h"], output)  # the same equations as torch, step by step
    # torch's final states are the top internal layer's where each direction ends: forward at the last step...
    finals = [("h", state[0]), ("c", state[1])] if cell is CellType.LSTM else [("h", state)]
    for key, final in finals:
        torch.testing.assert_close(found[key][:, -1, :5], final[-2 if bidirectional else -1])
        if bidirectional:  # ...and backward at step 0
            torch.testing.assert_close(found[key][:, 0, 5:], final[-1])
    for key in GATES & set(found):
        assert found[key].shape == output.shape and found[key].min() > 0 and found[key].max() < 1
    if cell is CellType.LSTM:  # what the output gate lets through of the cell state is the output
        torch.testing.assert_close(found["h"], found["o"] * torch.tanh(found["c"]))


def test_a_layer_inside_a_stack_and_inside_a_fused_module() -> None:
    x = torch.randn(3, 9, 4)
    gru_then_lstm = Architecture(
        InputSpec(4, 9), (RecurrentLayer(CellType.GRU, 6, return_sequences=True), RecurrentLayer(CellType.LSTM, 5))
    )
    model = build(gru_then_lstm).eval()
    with torch.no_grad():
        gru_output, _ = model.recurrent_blocks[0].rnn(x)
        _, (_, c_n) = model.recurrent_blocks[1].rnn(gru_output)  # the LSTM reads the GRU's sequence
    torch.testing.assert_close(layer_steps(model, x, 0)["h"], gru_output)
    cells = layer_steps(model, x, 1)["c"]
    assert cells.shape == (3, 9, 5)
    torch.testing.assert_close(cells[:, -1], c_n[-1])

    tutorial = build(load_preset("Tutorial (PyTorch, num_layers=2): LSTM 64 → Linear 5")).eval()
    x = torch.randn(2, 20, 10)
    with torch.no_grad():
        _, (_, c_n) = tutorial.recurrent_blocks[0].rnn(x)
    torch.testing.assert_close(layer_steps(tutorial, x, 0)["c"][:, -1], c_n[-1])  # the top of the two layers


@settings(max_examples=20, deadline=None)
@given(arch=valid_architectures(), seed=st.integers(0, 2**16))
def test_every_layer_of_any_stack_is_seen_step_by_step(arch: Architecture, seed: int) -> None:
    """Also layers that hand on only their last step, and layers inside a fused run (via the unfused twin)."""
    torch.manual_seed(seed)
    model = build(arch).eval()
    time = arch.input.seq_len or 6
    x = torch.randn(2, time, arch.input.features)
    for index, layer in enumerate(arch.layers):
        found = layer_steps(model, x, index)
        assert set(found) == set(VIEWS[layer.type])
        assert {tuple(v.shape) for v in found.values()} == {(2, time, layer.output_features)}
    if arch.head is None and arch.layers[-1].return_sequences:
        torch.testing.assert_close(found["h"], model(x))


def test_a_long_wide_layer_is_shown_as_a_bounded_window_with_a_note() -> None:
    values = torch.arange(2000 * 512, dtype=torch.float32).reshape(2000, 512)  # 2000 steps, bidirectional 256
    window = heatmap_window(values, first_step=1000)
    assert (len(window.steps), len(window.units)) == (MAX_STEPS_SHOWN, MAX_UNITS_SHOWN)
    assert window.steps == range(1000, 1300) and window.units == range(0, 512, 4)
    assert window.values[0][1] == values[1000, 4].item() and window.values[-1][-1] == values[1299, 508].item()
    assert (
        window.note
        == "Showing time steps 1000–1299 of 2000 (move the window to see the rest) and every 4th unit of 512."
    )
    assert heatmap_window(values, first_step=10**9).steps == range(1700, 2000)  # clamped to the end
    assert "every 2nd unit of 256" in heatmap_window(torch.ones(20, 256)).note
    small = heatmap_window(torch.ones(20, 64))
    assert small.note is None and len(small.values) == 20 and len(small.values[0]) == 64


@settings(max_examples=25, deadline=None)
@given(arch=valid_stacks(), seed=st.integers(0, 2**16))
def test_every_recurrent_layer_of_any_stack_is_seen_wherever_it_sits(arch: Architecture, seed: int) -> None:
    """After an Embedding, a conv front end, pooling, norms or a RepeatVector: the layer's own sequence, as the
    stack computes it, is what the inside view recomputes step by step."""
    torch.manual_seed(seed)
    model = build(arch, fuse=False).eval()
    # A variable length is given the length valid_stacks checked the stack at (pooling needs enough steps).
    spec = replace(arch.input, seq_len=arch.input.seq_len or VARIABLE_TIME)
    x, _, _, _ = stack_inputs(replace(arch, input=spec), seed)
    with torch.no_grad():
        h = x
        for stage in model.stage_list:
            if isinstance(stage, RecurrentBlock) and stage.layers[0] < len(arch.layers):
                (index,) = stage.layers
                output = stage.rnn(h)[0]
                torch.testing.assert_close(layer_steps(model, x, index)["h"], output, rtol=1e-4, atol=1e-5)
            h, _ = stage(h, None)


def test_the_answer_a_sample_should_get_is_said_in_words() -> None:
    total = MAX_STEPS_SHOWN + 20
    window = heatmap_window(torch.zeros(total, 4), first_step=10)
    last = 10 + MAX_STEPS_SHOWN - 1
    assert (window.steps.start, window.steps.stop - 1) == (10, last)
    assert sample_target(torch.tensor(3), True, window) == "Its label: class 3."
    labels = torch.arange(total) % 3
    said = sample_target(labels, True, window)
    assert said.startswith(f"Its labels at steps 10–{last}: 1 2 0 1") and said.endswith(f" {last % 3}.")
    assert sample_target(torch.tensor([0.5, 1.25]), False, window) == "Its targets: 0.500, 1.250."
    assert input_window(torch.arange(total), window) == [[t] for t in range(10, last + 1)]  # token ids: one column
    assert input_window(torch.ones(total, 2), window) == [[1.0, 1.0]] * MAX_STEPS_SHOWN
