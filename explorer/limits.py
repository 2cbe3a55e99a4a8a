"""Upper bounds for everything a user can set, in one place, read from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields


@dataclass(frozen=True)
class Limits:
    """Upper bounds for everything a user can set. One place, read from the environment."""

    max_layers: int = 64
    # Real models need wide ones: 33,278-word vocabulary heads, 16,000-sample raw waveforms. The analysis is
    # arithmetic at any size; training is held by max_train_params and max_train_memory_mb instead.
    max_units: int = 65536  # also a Dense layer's outputs, an Embedding's vocabulary, a Conv1D's filters
    max_features: int = 16384  # also an Embedding's dim
    max_seq_len: int = 2000
    max_batch: int = 1024
    max_num_layers: int = 8
    max_file_bytes: int = 256 * 1024  # architecture files and links
    max_source_bytes: int = 256 * 1024  # a model's source code, pasted or uploaded, to import
    max_csv_bytes: int = 2 * 1024 * 1024  # your own data
    max_steps: int = 5000  # per training run
    max_batch_size: int = 512  # training batch
    max_train_seconds: int = 300  # a run stops itself after this long
    # One training's memory, estimated before it starts (refused above it) and capped inside its worker.
    # Four trainings at the default fit a 24 GB classroom server with room for the page and its sessions.
    max_train_memory_mb: int = 2048
    max_train_params: int = 50_000_000  # a model with more parameters than this is not trained here
    max_concurrent_trainings: int = 4  # on the whole server; one more is refused with a message
    # With EXPLORER_RAY_ADDRESS: runs waiting for a CPU in the cluster, all of a site's servers together; one
    # more is refused with a message. Trainings themselves are then held by the cluster's CPUs.
    max_queued_trainings: int = 500
    max_runs_kept: int = 10  # per session: the oldest finished run is dropped, with a note, to make room
    # A run no page has looked at for this long is stopped (its tab was closed). Browsers slow the
    # timers of background tabs to about once a minute, so this stays well above a minute.
    max_unwatched_seconds: int = 90

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """`EXPLORER_MAX_UNITS=256` and so on: the field name, upper-cased, after `EXPLORER_`."""
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            name = "EXPLORER_" + f.name.upper()
            raw = environ.get(name)
            if raw is None:
                continue
            try:
                value = int(raw)
            except ValueError:
                raise ValueError(f"{name} must be a whole number, received {raw!r}") from None
            if value < 1:
                raise ValueError(f"{name} must be >= 1, received {value}")
            values[f.name] = value
        return cls(**values)


DEFAULT_LIMITS = Limits()
