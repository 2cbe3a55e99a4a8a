"""`python -m explorer train`: headless training that prints reports, and the page's training worker.

SIGINT or SIGTERM stops it between two steps; it still prints the final line and saves the weights.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading

import torch

from explorer.build import count_parameters
from explorer.spec import Architecture, Limits, read_capped
from explorer.tasks import TASKS, Task
from explorer.train import Report, TrainConfig, Trainer
from explorer.userdata import USER_TASKS, DataError, user_task


def _print_report(report: Report, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"type": "report", **report.to_json()}), flush=True)
        return
    print(
        f"step {report.step:>5}/{report.steps}  train loss {report.train_loss:.4f}  val loss {report.val_loss:.4f}  "
        f"val {report.metric} {report.val_metric:.4f}  {report.steps_per_s:.0f} steps/s",
        flush=True,
    )


def _task(args: argparse.Namespace, limits: Limits) -> Task:
    if args.task not in USER_TASKS:
        if args.csv:
            raise DataError(f"--csv goes with --task csv-forecast or csv-classify, not {args.task}")
        return TASKS[args.task]
    if args.csv is None:
        raise DataError(f"--task {args.task} needs your data: --csv FILE")
    raw = read_capped(args.csv, limits.max_csv_bytes)
    try:
        return user_task(args.task, raw, args.csv.name, limits)
    except DataError as exc:
        raise DataError(f"{args.csv}: {exc}") from None


def _trainer(arch: Architecture, args: argparse.Namespace, limits: Limits) -> Trainer:
    task = _task(args, limits)
    config = TrainConfig(
        steps=args.steps or task.suggested_steps,
        batch_size=args.batch_size,
        lr=args.lr or task.suggested_lr,
        clip=args.clip,
        seed=args.seed,
        device=args.device,
        report_every=args.report_every,
        threads=args.threads,
        max_seconds=limits.max_train_seconds,
    )
    config.check(limits)
    return Trainer(arch, task, config, on_report=lambda r: _print_report(r, args.json))


def train_command(arch: Architecture, args: argparse.Namespace, limits: Limits) -> int:
    if args.nice:
        os.nice(min(max(args.nice, 0), 19))
    try:
        trainer = _trainer(arch, args, limits)
    except ValueError as exc:  # unreadable or unusable data, a setting over a limit, a task misfit: all said
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if trainer.device_note:
        print(f"note: {trainer.device_note}", file=sys.stderr)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        result = trainer.run(should_stop=stop.is_set)
    except DataError as exc:  # user data too short for the windows the architecture asks for
        print(f"error: {args.csv}: {exc}", file=sys.stderr)
        return 2
    task = trainer.task
    if args.save_weights:
        torch.save(result.model.state_dict(), args.save_weights)
    final = result.final
    summary = {
        "type": "final",
        "task": task.name,
        "steps_done": result.steps_done,
        "stopped": result.stopped,
        "stop_reason": result.stop_reason,
        "failure": result.failure,
        "device": result.device,
        "device_note": result.device_note,
        "params": count_parameters(result.model),
        "baseline": result.baseline,
        "baseline_name": task.baseline_name,
        "metric": task.metric,
        "val_loss": final.val_loss if final else None,
        f"val_{task.metric}": final.val_metric if final else None,
        "steps_per_s": final.steps_per_s if final else None,
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        if result.failure:
            print(f"stopped early: {result.failure}")
        value = "n/a" if final is None else f"{final.val_metric:.4f}"
        print(f"validation {task.metric}: {value} (baseline, {task.baseline_name}: {result.baseline:.4f})")
    return 1 if result.failure else 0
