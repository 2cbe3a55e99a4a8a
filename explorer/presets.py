"""The shipped examples, by the name the page shows."""

from __future__ import annotations

from pathlib import Path

from explorer.spec import Architecture, parse_architecture

ASSETS = Path(__file__).resolve().parent.parent / "assets"

PRESETS = {
    "Tutorial (Keras): LSTM 64 → GRU 32 → Dense 5": "tutorial_keras.json",
    "Tutorial (PyTorch, stacked by hand): LSTM 64 → GRU 32 → Linear 5": "tutorial_pytorch_manual.json",
    "Tutorial (PyTorch, num_layers=2): LSTM 64 → Linear 5": "tutorial_pytorch_num_layers.json",
    "Teaching: broken stack (a middle layer without return_sequences)": "teaching_broken.json",
    "Bidirectional LSTM → bidirectional GRU": "bidirectional.json",
    "Sequence labelling: one label per time step": "sequence_labelling.json",
    "Variable-length sequences": "variable_length.json",
    "Text classifier: Embedding → bidirectional LSTM → GlobalMaxPool → Dense": "text_classifier.json",
    "CNN-LSTM forecaster: Conv1D → MaxPool → LSTM → Dense": "cnn_lstm_forecaster.json",
    "LSTM autoencoder: LSTM → RepeatVector → LSTM → Dense per step": "lstm_autoencoder.json",
}
DEFAULT_PRESET = next(iter(PRESETS))
# What a select of presets shows: a few words that fit a sidebar; the full name is said beside it.
SHORT_NAMES = dict(
    zip(
        PRESETS,
        [
            "Keras tutorial",
            "PyTorch tutorial, by hand",
            "PyTorch tutorial, num_layers",
            "Broken stack (teaching)",
            "Bidirectional",
            "Sequence labelling",
            "Variable length",
            "Text classifier",
            "CNN-LSTM forecaster",
            "LSTM autoencoder",
        ],
        strict=True,
    )
)


def load_preset(name: str) -> Architecture:
    return parse_architecture((ASSETS / PRESETS[name]).read_bytes())
