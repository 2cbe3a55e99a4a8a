"""The built torch model against the analysis: shapes, final states and parameter counts must match exactly."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from explorer.analysis import ArchitectureInvalid, analyze
from explorer.build import build, copy_weights, count_parameters
from explorer.spec import Architecture, CellType, InputSpec, RecurrentLayer

from helpers import concrete, valid_architectures

torch.set_num_threads(1)


def _inputs(arch: Architecture, seed: int) -> tuple[torch.Tensor, torch.Tensor | None, int, int]:
    generator = torch.Generator().manual_seed(seed)
    batch = arch.input.batch or 3
    time = arch.input.seq_len or 6
    x = torch.randn(batch, time, arch.input.features, generator=generator)
    lengths = None
    if arch.input.seq_len is None:  # variable length: a padded batch whose longest sequence fills it
        lengths = torch.randint(1, time + 1, (batch,), generator=generator)
        lengths[0] = time
    return x, lengths, batch, time


@settings(max_examples=60, deadline=None)
@given(arch=valid_architectures(), seed=st.integers(0, 2**16))
def test_analysis_matches_the_real_model(arch: Architecture, seed: int) -> None:
    analysis = analyze(arch)
    assert analysis.valid
    x, lengths, batch, time = _inputs(arch, seed)
    for fuse in (True, False):
        model = build(arch, fuse=fuse).eval()
        output, states = model.run(x, lengths)
        assert tuple(output.shape) == concrete(analysis.output_shape, batch, time)
        assert count_parameters(model) == analysis.total_params_torch
    # Unfused, every layer of the architecture is one block, so its h_n can be checked one by one.
    for state, info in zip(states, analysis.recurrent, strict=True):
        assert tuple(state.shape) == concrete(info.h_n, batch, time)
    per_layer = [count_parameters(stage) for stage in model.stage_list]
    assert per_layer == [info.params_torch for info in analysis.layers]


@settings(max_examples=25, deadline=None)
@given(arch=valid_architectures(), seed=st.integers(0, 2**16))
def test_fused_and_unfused_compute_the_same_function(arch: Architecture, seed: int) -> None:
    torch.manual_seed(seed)
    unfused, fused = build(arch, fuse=False).eval(), build(arch, fuse=True).eval()
    copy_weights(unfused, fused)
    x, lengths, _, _ = _inputs(arch, seed)
    torch.testing.assert_close(fused(x, lengths), unfused(x, lengths))


def test_a_fused_run_of_more_than_ten_internal_layers_keeps_each_layers_weights() -> None:
    """Internal layer 1's names are a prefix of layer 10's (weight_ih_l1, weight_ih_l10): they must not mix."""
    deep = RecurrentLayer(CellType.LSTM, 6, return_sequences=True, bidirectional=True, num_layers=6)
    arch = Architecture(InputSpec(3, 5), (deep, deep))
    torch.manual_seed(0)
    fused, unfused = build(arch).eval(), build(arch, fuse=False).eval()
    assert [block.rnn.num_layers for block in fused.recurrent_blocks] == [12]
    copy_weights(fused, unfused)
    torch.testing.assert_close(
        unfused.recurrent_blocks[1].rnn.weight_hh_l5_reverse, fused.recurrent_blocks[0].rnn.weight_hh_l11_reverse
    )
    torch.testing.assert_close(unfused.recurrent_blocks[0].rnn.weight_ih_l1, fused.recurrent_blocks[0].rnn.weight_ih_l1)
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(fused(x), unfused(x))


def test_identical_layers_handing_on_sequences_fuse_into_one_module() -> None:
    lstm = RecurrentLayer(CellType.LSTM, 16, return_sequences=True)
    arch = Architecture(InputSpec(5, 10), (lstm, lstm, lstm, RecurrentLayer(CellType.GRU, 8)))
    model = build(arch)
    assert [block.rnn.num_layers for block in model.recurrent_blocks] == [3, 1]
    assert [block.layers for block in model.recurrent_blocks] == [(0, 1, 2), (3,)]
    assert analyze(arch).recurrent[0].fused_run == (1, 2, 3)
    assert len(build(arch, fuse=False).recurrent_blocks) == 4


def test_dropout_blocks_fusion_because_the_seam_would_gain_a_dropout() -> None:
    lstm = RecurrentLayer(CellType.LSTM, 16, return_sequences=True, num_layers=2, dropout=0.3)
    arch = Architecture(InputSpec(5, 10), (lstm, lstm))
    assert len(build(arch).recurrent_blocks) == 2


def test_bidirectional_last_step_joins_forward_end_and_backward_start() -> None:
    """The classic mistake: output[:, -1] holds the backward direction after one step only."""
    torch.manual_seed(0)
    arch = Architecture(InputSpec(3, 9), (RecurrentLayer(CellType.GRU, 4, bidirectional=True),))
    model = build(arch).eval()
    x = torch.randn(2, 9, 3)
    sequence, _ = model.recurrent_blocks[0].rnn(x)
    expected = torch.cat([sequence[:, -1, :4], sequence[:, 0, 4:]], dim=-1)
    torch.testing.assert_close(model(x), expected)
    assert not torch.allclose(model(x), sequence[:, -1])


@pytest.mark.parametrize("cell", list(CellType))
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_sequence_gives_the_same_result_as_the_sequence_alone(cell: CellType, bidirectional: bool) -> None:
    torch.manual_seed(1)
    layers = (
        RecurrentLayer(cell, 6, return_sequences=True, bidirectional=bidirectional),
        RecurrentLayer(cell, 5, bidirectional=bidirectional),
    )
    model = build(Architecture(InputSpec(3, None), layers)).eval()
    short = torch.randn(1, 4, 3)
    padded = torch.cat([short, torch.zeros(1, 3, 3)], dim=1)
    batch = torch.cat([padded, torch.randn(1, 7, 3)])
    lengths = torch.tensor([4, 7])
    torch.testing.assert_close(model(batch, lengths)[:1], model(short))
    # Without lengths the padding is read as data and the answer changes.
    assert not torch.allclose(model(batch)[:1], model(short))


def test_lengths_are_checked() -> None:
    model = build(Architecture(InputSpec(3, None), (RecurrentLayer(CellType.RNN, 4),)))
    with pytest.raises(ValueError, match="from 1 to 5"):
        model(torch.randn(2, 5, 3), torch.tensor([0, 5]))
    with pytest.raises(ValueError, match=r"shape \(batch,\)"):
        model(torch.randn(2, 5, 3), torch.tensor([5]))


def test_an_invalid_architecture_is_refused_with_its_fix() -> None:
    arch = Architecture(InputSpec(10, 20), (RecurrentLayer(CellType.LSTM, 64), RecurrentLayer(CellType.GRU, 32)))
    with pytest.raises(ArchitectureInvalid, match="Set return_sequences=True on layer 1"):
        build(arch)


def test_dropout_with_one_internal_layer_builds_without_torch_warning(recwarn: pytest.WarningsRecorder) -> None:
    build(Architecture(InputSpec(3, 5), (RecurrentLayer(CellType.LSTM, 4, dropout=0.5),)))
    assert not [w for w in recwarn if "dropout" in str(w.message)]
