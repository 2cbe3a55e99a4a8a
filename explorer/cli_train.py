"""`python -m explorer train`: headless training that prints reports; the same job as the page's worker runs."""

from __future__ import annotations

import argparse

from explorer.spec import Architecture, Limits
from explorer.tasks import DEFAULT_LR, DEFAULT_STEPS, TASKS
from explorer.train import TrainConfig
from explorer.worker import TrainingJob, run_job


def train_command(arch: Architecture, args: argparse.Namespace, limits: Limits) -> int:
    known = TASKS.get(args.task)  # your own data (csv-*) takes the defaults
    config = TrainConfig(
        steps=args.steps or (known.suggested_steps if known else DEFAULT_STEPS),
        batch_size=args.batch_size,
        lr=args.lr or (known.suggested_lr if known else DEFAULT_LR),
        clip=args.clip,
        seed=args.seed,
        device=args.device,
        report_every=args.report_every,
        threads=args.threads,
        max_seconds=limits.max_train_seconds,
    )
    job = TrainingJob(arch, args.task, config, args.csv, args.save_weights, args.nice)
    return run_job(job, limits, as_json=args.json)
