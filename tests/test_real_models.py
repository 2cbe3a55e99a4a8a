"""Real models from public repositories (README, "Real models"), each written as an architecture file in
assets/real_models/ and held to the original: the layers as its source builds them, in real Keras 3 or real
torch, must have the parameter count and output shape the analysis gives. Sizes the source leaves to its caller
are the ones named in the README's list."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow needed

from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
import torch
from keras import layers
from torch import nn

from explorer.analysis import analyze
from explorer.build import build, count_parameters
from explorer.spec import parse_architecture

from helpers import ASSETS

REAL = ASSETS / "real_models"
BATCH = 2


def _keras(model: keras.Model, x: np.ndarray) -> tuple[int, tuple[int, ...]]:
    shape = tuple(model(x).shape)  # a model without an Input is built by its first call
    return model.count_params(), shape


def _torch(model: nn.Module, forward: Callable[[nn.Module], torch.Tensor]) -> tuple[int, tuple[int, ...]]:
    model.eval()
    with torch.no_grad():
        return count_parameters(model), tuple(forward(model).shape)


def _tokens(vocab: int, time: int) -> np.ndarray:
    return np.random.default_rng(0).integers(1, vocab, size=(BATCH, time)).astype("int32")


def _series(time: int, features: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(BATCH, time, features)).astype("float32")


# --- the originals, as their sources build them -------------------------------------------------


def k1() -> tuple[int, tuple[int, ...]]:  # LUIGUI55/commitss python/tensorflow/lstm.py
    model = keras.Sequential(
        [
            layers.Embedding(input_dim=10000, output_dim=128),
            layers.LSTM(128, dropout=0.2, recurrent_dropout=0.2),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    return _keras(model, _tokens(10000, 12))


def k2() -> tuple[int, tuple[int, ...]]:  # mdanie2/221Project othlstm.py (input_length=200 is Keras 2's)
    model = keras.Sequential(
        [
            keras.Input((200,), dtype="int32"),
            layers.Embedding(1000, 50),
            layers.Dropout(0.2),
            layers.LSTM(100, dropout=0.2, recurrent_dropout=0.2),
            layers.Dense(250, activation="relu"),
            layers.Dropout(0.2),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    return _keras(model, _tokens(1000, 200))


def k3() -> tuple[int, tuple[int, ...]]:  # bklybor/Assignment4 assign4_LSTM.py
    model = keras.Sequential(
        [layers.Embedding(500, 128), layers.LSTM(128, dropout=0.2), layers.Dense(1, activation="sigmoid")]
    )
    return _keras(model, _tokens(500, 50))


def k7() -> tuple[int, tuple[int, ...]]:  # thomashuan88/python_ml time_series_univariate.py
    model = keras.Sequential(
        [
            keras.Input((3, 1)),
            layers.Conv1D(filters=64, kernel_size=2, activation="relu"),
            layers.MaxPooling1D(pool_size=2),
            layers.Flatten(),
            layers.Dense(50, activation="relu"),
            layers.Dense(1),
        ]
    )
    return _keras(model, _series(3, 1))


def k8() -> tuple[int, tuple[int, ...]]:  # kaliaanup/DeepLearning sequence_to_sequence_autoencoder.py
    timesteps, input_dim, latent_dim = 10, 3, 16
    inputs = keras.Input(shape=(timesteps, input_dim))
    encoded = layers.LSTM(latent_dim)(inputs)
    decoded = layers.RepeatVector(timesteps)(encoded)
    decoded = layers.LSTM(input_dim, return_sequences=True)(decoded)
    return _keras(keras.Model(inputs, decoded), _series(timesteps, input_dim))


def k9() -> tuple[int, tuple[int, ...]]:  # tusonggao/keras_learning keras_autoencoder.py
    n_in = 9
    model = keras.Sequential(
        [
            keras.Input((n_in, 1)),
            layers.LSTM(100, activation="relu"),
            layers.RepeatVector(n_in),
            layers.LSTM(100, activation="relu", return_sequences=True),
            layers.TimeDistributed(layers.Dense(1)),
        ]
    )
    return _keras(model, _series(n_in, 1))


class P1(nn.Module):  # Mianjaa/P1_text-classification P1_text_classification/model/LSTMmodel.py
    def __init__(self, vocab_size=20000, embedding_dim=100, hidden_dim=256, output_dim=2, n_layers=2, dropout=0.5):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim, num_layers=n_layers, dropout=dropout, batch_first=True)
        self.fc = nn.Linear(hidden_dim, output_dim)

    def forward(self, x):
        output, _ = self.lstm(self.embedding(x))
        return self.fc(output[:, -1, :])


class P2(nn.Module):  # alduin0/deep-security src/class_model_lstm.py
    def __init__(self, input_size=8, hidden_size=64, num_layers=2, output_size=1, dropout=0.2):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        out, _ = self.lstm(x)
        return self.linear(out[:, -1, :])


class P3(nn.Module):  # PiotrowskiJakub/master-thesis model.py: time-major (batch_first=False)
    def __init__(self, input_size=4, hidden_size=32, output_size=3):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, 2)
        self.linear = nn.Linear(hidden_size, output_size)

    def forward(self, input_seq):
        output_seq, _ = self.lstm(input_seq)
        return self.linear(output_seq[-1])


class P4(nn.Module):  # ryanklewis/Money_Printers models/lstm.py
    def __init__(self, input_size=5, hidden_size=128, num_layers=2, output_size=1, dropout_rate=0.2):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, num_layers, batch_first=True, dropout=dropout_rate)
        self.dropout = nn.Dropout(dropout_rate)
        self.fc = nn.Linear(hidden_size, output_size)

    def forward(self, x):
        lstm_out, _ = self.lstm(x)
        return self.fc(self.dropout(lstm_out[:, -1, :]))


class P5(nn.Module):  # AaahWendy/GRU-LSTM-ON-IMDB GRUmodel.py
    def __init__(
        self, vocab_size=25002, embedding_dim=100, hidden_dim=256, output_dim=1, n_layers=2, bidirectional=True,
        dropout=0.5, pad_idx=1,
    ):  # fmt: skip
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=pad_idx)
        self.rnn = nn.GRU(
            embedding_dim, hidden_dim, num_layers=n_layers, bidirectional=bidirectional, batch_first=True,
            dropout=0 if n_layers < 2 else dropout,
        )  # fmt: skip
        self.fc = nn.Linear(hidden_dim * 2, output_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, text, text_lengths):
        embedded = self.dropout(self.embedding(text))
        # The source packs without batch_first=True, reading its batch-first tensor as time-major: the file here
        # describes the model it means, packed batch-first.
        packed = nn.utils.rnn.pack_padded_sequence(embedded, text_lengths, batch_first=True, enforce_sorted=False)
        _, hidden = self.rnn(packed)
        return self.fc(self.dropout(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1)))


class P6(nn.Module):  # wudangqibujie/jay_template module/bi_lstm.py: time-major, a Linear at every step
    def __init__(self, nIn=512, nHidden=256, nOut=37):
        super().__init__()
        self.rnn = nn.LSTM(nIn, nHidden, bidirectional=True)
        self.embedding = nn.Linear(nHidden * 2, nOut)

    def forward(self, x):
        recurrent, _ = self.rnn(x)
        return self.embedding(recurrent)


def _time_major(x: torch.Tensor) -> torch.Tensor:
    return x.transpose(0, 1)


ORIGINALS: dict[str, Callable[[], tuple[int, tuple[int, ...]]]] = {
    "k1_imdb_lstm_in_cell_dropout": k1,
    "k2_imdb_lstm_dense_stack": k2,
    "k3_imdb_lstm": k3,
    "k7_conv_forecaster": k7,
    "k8_seq2seq_autoencoder": k8,
    "k9_relu_lstm_autoencoder": k9,
    "p1_text_classifier_output_last": lambda: _torch(P1(), lambda m: m(torch.randint(0, 20000, (BATCH, 100)))),
    "p2_lstm_num_layers_output_last": lambda: _torch(P2(), lambda m: m(torch.randn(BATCH, 30, 8))),
    "p3_time_major_two_layer_lstm": lambda: _torch(P3(), lambda m: m(_time_major(torch.randn(BATCH, 50, 4)))),
    "p4_lstm_dropout_linear": lambda: _torch(P4(), lambda m: m(torch.randn(BATCH, 60, 5))),
    "p5_bigru_packed_imdb": lambda: _torch(
        P5(), lambda m: m(torch.randint(2, 25002, (BATCH, 12)), torch.tensor([12, 7]))
    ),
    "p6_crnn_bilstm_per_step": lambda: _torch(P6(), lambda m: _time_major(m(_time_major(torch.randn(BATCH, 26, 512))))),
}


def test_every_real_model_file_has_its_original() -> None:
    assert sorted(ORIGINALS) == sorted(p.stem for p in REAL.glob("*.json"))


@pytest.mark.filterwarnings("ignore:.*does not support masking:UserWarning")
@pytest.mark.parametrize("name", sorted(ORIGINALS))
def test_the_tool_gives_the_originals_count_and_output_shape(name: str) -> None:
    arch = parse_architecture((REAL / f"{name}.json").read_bytes())
    analysis = analyze(arch)
    assert analysis.valid
    count, shape = ORIGINALS[name]()
    framework_count = analysis.total_params_keras if name.startswith("k") else analysis.total_params_torch
    assert count == framework_count
    time = arch.input.seq_len or 12
    sizes = {"batch": BATCH, "time": time}
    assert shape == tuple(d.size if d.size is not None else sizes[d.name] for d in analysis.output_shape)
    assert count_parameters(build(arch)) == analysis.total_params_torch  # and the tool's own torch model


def test_the_list_in_the_readme_names_every_model() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for name in ORIGINALS:
        assert f"`{name}`" in readme
