"""Keras source read with `ast`, never run: the imported architecture against the same source built by real
Keras 3; what cannot be imported, by line; names the source leaves open; hostile input; the CLI's contract."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow needed

import json
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import keras
import pytest

from explorer.analysis import analyze
from explorer.importer import InputOverrides, SourceError, import_source, parse_settings
from explorer.limits import Limits

from corpus import CORPUS, imported
from helpers import ROOT

SEQUENTIAL_ADD = (CORPUS / "k02_imdb_dense_stack.py").read_text()  # model.add, as public IMDB examples do
SEQUENTIAL_LIST = """
import keras
from keras import layers
HIDDEN = 32
model = keras.Sequential([
    keras.Input(shape=(None, 10)),
    layers.Masking(mask_value=0.0),
    layers.Bidirectional(layers.LSTM(HIDDEN * 2, return_sequences=True)),
    layers.Conv1D(16, 3, padding="same", activation="relu"),
    layers.MaxPooling1D(2),
    layers.GRU(HIDDEN),
    layers.Dense(5, activation="softmax"),
])
"""
FUNCTIONAL = """
from keras.layers import Input, Embedding, Bidirectional, LSTM, GlobalMaxPooling1D, Dense, Dropout
from keras.models import Model

maxlen, max_features, embed_size = 100, 20000, 128

def BidLstm(maxlen=maxlen, units=64):
    inp = Input(shape=(maxlen,))
    x = Embedding(max_features, embed_size)(inp)
    x = Bidirectional(LSTM(units, return_sequences=True, dropout=0.1, recurrent_dropout=0.1))(x)
    x = GlobalMaxPooling1D()(x)
    x = Dense(50, activation="relu")(x)
    x = Dropout(0.1)(x)
    x = Dense(6, activation="sigmoid")(x)
    model = Model(inputs=inp, outputs=x)
    return model
"""
AUTOENCODER = (CORPUS / "k09_relu_autoencoder.py").read_text()  # relu LSTMs, RepeatVector, TimeDistributed


def _built_by_keras(source: str, name: str) -> keras.Model:
    """The test's own source, run by real Keras 3 (warnings for Keras 2 arguments such as input_length aside)."""
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        exec(compile(source, "<test source>", "exec"), namespace)  # the test's own code, never user input
        found = namespace[name]
        return found() if callable(found) and not isinstance(found, keras.Model) else found


def _built(model: keras.Model, analysis) -> keras.Model:
    if not model.built:  # a Sequential without an Input: Keras 3 ignores Keras 2's input_length
        model.build((None, *(d.size for d in analysis.input_shape[1:])))
    return model


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize(
    ("source", "name", "skipped"),
    [
        (SEQUENTIAL_ADD, "model", 0),
        (SEQUENTIAL_LIST, "model", 0),
        (FUNCTIONAL, "BidLstm", 0),
        (AUTOENCODER, "model", 0),
    ],
    ids=["model.add", "Sequential list", "functional in a function", "autoencoder"],
)
def test_imported_models_count_and_shape_as_real_keras_builds_them(source: str, name: str, skipped: int) -> None:
    result = import_source(source)
    assert result.model == name and result.framework == "keras" and not result.unresolved
    assert len(result.skipped) == skipped
    analysis = analyze(result.architecture)
    assert analysis.valid
    model = _built(_built_by_keras(source, name), analysis)
    assert model.count_params() == analysis.total_params_keras
    assert tuple(model.output_shape) == tuple(d.size for d in analysis.output_shape)


def test_what_the_source_says_becomes_the_file_format() -> None:
    arch = import_source(SEQUENTIAL_LIST).architecture
    assert arch.input.features == 10 and arch.input.seq_len is None  # Masking: a variable-length input
    assert [layer.kind for layer in arch.layers] == ["LSTM", "Conv1D", "MaxPool1D", "GRU", "Dense"]
    assert arch.layers[0].units == 64 and arch.layers[0].bidirectional  # HIDDEN * 2
    lstm = import_source(FUNCTIONAL).architecture.layers[1]
    assert (lstm.input_dropout, lstm.recurrent_dropout, lstm.dropout) == (0.1, 0.1, 0.0)  # Keras' dropout= is in-cell


def test_several_models_are_picked_by_name_and_the_last_one_by_default() -> None:
    source = SEQUENTIAL_ADD + textwrap.dedent(FUNCTIONAL)
    assert import_source(source).model == "BidLstm"
    assert import_source(source, model="model").architecture.layers[0].vocab == 1000
    with pytest.raises(SourceError, match="no model named 'other'; the source defines model, BidLstm"):
        import_source(source, model="other")


def test_names_the_source_leaves_open_are_asked_for_and_then_used() -> None:
    source = """
import keras
from keras import layers
def build(config, n_features):
    model = keras.Sequential()
    model.add(layers.LSTM(config['units'], input_shape=(x_train.shape[1], n_features), return_sequences=True))
    model.add(layers.LSTM(config['units'] // 2))
    model.add(layers.Dense(n_classes))
    return model
"""
    result = import_source(source)
    assert result.architecture is None
    assert result.unresolved == ("x_train.shape[1]", "n_features", "config['units']", "n_classes")
    settings = parse_settings(['config["units"]=64', "x_train.shape[1]=20", "n_features=3", "n_classes=4"])
    arch = import_source(source, settings=settings).architecture
    assert (arch.input.seq_len, arch.input.features) == (20, 3)
    assert [layer.units for layer in arch.layers] == [64, 32, 4]
    by_plain_name = import_source(source, settings=parse_settings(["units=8", "x_train.shape[1]=5", "n_features=2",
                                                                   "n_classes=2"]))  # fmt: skip
    assert by_plain_name.architecture.layers[0].units == 8


def test_a_setting_decides_which_layers_there_are() -> None:
    source = """
from keras.models import Sequential
from keras.layers import LSTM, Dense, Dropout
def make(use_dropout):
    model = Sequential()
    model.add(LSTM(32, input_shape=(20, 10)))
    if use_dropout:
        model.add(Dropout(0.2))
    model.add(Dense(11, activation='softmax'))
    return model
"""
    assert import_source(source).unresolved == ("use_dropout",)
    with_dropout = import_source(source, settings={"use_dropout": True}).architecture
    assert [layer.kind for layer in with_dropout.layers] == ["LSTM", "Dropout", "Dense"]
    assert len(import_source(source, settings={"use_dropout": False}).architecture.layers) == 2


def test_what_cannot_be_imported_is_listed_by_line_and_the_rest_imported() -> None:
    source = """
from keras import layers, Sequential
model = Sequential()
model.add(layers.LSTM(32, input_shape=(20, 10), return_sequences=True))
model.add(layers.SpatialDropout1D(0.2))
model.add(layers.GRU(16, return_sequences=True, reset_after=False))
model.add(layers.Conv1D(8, 3, padding="causal"))
model.add(layers.TimeDistributed(layers.Conv1D(4, 2)))
model.add(layers.Bidirectional(layers.LSTM(8, return_sequences=True), merge_mode="sum"))
model.add(MyAttention(32))
for units in (16, 8):
    model.add(layers.LSTM(units, return_sequences=True))
model.add(layers.LSTM(8))
model.add(layers.Dense(1))
"""
    result = import_source(source)
    assert [(s.line, s.code) for s in result.skipped] == [
        (5, "unsupported-layer"),
        (6, "unsupported-option"),
        (7, "unsupported-option"),
        (8, "unsupported-layer"),
        (9, "unsupported-option"),
        (10, "unsupported-layer"),
        (11, "loop"),
    ]
    reasons = " | ".join(s.reason for s in result.skipped)
    assert "SpatialDropout1D is not in the layer catalogue" in reasons and "MyAttention" in reasons
    assert "reset_after=False" in reasons and "causal" in reasons and "merge_mode" in reasons
    assert [layer.kind for layer in result.architecture.layers] == ["LSTM", "LSTM", "Dense"]


def test_branches_are_reported_and_the_main_chain_imported() -> None:
    source = """
from keras.layers import Input, LSTM, Dense, Concatenate
from keras.models import Model
inp = Input(shape=(20, 10))
a = LSTM(16)(inp)
b = LSTM(8)(inp)
x = Concatenate()([a, b])
x = Dense(1)(x)
model = Model(inp, x)
"""
    result = import_source(source)
    assert [(s.line, s.code) for s in result.skipped] == [(7, "branch")]
    assert [layer.kind for layer in result.architecture.layers] == ["LSTM", "Dense"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"x = 1\n", "no model found"),
        (b"model = Sequential([LSTM(4)\n", "line 1"),
        (b"\xff\xfe model", "not UTF-8"),
        ("x = " + "-" * 200_000 + "1\n", "cannot be read"),
        ("x = (" * 300 + "1" + ")" * 300, "not valid Python"),
        (b"x = 1\x00\n", "cannot be read"),
    ],
    ids=["no model", "syntax error", "not UTF-8", "deep unary", "deep parentheses", "null byte"],
)
def test_hostile_sources_get_a_message_and_nothing_runs(raw: bytes | str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        import_source(raw)


def test_a_source_over_the_size_cap_is_refused_before_parsing() -> None:
    with pytest.raises(SourceError, match="more than the limit of 1,000"):
        import_source("x = 1\n" * 500, limits=Limits(max_source_bytes=1000))


def test_nothing_in_the_source_is_executed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\n" + SEQUENTIAL_ADD + f"__import__('os').remove({str(ROOT)!r})\n"
    assert import_source(source).architecture is not None
    assert not marker.exists()


def test_the_input_the_code_does_not_state_comes_from_the_options() -> None:
    source = "from keras import layers, Sequential\nmodel = Sequential([layers.GRU(8), layers.Dense(2)])\n"
    assert import_source(source).unresolved == ("features",)
    arch = import_source(source, inputs=InputOverrides(features=6, seq_len=30, batch=4)).architecture
    assert (arch.input.features, arch.input.seq_len, arch.input.batch) == (6, 30, 4)


def _cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "explorer", "import", *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT, input=stdin)


def test_the_cli_prints_the_documented_object_and_exit_codes(tmp_path: Path) -> None:
    path = tmp_path / "model.py"
    path.write_text(SEQUENTIAL_ADD)
    result = _cli(str(path), "--json")
    assert result.returncode == 0
    data = json.loads(result.stdout)
    assert list(data) == ["model", "framework", "architecture", "unresolved", "skipped"]
    assert data["model"] == "model" and data["framework"] == "keras" and data["unresolved"] == []
    assert [layer["type"] for layer in data["architecture"]["layers"]][:3] == ["Embedding", "Dropout", "LSTM"]
    table = _cli(str(path))
    assert table.returncode == 0 and "136,301" in table.stdout and "valid" in table.stdout

    open_names = "from keras import layers, Sequential\nmodel = Sequential([layers.LSTM(units, input_shape=(20, 3))])\n"
    unresolved = _cli("-", "--json", stdin=open_names)
    assert unresolved.returncode == 2 and json.loads(unresolved.stdout)["unresolved"] == ["units"]
    assert "--set NAME=VALUE: units" in unresolved.stderr
    assert _cli("-", "--set", "units=12", stdin=open_names).returncode == 0
    missing = _cli(str(tmp_path / "absent.py"))
    assert missing.returncode == 2 and missing.stderr.startswith("error:") and len(missing.stderr.splitlines()) == 1
    nothing = _cli("-", stdin="print('hello')\n")
    assert nothing.returncode == 2 and "no model found" in nothing.stderr
    assert _cli("-", "--set", "novalue", stdin=open_names).returncode == 2


# A conv front end in PyTorch: permutes around Conv1d, F.relu, an nn.Sequential head. (The public models rewritten
# in tests/import_corpus/ are imported and built in test_import_corpus.py.)
TORCH_SOURCES = {
    "ConvLSTM": """
import torch
import torch.nn as nn
import torch.nn.functional as F
class ConvLSTM(nn.Module):
    def __init__(self, n_features=9, n_classes=6):
        super().__init__()
        self.conv = nn.Conv1d(n_features, 32, kernel_size=5, padding=2)
        self.pool = nn.MaxPool1d(2)
        self.lstm = nn.LSTM(32, 64, batch_first=True)
        self.head = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, n_classes))

    def forward(self, x):
        x = x.permute(0, 2, 1)
        x = F.relu(self.conv(x))
        x = self.pool(x)
        x = x.permute(0, 2, 1)
        out, (h_n, c_n) = self.lstm(x)
        return self.head(h_n[-1])
""",
}


def _torch_reference(source: str, name: str):
    """The class the test's own source defines, built and run by real torch: its parameters and output shape."""
    import torch

    namespace: dict = {}
    exec(compile(source, "<test source>", "exec"), namespace)  # the test's own code, never user input
    model = namespace[name]().eval()
    with torch.no_grad():
        out = model(torch.randn(2, 12, 9))
    return sum(p.numel() for p in model.parameters()), tuple(out.shape)


@pytest.mark.parametrize("name", list(TORCH_SOURCES))
def test_imported_torch_modules_count_and_shape_as_real_torch_builds_them(name: str) -> None:
    source = TORCH_SOURCES[name]
    result = import_source(source, inputs=InputOverrides(seq_len=12))
    assert result.model == name and result.framework == "pytorch" and not result.unresolved, result
    assert not result.skipped, result.skipped
    analysis = analyze(result.architecture)
    assert analysis.valid, [d.message for d in analysis.errors]
    count, shape = _torch_reference(source, name)
    assert count == analysis.total_params_torch
    assert shape == tuple(d.size if d.size is not None else 2 for d in analysis.output_shape)


def test_the_torch_idioms_become_the_last_step_they_mean() -> None:
    lstm = imported(CORPUS / "p01_text_classifier.py").architecture.layers[1]
    assert (lstm.return_sequences, lstm.last_step.value, lstm.num_layers, lstm.dropout) == (False, "output", 2, 0.5)
    time_major = imported(CORPUS / "p03_time_major.py").architecture.layers[0]
    assert time_major.last_step.value == "output"  # output_seq[-1] of a time-major module
    gru_net = imported(CORPUS / "p05_bigru_packed.py").architecture
    assert gru_net.input.seq_len is None and gru_net.layers[0].padding_idx == 1  # packed: variable length
    assert gru_net.layers[2].bidirectional and gru_net.layers[2].last_step.value == "state"  # cat(h[-2], h[-1])
    conv = import_source(TORCH_SOURCES["ConvLSTM"]).architecture
    kinds = [layer.kind for layer in conv.layers]
    assert kinds == ["Conv1D", "MaxPool1D", "LSTM", "Dense", "Activation", "Dropout", "Dense"]  # nn.ReLU: a layer
    assert conv.layers[0].activation.value == "relu"  # F.relu(self.conv(x)): the Conv1D's own activation
    assert conv.layers[0].padding.value == "same" and conv.input.features == 9


def test_a_declared_size_that_does_not_fit_is_the_users_mistake_found_by_reading() -> None:
    source = """
import torch.nn as nn
class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(10, 64, batch_first=True)
        self.gru = nn.GRU(32, 16, batch_first=True)
        self.fc = nn.Linear(640, 5)

    def forward(self, x):
        out, _ = self.lstm(x)
        out, _ = self.gru(out)
        return self.fc(out[:, -1, :])
"""
    result = import_source(source)
    assert [(s.line, s.code) for s in result.skipped] == [(7, "declared-size"), (8, "declared-size")]
    assert "self.gru is declared for 32 input features but receives 64 here" in result.skipped[0].reason
    assert "self.fc is declared for 640 input features but receives 16" in result.skipped[1].reason
    assert result.architecture.input.features == 10


def test_torch_constructs_outside_the_catalogue_are_listed_by_line() -> None:
    source = """
import torch.nn as nn
class Attention(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.lstm = nn.LSTM(8, hidden, batch_first=True)
        self.attention = MultiHeadAttention(hidden)
        self.fc = nn.Linear(hidden, 2)

    def forward(self, x):
        out, _ = self.lstm(x)
        for _ in range(2):
            out = self.attention(out)
        out = out.mean(dim=1)
        return self.fc(out)
"""
    result = import_source(source)
    codes = [(s.line, s.code) for s in result.skipped]
    assert (7, "unsupported-layer") in codes and (12, "control-flow") in codes and (14, "unsupported-op") in codes


def test_sources_at_the_size_cap_are_refused_by_the_limits_not_by_time_or_a_crash() -> None:
    with pytest.raises(SourceError, match="nests too deeply"):
        import_source("x = " + "+".join(["1"] * 60_000) + "\n")
    many = "from keras import layers, Sequential\nmodel = Sequential()\n" + "model.add(layers.Dense(4))\n" * 9000
    with pytest.raises(SourceError, match="layers has 9000 entries, more than the limit of 64"):
        import_source(many, inputs=InputOverrides(features=3))


def test_a_setting_that_picks_the_cell_or_the_direction_is_asked_for() -> None:
    source = """
import torch.nn as nn
class Net(nn.Module):
    def __init__(self, rnn_type, bidirectional, hidden=32):
        super().__init__()
        if rnn_type == "LSTM":
            self.rnn = nn.LSTM(10, hidden, batch_first=True, bidirectional=bidirectional)
        else:
            self.rnn = nn.GRU(10, hidden, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(hidden * (2 if bidirectional else 1), 3)

    def forward(self, x):
        out, _ = self.rnn(x)
        return self.fc(out[:, -1, :])
"""
    assert import_source(source).unresolved == ("rnn_type", "bidirectional")
    gru = import_source(source, settings={"rnn_type": "GRU", "bidirectional": False}).architecture
    assert [layer.kind for layer in gru.layers] == ["GRU", "Dense"] and not gru.layers[0].bidirectional
    lstm = import_source(source, settings=parse_settings(["rnn_type=LSTM", "bidirectional=true"])).architecture
    assert lstm.layers[0].kind == "LSTM" and lstm.layers[0].bidirectional


def test_an_item_of_a_sequential_that_is_not_a_layer_call_is_listed() -> None:
    source = "from keras import layers, Sequential\nextra = layers.Dense(3)\n" \
             "model = Sequential([layers.GRU(8, input_shape=(5, 2)), extra])\n"  # fmt: skip
    result = import_source(source)
    assert [(s.line, s.code) for s in result.skipped] == [(3, "custom")]
    assert "extra is not a layer call" in result.skipped[0].reason
