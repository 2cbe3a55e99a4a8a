"""The summary: one row per layer, as a Keras-like text table and as the CLI's JSON object."""

from __future__ import annotations

from dataclasses import dataclass

from explorer.analysis import Analysis, analyze, shape_brief
from explorer.spec import Architecture


@dataclass(frozen=True)
class SummaryRow:
    index: int
    title: str
    output_shape: str
    params_torch: int
    params_keras: int
    params_formula: str
    notes: str


def summary_rows(analysis: Analysis) -> list[SummaryRow]:
    titles = [layer.title() for layer in analysis.architecture.stack]
    return [
        SummaryRow(
            info.index,
            title,
            shape_brief(info.output_shape),
            info.params_torch,
            info.params_keras,
            info.params_formula,
            "; ".join(info.notes),
        )
        for info, title in zip(analysis.layers, titles, strict=True)
    ]


def summary_text(arch: Architecture) -> str:
    analysis = analyze(arch)
    header = ("#", "Layer", "Output shape", "Params torch", "Params Keras", "Notes")
    table = [header, ("0", "Input", shape_brief(analysis.input_shape), "", "", "")]
    for row in summary_rows(analysis):
        table.append(
            (str(row.index), row.title, row.output_shape, f"{row.params_torch:,}", f"{row.params_keras:,}", row.notes)
        )
    table.append(("", "Total", "", f"{analysis.total_params_torch:,}", f"{analysis.total_params_keras:,}", ""))
    widths = [max(len(r[c]) for r in table) for c in range(len(header) - 1)]
    numeric = {3, 4}

    def line(cells: tuple[str, ...]) -> str:
        columns = enumerate(zip(cells[:-1], widths, strict=True))
        padded = [c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in columns]
        return "  ".join([*padded, cells[-1]]).rstrip()

    rule = "-" * (sum(widths) + 2 * len(widths) + len("Notes"))
    lines = [line(header), rule, *(line(r) for r in table[1:-1]), rule, line(table[-1])]
    if analysis.diagnostics:
        lines += ["", "Diagnostics:"]
        for d in analysis.diagnostics:
            lines.append(f"  {d.severity.value} (layer {d.layer}): {d.message}")
            lines.append(f"    fix: {d.fix}")
    lines += ["", "valid" if analysis.valid else f"invalid: {len(analysis.errors)} error(s)"]
    return "\n".join(lines)


def summary_json(arch: Architecture) -> dict:
    analysis = analyze(arch)
    return {
        "valid": analysis.valid,
        "diagnostics": [
            {"severity": d.severity.value, "layer": d.layer, "code": d.code, "message": d.message, "fix": d.fix}
            for d in analysis.diagnostics
        ],
        "layers": [
            {
                "index": info.index,
                "type": info.kind,
                "input_shape": [d.to_json() for d in info.input_shape],
                "output_shape": [d.to_json() for d in info.output_shape],
                "params_torch": info.params_torch,
                "params_keras": info.params_keras,
                "params_formula": info.params_formula,
                "h_n": None if info.h_n is None else [d.to_json() for d in info.h_n],
                "c_n": None if info.c_n is None else [d.to_json() for d in info.c_n],
                "fused_with": list(info.fused_run),
                "notes": list(info.notes),
            }
            for info in analysis.layers
        ],
        "total_params_torch": analysis.total_params_torch,
        "total_params_keras": analysis.total_params_keras,
    }
