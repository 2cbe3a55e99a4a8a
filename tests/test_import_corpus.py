"""The import corpus: 22 models rewritten after public repositories (tests/import_corpus/, each naming its
repository and file). Each is imported, and where it imports exactly, compared with the same file built by real
Keras 3 or torch: parameter count and output shape. Where it imports partly, the constructs left out are named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from explorer.analysis import analyze

from corpus import BATCH, CORPUS, header, imported, real, time_of

FILES = sorted(CORPUS.glob("*.py"))


def test_the_corpus_holds_twenty_or_more_models_of_both_frameworks_each_naming_its_source() -> None:
    assert len(FILES) >= 20
    assert {imported(path).framework for path in FILES} == {"keras", "pytorch"}
    for path in FILES:
        assert re.match(r"# Follows [\w.-]+/[\w.-]+, \S+", path.read_text()), path.name


@pytest.mark.filterwarnings("ignore::UserWarning")
@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_model_imports_exactly_or_names_what_it_left_out(path: Path) -> None:
    result = imported(path)
    assert result.architecture is not None and not result.unresolved, result
    analysis = analyze(result.architecture)
    assert analysis.valid, [d.message for d in analysis.errors]
    partial = header(path)[2]
    if partial:
        assert {s.code for s in result.skipped} == set(partial), result.skipped
        return
    assert not result.skipped, result.skipped
    count, shape = real(path, result.architecture)
    expected = analysis.total_params_keras if result.framework == "keras" else analysis.total_params_torch
    assert count == expected
    sizes = {"batch": BATCH, "time": time_of(path, result.architecture)}
    assert shape == tuple(d.size if d.size is not None else sizes[d.name] for d in analysis.output_shape)
