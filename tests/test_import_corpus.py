"""The import corpus: 22 models rewritten after public repositories (tests/import_corpus/, each naming its
repository and file). Each is imported, and where it imports exactly, compared with the same file built by real
Keras 3 or torch: parameter count and output shape. Where it imports partly, the constructs left out are named."""

from __future__ import annotations

import os

os.environ["KERAS_BACKEND"] = "torch"  # before keras is imported: no TensorFlow needed

import re
import warnings
from pathlib import Path
from typing import Any

import keras
import pytest
import torch
from torch import nn

from explorer.analysis import analyze
from explorer.importer import ImportResult, InputOverrides, import_source, parse_settings

CORPUS = Path(__file__).resolve().parent / "import_corpus"
FILES = sorted(CORPUS.glob("*.py"))
BATCH = 2


def header(path: Path) -> tuple[dict[str, Any], InputOverrides, list[str]]:
    text = path.read_text()
    sizes = re.search(r"^# sizes: (.*)$", text, re.MULTILINE)
    partial = re.search(r"^# partial: (.*)$", text, re.MULTILINE)
    settings = parse_settings(sizes[1].split()) if sizes else {}
    overrides = InputOverrides(
        features=settings.pop("features", None), seq_len=settings.pop("seq_len", None), batch=None
    )
    return settings, overrides, partial[1].split() if partial else []


def imported(path: Path) -> ImportResult:
    settings, overrides, _ = header(path)
    return import_source(path.read_bytes(), settings=settings, inputs=overrides)


def test_the_corpus_holds_twenty_or_more_models_of_both_frameworks_each_naming_its_source() -> None:
    assert len(FILES) >= 20
    frameworks = {imported(path).framework for path in FILES}
    assert frameworks == {"keras", "pytorch"}
    for path in FILES:
        assert re.match(r"# Follows [\w.-]+/[\w.-]+, \S+", path.read_text()), path.name


def _real(path: Path, result: ImportResult) -> tuple[int, tuple[int, ...]]:
    """The file run by real Keras or torch (the corpus is this repository's own code), with the same sizes."""
    settings, overrides, _ = header(path)
    arch = result.architecture
    time = arch.input.seq_len or overrides.seq_len or 12
    namespace: dict[str, Any] = dict(settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        source = path.read_text().replace("tensorflow.keras", "keras")  # tf.keras' API, on Keras 3 here
        exec(compile(source, str(path), "exec"), namespace)
        found = namespace[result.model]
        if result.framework == "keras":
            model = found(**settings) if callable(found) and not isinstance(found, keras.Model) else found
            if arch.input.tokens:
                x = torch.randint(1, 50, (BATCH, time)).numpy()
            else:
                x = torch.randn(BATCH, time, arch.input.features).numpy()
            shape = tuple(model(x).shape)
            return model.count_params(), shape
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


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_model_imports_exactly_or_names_what_it_left_out(path: Path) -> None:
    result = imported(path)
    _, overrides, partial = header(path)
    assert result.architecture is not None and not result.unresolved, result
    analysis = analyze(result.architecture)
    assert analysis.valid, [d.message for d in analysis.errors]
    if partial:
        assert {s.code for s in result.skipped} == set(partial), result.skipped
        return
    assert not result.skipped, result.skipped
    count, shape = _real(path, result)
    expected = analysis.total_params_keras if result.framework == "keras" else analysis.total_params_torch
    assert count == expected
    time = result.architecture.input.seq_len or overrides.seq_len or 12
    sizes = {"batch": BATCH, "time": time}
    assert shape == tuple(d.size if d.size is not None else sizes[d.name] for d in analysis.output_shape)
