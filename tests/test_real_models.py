"""Real models from public repositories (README, "Real models"), each written as an architecture file in
assets/real_models/ and held to the original: the model as its source builds it (rewritten in
tests/import_corpus/), run by real Keras 3 or torch, must have the parameter count and output shape the analysis
of the file gives. Sizes the source leaves to its caller are the ones named in the README's list."""

from __future__ import annotations

from pathlib import Path

import pytest

from explorer.analysis import analyze
from explorer.build import build, count_parameters
from explorer.spec import parse_architecture

from corpus import BATCH, CORPUS, real
from helpers import ASSETS

REAL = ASSETS / "real_models"
# Each architecture file and the corpus file that builds its original.
ORIGINALS = {
    "k1_imdb_lstm_in_cell_dropout": "k01_imdb_lstm",
    "k2_imdb_lstm_dense_stack": "k02_imdb_dense_stack",
    "k3_imdb_lstm": "k03_imdb_lstm_dropout",
    "k7_conv_forecaster": "k07_conv_forecaster",
    "k8_seq2seq_autoencoder": "k08_seq2seq_autoencoder",
    "k9_relu_lstm_autoencoder": "k09_relu_autoencoder",
    "p1_text_classifier_output_last": "p01_text_classifier",
    "p2_lstm_num_layers_output_last": "p02_lstm_regressor",
    "p3_time_major_two_layer_lstm": "p03_time_major",
    "p4_lstm_dropout_linear": "p04_lstm_dropout_head",
    "p5_bigru_packed_imdb": "p05_bigru_packed",
    "p6_crnn_bilstm_per_step": "p06_crnn_head",
}


def test_every_real_model_file_has_its_original() -> None:
    assert sorted(ORIGINALS) == sorted(p.stem for p in REAL.glob("*.json"))


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("name", sorted(ORIGINALS))
def test_the_tool_gives_the_originals_count_and_output_shape(name: str) -> None:
    arch = parse_architecture((REAL / f"{name}.json").read_bytes())
    analysis = analyze(arch)
    assert analysis.valid
    count, shape = real(CORPUS / f"{ORIGINALS[name]}.py", arch)
    assert count == (analysis.total_params_keras if name.startswith("k") else analysis.total_params_torch)
    sizes = {"batch": BATCH, "time": arch.input.seq_len or 12}
    assert shape == tuple(d.size if d.size is not None else sizes[d.name] for d in analysis.output_shape)
    assert count_parameters(build(arch)) == analysis.total_params_torch  # and the tool's own torch model


def test_the_list_in_the_readme_names_every_model() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in ORIGINALS:
        assert f"`{name}`" in readme
