"""Every layer kind against real torch: random stacks of all kinds, the file format, and the diagnostics with
their fixes. (Real Keras 3 checks the same stacks in test_keras.py.)"""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.analysis import analyze, apply_fix
from explorer.build import build, copy_weights, count_parameters
from explorer.layers.registry import BY_NAME, CANONICAL, KINDS, canonical_kind
from explorer.spec import Architecture, InputSpec, architecture_from_dict, architecture_to_dict

from helpers import KIND_STRATEGIES, stack_inputs, valid_stacks

torch.set_num_threads(1)


def test_every_registered_kind_has_a_random_strategy_so_it_cannot_go_untested() -> None:
    assert set(KIND_STRATEGIES) == set(KINDS)


def test_keras_and_pytorch_class_names_are_aliases_in_any_letter_case() -> None:
    for alias, canonical in [
        ("SimpleRNN", "RNN"),
        ("Linear", "Dense"),
        ("Conv1d", "Conv1D"),
        ("MaxPooling1D", "MaxPool1D"),
        ("MaxPool1d", "MaxPool1D"),
        ("AveragePooling1D", "AvgPool1D"),
        ("GlobalAveragePooling1D", "GlobalAvgPool1D"),
        ("GlobalMaxPooling1D", "GlobalMaxPool1D"),
        ("BatchNormalization", "BatchNorm"),
        ("BatchNorm1d", "BatchNorm"),
        ("LayerNormalization", "LayerNorm"),
        ("embedding", "Embedding"),
    ]:
        kind, fixed = canonical_kind(alias)
        assert (fixed["type"].value if fixed else kind.KIND) == canonical
    assert set(CANONICAL) <= {name for name in CANONICAL if name.upper() in BY_NAME}


@settings(max_examples=60, deadline=None)
@given(kind=st.sampled_from(list(KINDS)), data=st.data())
def test_every_kind_reads_back_what_it_writes(kind: type, data: st.DataObject) -> None:
    layer = data.draw(KIND_STRATEGIES[kind])
    arch = Architecture(InputSpec(4, 6), (layer,))
    assert architecture_from_dict(architecture_to_dict(arch)) == arch


@settings(max_examples=120, deadline=None)
@given(arch=valid_stacks(), seed=st.integers(0, 2**16))
def test_analysis_matches_the_real_model_for_stacks_of_every_kind(arch: Architecture, seed: int) -> None:
    analysis = analyze(arch)
    x, lengths, batch, time = stack_inputs(arch, seed)
    # The sizes a real batch has: the analysis with this batch's length and size filled in.
    sized = analyze(replace(arch, input=replace(arch.input, seq_len=time, batch=batch)))
    torch.manual_seed(seed)
    fused, unfused = build(arch).eval(), build(arch, fuse=False).eval()
    copy_weights(fused, unfused)
    for model in (fused, unfused):
        output, states = model.run(x, lengths)
        assert tuple(output.shape) == tuple(d.size for d in sized.output_shape)
        assert count_parameters(model) == analysis.total_params_torch
    torch.testing.assert_close(fused(x, lengths), unfused(x, lengths))
    # Unfused, every layer is one stage: its parameters and its h_n are checked one by one.
    assert [count_parameters(stage) for stage in unfused.stage_list] == [info.params_torch for info in analysis.layers]
    for state, info in zip(states, sized.recurrent, strict=True):
        assert info.h_n is not None and tuple(state.shape) == tuple(d.size for d in info.h_n)


def _arch(layers: list[dict], **input_fields: object) -> Architecture:
    spec = {"features": 10, "seq_len": 20, "batch": 4, **input_fields}
    return architecture_from_dict({"input": spec, "layers": layers, "head": None})


LSTM_LAST = {"type": "LSTM", "units": 16}
LSTM_SEQ = {"type": "LSTM", "units": 16, "return_sequences": True}
DIAGNOSED = [
    ("embedding-needs-tokens", [{"type": "Embedding", "vocab": 100, "dim": 8}, LSTM_LAST], {}),
    ("tokens-need-embedding", [LSTM_LAST], {"tokens": True, "features": None}),
    (
        "embedding-not-first",
        [LSTM_SEQ, {"type": "Embedding", "vocab": 100, "dim": 8}],
        {"tokens": True, "features": None},
    ),
    ("window-too-long", [{"type": "Conv1D", "filters": 8, "kernel_size": 30}, LSTM_LAST], {}),
    ("window-too-long", [{"type": "MaxPool1D", "pool_size": 25}, LSTM_LAST], {}),
    ("flatten-variable-length", [LSTM_SEQ, {"type": "Flatten"}, {"type": "Dense", "units": 2}], {"seq_len": None}),
    ("needs-sequence", [LSTM_LAST, LSTM_LAST], {}),
    ("needs-sequence", [LSTM_SEQ, {"type": "GlobalMaxPool1D"}, LSTM_LAST], {}),
    ("needs-sequence", [LSTM_SEQ, {"type": "Flatten"}, {"type": "Conv1D", "filters": 4, "kernel_size": 2}], {}),
    ("needs-sequence", [LSTM_LAST, LSTM_SEQ, {"type": "Dense", "units": 3}], {}),  # an encoder–decoder
    ("needs-vector", [LSTM_SEQ, {"type": "RepeatVector", "n": 5}], {}),
    ("needs-vector", [{"type": "Conv1D", "filters": 4, "kernel_size": 2}, {"type": "RepeatVector", "n": 5}], {}),
    ("softmax-one-unit", [LSTM_LAST, {"type": "Dense", "units": 1, "activation": "softmax"}], {}),
    ("softmax-one-unit", [{"type": "Conv1D", "filters": 1, "kernel_size": 2, "activation": "softmax"}], {}),
    ("last-step-output-differs", [{**LSTM_LAST, "bidirectional": True, "last_step": "output"}], {}),
    ("last-step-output-differs", [{**LSTM_LAST, "last_step": "output"}], {"seq_len": None}),
    ("relu-cell-not-in-torch", [{**LSTM_LAST, "activation": "relu"}], {}),
    ("cell-dropout-not-in-torch", [{**LSTM_LAST, "recurrent_dropout": 0.2}], {}),
]


@pytest.mark.parametrize(("code", "layers", "input_fields"), DIAGNOSED)
def test_each_mistake_is_diagnosed_and_its_fix_removes_it(code: str, layers: list[dict], input_fields: dict) -> None:
    arch = _arch(layers, **input_fields)
    found = [d for d in analyze(arch).diagnostics if d.code == code]
    assert found, [d.code for d in analyze(arch).diagnostics]
    diagnostic = found[0]
    assert diagnostic.fix and diagnostic.action is not None
    fixed = apply_fix(arch, diagnostic.action)
    assert code not in [d.code for d in analyze(fixed).diagnostics if d.layer == diagnostic.layer], diagnostic.fix
    if diagnostic.severity.value == "error" and code != "embedding-not-first":  # one fix, a working stack
        assert analyze(fixed).valid, [d.message for d in analyze(fixed).errors]


def test_an_encoder_read_by_a_decoder_is_fixed_with_a_repeat_vector() -> None:
    arch = _arch([LSTM_LAST, LSTM_SEQ, {"type": "Dense", "units": 3}])
    (error,) = analyze(arch).errors
    assert "RepeatVector(20)" in error.fix
    fixed = apply_fix(arch, error.action)
    assert [layer.kind for layer in fixed.layers] == ["LSTM", "RepeatVector", "LSTM", "Dense"]


def test_a_pooling_that_ended_the_time_axis_moves_after_the_layer_that_needs_it() -> None:
    arch = _arch([LSTM_SEQ, {"type": "GlobalMaxPool1D"}, LSTM_SEQ, {"type": "Dense", "units": 3}])
    (error,) = analyze(arch).errors
    assert "layer 2 (GlobalMaxPool1D) ended the time axis" not in error.message  # it is the layer right before
    assert "Move layer 2 (GlobalMaxPool1D) after layer 3" in error.fix
    assert [layer.kind for layer in apply_fix(arch, error.action).layers] == [
        "LSTM",
        "LSTM",
        "GlobalMaxPool1D",
        "Dense",
    ]


def test_an_invalid_stack_still_analyses_every_layer_it_can() -> None:
    arch = _arch([{"type": "Embedding", "vocab": 100, "dim": 8}, LSTM_LAST, {"type": "Dense", "units": 3}])
    analysis = analyze(arch)
    assert not analysis.valid and len(analysis.layers) == 3
    assert [info.params_torch for info in analysis.layers] == [800, 4 * (16 * 8 + 16 * 16 + 32), 17 * 3]


def test_shapes_have_named_axes_through_a_conv_front_end() -> None:
    arch = _arch([{"type": "Conv1D", "filters": 64, "kernel_size": 5}, {"type": "MaxPool1D", "pool_size": 2}])
    shapes = [info.output_shape for info in analyze(arch).layers]
    assert [tuple(d.label() for d in shape) for shape in shapes] == [
        ("batch=4", "time=16", "features=64"),
        ("batch=4", "time=8", "features=64"),
    ]
    variable = analyze(_arch([{"type": "Conv1D", "filters": 8, "kernel_size": 5}], seq_len=None))
    assert variable.layers[0].output_shape[1].label() == "time"  # stays symbolic


@pytest.mark.parametrize("maximum", [False, True])
def test_global_pooling_of_a_padded_batch_reads_the_valid_steps_only(maximum: bool) -> None:
    pool = {"type": "GlobalMaxPool1D" if maximum else "GlobalAvgPool1D"}
    arch = _arch([{"type": "Dense", "units": 3}, pool], seq_len=None, batch=None)
    torch.manual_seed(0)
    model = build(arch).eval()
    short = torch.randn(1, 4, 10)
    batch = torch.cat([torch.cat([short, torch.zeros(1, 3, 10)], dim=1), torch.randn(1, 7, 10)])
    torch.testing.assert_close(model(batch, torch.tensor([4, 7]))[:1], model(short))


def test_conv_and_pooling_lose_the_lengths_and_the_analysis_says_so() -> None:
    arch = _arch([{"type": "Conv1D", "filters": 4, "kernel_size": 3}, LSTM_LAST], seq_len=None)
    conv = analyze(arch).layers[0]
    assert not conv.lengths and any("padding included" in note for note in conv.notes)
