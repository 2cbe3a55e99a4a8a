"""Import of a 200-line Keras module (read with ast, never run): median time, against `ast.parse` of the same
text alone, measured in the same run. Target: under 50 ms. Run: python -m benchmarks.bench_import [--repeats N]
"""

from __future__ import annotations

import argparse
import ast

from benchmarks.bench_analysis import median_seconds
from explorer.importer import import_source

MODEL = """
from keras.layers import Input, Embedding, Bidirectional, LSTM, GRU, Conv1D, MaxPooling1D, GlobalMaxPooling1D
from keras.layers import Dense, Dropout, BatchNormalization
from keras.models import Model

maxlen, max_features, embed_size = 150, 20000, 128
HIDDEN = 64

def build(maxlen=maxlen, units=HIDDEN):
    inp = Input(shape=(maxlen,))
    x = Embedding(max_features, embed_size)(inp)
    x = Conv1D(64, 5, padding="same", activation="relu")(x)
    x = MaxPooling1D(2)(x)
    x = BatchNormalization()(x)
    x = Bidirectional(LSTM(units, return_sequences=True, recurrent_dropout=0.2))(x)
    x = Bidirectional(GRU(units // 2, return_sequences=True))(x)
    x = GlobalMaxPooling1D()(x)
    x = Dense(units, activation="relu")(x)
    x = Dropout(0.3)(x)
    x = Dense(6, activation="sigmoid")(x)
    return Model(inputs=inp, outputs=x)
"""


def helper(n: int) -> str:
    """Ordinary code around a model: data loading and training helpers the importer reads past."""
    return f"""
def load_split_{n}(path, maxlen=maxlen):
    rows = []
    with open(path) as handle:
        for line in handle:
            label, text = line.split("\\t", 1)
            rows.append((int(label), text.split()[:maxlen]))
    return rows
"""


def two_hundred_lines() -> str:
    text, n = MODEL, 0
    while text.count(chr(10)) < 200:
        text += helper(n)
        n += 1
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200)
    args = parser.parse_args()
    source = two_hundred_lines()
    assert import_source(source).architecture is not None
    parse = median_seconds(lambda: ast.parse(source), args.repeats)
    full = median_seconds(lambda: import_source(source), args.repeats)
    print(f"{source.count(chr(10))}-line Keras module, {args.repeats} repeats")
    print(f"{'what':34} {'median':>10} {'vs ast.parse':>13}")
    for name, seconds in [("ast.parse alone (baseline)", parse), ("explorer import_source", full)]:
        print(f"{name:34} {seconds * 1e3:>7.2f} ms {seconds / parse:>12.2f}×")
    print(f"target: import under 50 ms: {'met' if full < 0.05 else 'NOT MET'}")


if __name__ == "__main__":
    main()
