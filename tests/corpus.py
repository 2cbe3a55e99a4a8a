"""The models rewritten after public repositories (tests/import_corpus/): their headers, and each one built and
run by real Keras 3 or torch. The corpus is this repository's own code, so the tests may run it."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported: no TensorFlow needed

import re
import warnings
from pathlib import Path
from typing import Any

import keras
import torch
from torch import nn

from explorer.importer import ImportResult, InputOverrides, import_source, parse_settings
from explorer.spec import Architecture

CORPUS = Path(__file__).resolve().parent / "import_corpus"
BATCH = 2
DEFAULT_TIME = 12


def header(path: Path) -> tuple[dict[str, Any], InputOverrides, list[str]]:
    """The sizes the file's `# sizes:` line gives (the input's apart) and the codes its `# partial:` line expects."""
    text = path.read_text()
    sizes = re.search(r"^# sizes: (.*)$", text, re.MULTILINE)
    partial = re.search(r"^# partial: (.*)$", text, re.MULTILINE)
    settings = parse_settings(sizes[1].split()) if sizes else {}
    overrides = InputOverrides(features=settings.pop("features", None), seq_len=settings.pop("seq_len", None))
    return settings, overrides, partial[1].split() if partial else []


def imported(path: Path) -> ImportResult:
    settings, overrides, _ = header(path)
    return import_source(path.read_bytes(), settings=settings, inputs=overrides)


def time_of(path: Path, arch: Architecture) -> int:
    return arch.input.seq_len or header(path)[1].seq_len or DEFAULT_TIME


def real(path: Path, arch: Architecture) -> tuple[int, tuple[int, ...]]:
    """The file's model (the last it defines, as the importer picks it) built with the header's sizes and run by
    real Keras 3 or torch on a batch for `arch`'s input: its parameter count and output shape, batch first."""
    settings, _, _ = header(path)
    result = imported(path)
    time = time_of(path, arch)
    namespace: dict[str, Any] = dict(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras 3 warns about Keras 2's input_length and input_shape
        source = path.read_text().replace("tensorflow.keras", "keras")  # tf.keras' API, on Keras 3 here
        exec(compile(source, str(path), "exec"), namespace)
        found = namespace[result.model]
        if result.framework == "keras":
            model = found(**settings) if callable(found) and not isinstance(found, keras.Model) else found
            shape = (BATCH, time) if arch.input.tokens else (BATCH, time, arch.input.features)
            x = torch.randint(1, 50, shape).numpy() if arch.input.tokens else torch.randn(shape).numpy()
            output = tuple(model(x).shape)
            return model.count_params(), output
        model = found(**settings).eval()
    first = next(m for m in model.modules() if not list(m.children()))
    rnn = next(m for m in model.modules() if isinstance(m, nn.RNNBase))
    if isinstance(first, nn.Embedding):
        x = torch.randint(1, first.num_embeddings, (BATCH, time))
    else:
        x = torch.randn(BATCH, time, arch.input.features)
    time_major = not rnn.batch_first and not isinstance(first, nn.Embedding)
    arguments = [x.transpose(0, 1) if time_major else x]
    if arch.input.seq_len is None:
        arguments.append(torch.tensor([time, time - 3]))
    with torch.no_grad():
        out = model(*arguments)
    if time_major and out.dim() == 3:
        out = out.transpose(0, 1)
    return sum(p.numel() for p in model.parameters()), tuple(out.shape)
