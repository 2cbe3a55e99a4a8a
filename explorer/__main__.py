"""python -m explorer summary FILE [--json] | export FILE --framework pytorch|keras"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from explorer.analysis import ArchitectureInvalid
from explorer.codegen import keras_code, pytorch_code
from explorer.report import summary_json, summary_text
from explorer.spec import Limits, SpecError, parse_architecture


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own exit is 2 as well; keep its usage line
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m explorer", description="Analyse and export stacked RNN architectures.")
    commands = parser.add_subparsers(dest="command", required=True)
    summary = commands.add_parser("summary", help="shapes, parameters and diagnostics of an architecture file")
    summary.add_argument("file", type=Path)
    summary.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    export = commands.add_parser("export", help="print runnable PyTorch or Keras code")
    export.add_argument("file", type=Path)
    export.add_argument("--framework", choices=("pytorch", "keras"), required=True)
    return parser


def _load(path: Path, limits: Limits):
    try:
        with path.open("rb") as handle:
            # Read one byte past the cap: enough to tell "too big" without loading a huge file.
            raw = handle.read(limits.max_file_bytes + 1)
    except OSError as exc:
        raise SpecError([f"cannot read {path}: {exc.strerror or exc}"]) from None
    return parse_architecture(raw, limits)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        limits = Limits.from_env()
        arch = _load(args.file, limits)
    except (SpecError, ValueError) as exc:
        problems = exc.problems if isinstance(exc, SpecError) else (str(exc),)
        print(f"error: {args.file}: " + "\n  ".join(problems), file=sys.stderr)
        return 2
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
