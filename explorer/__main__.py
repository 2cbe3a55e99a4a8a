"""python -m explorer summary FILE [--json] | export FILE --framework pytorch|keras | train FILE --task NAME |
import FILE.py [--model NAME] [--set NAME=VALUE ...] [--features F] [--seq-len T] [--batch B] [--json]"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from explorer.analysis import ArchitectureInvalid
from explorer.codegen import keras_code, pytorch_code
from explorer.report import summary_json, summary_text
from explorer.spec import Limits, SpecError, parse_architecture, problems_text, read_capped


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse's own exit is 2 as well; keep its usage line
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _task_names() -> tuple[list[str], str]:
    """The task names and their one-line titles, for `train`. Imports torch (seconds): only when training."""
    from explorer.tasks import TASKS
    from explorer.userdata import USER_TASKS

    return [*TASKS, *USER_TASKS], "Tasks: " + "; ".join(f"{t.name}: {t.title}" for t in TASKS.values())


def _parser(training: bool) -> argparse.ArgumentParser:
    """`training`: the command line asks for `train`, so its task names are loaded (summary and export need no
    torch); otherwise `train` is listed, and a mistyped task is refused by the job's own check."""
    parser = _Parser(prog="python -m explorer", description="Analyse and export stacked RNN architectures.")
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="shapes, parameters and diagnostics of an architecture file")
    summary.add_argument("file", type=Path)
    summary.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    export = commands.add_parser("export", help="print runnable PyTorch or Keras code")
    export.add_argument("file", type=Path)
    export.add_argument("--framework", choices=("pytorch", "keras"), required=True)
    imported = commands.add_parser(
        "import", help="read a Keras model from Python source (parsed, never run) into an architecture"
    )
    imported.add_argument("file", type=Path, help="a .py file, or - to read it from standard input")
    imported.add_argument("--model", help="the class, function or variable that holds the model (default: the last)")
    imported.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a value the source leaves open, named as the source spells it or by its last plain name",
    )
    imported.add_argument("--features", type=_positive, help="input features, where the code does not say")
    imported.add_argument("--seq-len", type=_positive, help="input length (default: variable)")
    imported.add_argument("--batch", type=_positive, help="batch size (default: unspecified)")
    imported.add_argument("--json", action="store_true", help="one JSON object: model, framework, architecture, ...")
    explain = commands.add_parser("explain", help="explain a PyTorch or Keras shape error against an architecture")
    explain.add_argument("file", type=Path, help="the architecture file the error came from (or is closest to)")
    explain.add_argument("error", help="the error message, as printed (a whole traceback is fine)")
    explain.add_argument("--json", action="store_true", help="one JSON object: recognised, layer, expected, ...")
    traced = commands.add_parser(
        "trace", help="run one forward pass of your own torch model, on this machine, and summarise its modules"
    )
    traced.add_argument("target", help="FILE.py:NAME, NAME a class (made with no arguments), function or instance")
    traced.add_argument("--input", required=True, help="the input's shape, e.g. 4,20,10 (token ids: 4,20)")
    traced.add_argument("--json", action="store_true", help="the object summary --json prints, for the modules")
    tasks, description = _task_names() if training else (None, None)
    train = commands.add_parser("train", help="train the architecture on a synthetic task", description=description)
    train.add_argument("file", type=Path, help="architecture file, or - to read it from standard input")
    train.add_argument("--task", choices=tasks, required=True)
    train.add_argument("--csv", type=Path, help="your data, for --task csv-forecast or csv-classify (README: formats)")
    train.add_argument("--steps", type=_positive, help="training steps (default: the task's suggestion)")
    train.add_argument("--device", choices=("auto", "cpu", "cuda", "mps"), default="auto")
    train.add_argument("--seed", type=int, default=0, help="0 to 2147483647")
    train.add_argument("--lr", type=_positive_float, help="Adam learning rate (default: the task's suggestion)")
    train.add_argument("--batch-size", type=_positive, default=64)
    train.add_argument("--clip", type=_positive_float, default=1.0, help="max gradient norm")
    train.add_argument("--report-every", type=_positive, default=10)
    train.add_argument("--threads", type=_positive, default=1, help="torch CPU threads")
    train.add_argument("--save-weights", type=Path, help="write the trained state_dict here")
    train.add_argument("--json", action="store_true", help="one JSON object per report, then a final one")
    train.add_argument("--nice", type=int, default=0, help="run at CPU niceness N at least (0 to 19): below other work")
    return parser


def _positive_number(kind: type) -> Callable[[str], float]:
    """An argparse type: a finite number above zero, read as int or float."""

    def parse(text: str) -> float:
        try:
            value = float(kind(text)) if kind is float else int(kind(text))
        except ValueError:
            noun = "whole number" if kind is int else "number"
            raise argparse.ArgumentTypeError(f"must be a {noun} above 0, received {text!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise argparse.ArgumentTypeError(f"must be a finite number > 0, received {text}")
        return value

    return parse


_positive, _positive_float = _positive_number(int), _positive_number(float)


def _import_command(args: argparse.Namespace) -> int:
    from explorer.importer import InputOverrides, SourceError, import_source, parse_settings

    try:
        limits = Limits.from_env()
        settings = parse_settings(args.set)
        raw = read_capped(args.file, limits.max_source_bytes)
        overrides = InputOverrides(args.features, args.seq_len, args.batch)
        result = import_source(raw, args.model, settings, overrides, limits)
    except (SourceError, ValueError) as exc:
        print(f"error: {args.file}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    elif result.architecture is not None:
        print(summary_text(result.architecture))
    if result.skipped and not args.json:
        print("\nNot imported:")
        for skipped in result.skipped:
            print(f"  line {skipped.line}: {skipped.reason}")
    if result.unresolved:
        names = ", ".join(result.unresolved)
        print(f"error: {args.file}: the source leaves these open; give them with --set NAME=VALUE: {names}",
              file=sys.stderr)  # fmt: skip
        return 2
    return 0


def _trace_command(args: argparse.Namespace) -> int:
    from explorer.trace import TraceError, load_model, trace, trace_text

    path, _, name = args.target.rpartition(":")
    try:
        shape = tuple(int(part) for part in args.input.split(","))
        if not path or not name or not shape or min(shape) < 1:
            raise ValueError
    except ValueError:
        print(f"error: trace needs FILE.py:NAME and --input sizes such as 4,20,10, received {args.target!r} "
              f"and {args.input!r}", file=sys.stderr)  # fmt: skip
        return 2
    try:
        traced = trace(load_model(Path(path), name), shape)
    except TraceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(traced, indent=2) if args.json else trace_text(traced))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser(training=bool(argv) and argv[0] == "train").parse_args(argv)
    if args.command == "import":
        return _import_command(args)
    if args.command == "trace":
        return _trace_command(args)
    try:
        limits = Limits.from_env()
        arch = parse_architecture(read_capped(args.file, limits.max_file_bytes), limits)
    except (SpecError, ValueError) as exc:
        problems = exc.problems if isinstance(exc, SpecError) else (str(exc),)
        print(f"error: {args.file}: " + problems_text(problems, "\n  "), file=sys.stderr)
        return 2
    if args.command == "train":
        from explorer.cli_train import train_command  # torch: seconds to import, needed by train alone

        return train_command(arch, args, limits)
    if args.command == "explain":
        from explorer.explain import explain

        explanation = explain(arch, args.error)
        if args.json:
            print(json.dumps(explanation.to_json(), indent=2))
        else:
            where = f"layer {explanation.layer}: " if explanation.layer is not None else ""
            print(where + explanation.message)
            if explanation.expected is not None:
                print(f"  expected: {explanation.expected}\n  received: {explanation.received}")
            if explanation.fix is not None:
                print(f"  fix: {explanation.fix}")
        return 0
    if args.command == "summary":
        print(json.dumps(summary_json(arch), indent=2) if args.json else summary_text(arch))
        return 0
    try:
        print(pytorch_code(arch) if args.framework == "pytorch" else keras_code(arch), end="")
    except ArchitectureInvalid as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
