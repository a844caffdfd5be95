"""``pgbulk analyze --plot``: the children-per-parent histograms against their law, and the sizes.

matplotlib is optional (the ``plot`` extra). It is imported only here, with the Agg
backend through :class:`matplotlib.figure.Figure` (no pyplot, no display, no global
state), so the rest of pgbulk never needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgbulk.analyze import Analysis, Result
from pgbulk.errors import PgbulkError
from pgbulk.model import PerParent, Table

MIB = 2**20
_OBSERVED, _EXPECTED, _HEAP, _INDEX, _UNIQUE = "#4C72B0", "#C44E52", "#55A868", "#8172B2", "#DD8452"


def plot(analysis: Analysis, path: str | Path) -> Path:
    """Draw the analysis into a PNG file; return its path."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise PgbulkError("--plot needs matplotlib: pip install 'pgbulk[plot]'") from None
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise PgbulkError(f"the plot is written as PNG: name the file *.png, not {path.name}")
    histograms = analysis.histograms()
    columns = max(2, len(histograms))
    fig = Figure(figsize=(6.5 * columns, 9), layout="constrained")
    grid = fig.add_gridspec(2 if histograms else 1, columns)
    for i, (table, result) in enumerate(histograms):
        _histogram(fig.add_subplot(grid[0, i]), result, table)
    sizes = grid[1 if histograms else 0, :].subgridspec(1, 2)
    _table_sizes(fig.add_subplot(sizes[0, 0]), analysis["table_sizes"])
    _index_sizes(fig.add_subplot(sizes[0, 1]), analysis["index_sizes"])
    fig.suptitle(f"pgbulk analyze — schema {analysis.schema}", fontsize=14)
    try:
        fig.savefig(path, dpi=110)
    except OSError as e:
        raise PgbulkError(f"cannot write the plot to {path}: {e.strerror}") from None
    return path


def _histogram(ax: Any, result: Result, child: Table) -> None:
    assert isinstance(child.rows, PerParent)
    parent = child.rows.parent
    counts = [int(k) for k in result.column("k")]
    parents = [int(n) for n in result.column(parent)]
    total = sum(parents)
    bars = ax.bar(
        counts, parents, color=_OBSERVED, width=0.7, label=f"observed ({total:,} {parent})"
    )
    if len(counts) <= 20:
        # Inside the bars: above them the labels would sit on the law's markers.
        labels = [f"{100 * n / total:.1f}%" for n in parents]
        ax.bar_label(bars, labels=labels, label_type="center", color="white")
    law = child.rows.law
    support, pmf = law.pmf()
    params = ", ".join(f"{k}={v}" for k, v in law.params().items() if k != "key")
    ax.plot(support, total * pmf, "o-", color=_EXPECTED, lw=2, ms=7, label=f"{law.kind}({params})")
    if len(support) > 20:  # a long tail reads only on a log scale
        ax.set_yscale("log")
    else:
        ax.set_xticks(support)
    ax.set_title(f"{child.name} per row of {parent}")
    ax.set_xlabel(f"{child.name} per row of {parent}")
    ax.set_ylabel(parent)
    ax.yaxis.set_major_formatter(_thousands())
    ax.grid(axis="y", alpha=0.3)
    ax.legend()


def _table_sizes(ax: Any, result: Result) -> None:
    names = result.column("table")[::-1]  # largest on top
    heap = [int(b) / MIB for b in result.column("heap_bytes")][::-1]
    index = [int(b) / MIB for b in result.column("index_bytes")][::-1]
    ax.barh(names, heap, color=_HEAP, label="heap")
    ax.barh(names, index, left=heap, color=_INDEX, label="indexes")
    for y, (h, i) in enumerate(zip(heap, index, strict=True)):
        ax.text(h + i, y, f" {_mib(h + i)}", va="center")
    ax.set_title("table sizes")
    ax.set_xlabel("MiB")
    ax.margins(x=0.2)
    ax.legend(loc="lower right")


def _index_sizes(ax: Any, result: Result) -> None:
    names = result.column("index")[::-1]
    sizes = [int(b) / MIB for b in result.column("bytes")][::-1]
    unique = result.column("unique")[::-1]
    ax.barh(names, sizes, color=[_UNIQUE if u else _INDEX for u in unique])
    for y, s in enumerate(sizes):
        ax.text(s, y, f" {_mib(s)}", va="center")
    from matplotlib.patches import Patch

    ax.legend(
        handles=[Patch(color=_UNIQUE, label="unique"), Patch(color=_INDEX, label="not unique")],
        loc="lower right",
    )
    ax.set_title("index sizes")
    ax.set_xlabel("MiB")
    ax.margins(x=0.2)


def _mib(value: float) -> str:
    return f"{value:,.1f} MiB" if value < 10 else f"{value:,.0f} MiB"


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:,.0f}")
