"""``pgbulk analyze --plot``: the per-user histograms against their law, and the sizes.

matplotlib is optional (the ``plot`` extra). It is imported only here, with the Agg
backend through :class:`matplotlib.figure.Figure` (no pyplot, no display, no global
state), so the rest of pgbulk never needs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pgbulk.analyze import HISTOGRAMS, Analysis, Result
from pgbulk.errors import PgbulkError
from pgbulk.generate import truncated_zipf_pmf
from pgbulk.spec import ContactsSpec

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
    spec = analysis.spec or ContactsSpec()
    fig = Figure(figsize=(13, 9), layout="constrained")
    (hist_emails, hist_phones), (tables, indexes) = fig.subplots(2, 2)
    for ax, name in ((hist_emails, "emails_per_user"), (hist_phones, "phones_per_user")):
        _histogram(ax, analysis[name], HISTOGRAMS[name], spec, known=analysis.spec is not None)
    _table_sizes(tables, analysis["table_sizes"])
    _index_sizes(indexes, analysis["index_sizes"])
    fig.suptitle(f"pgbulk analyze — schema {analysis.schema}", fontsize=14)
    try:
        fig.savefig(path, dpi=110)
    except OSError as e:
        raise PgbulkError(f"cannot write the plot to {path}: {e.strerror}") from None
    return path


def _histogram(ax: Any, result: Result, table: str, spec: ContactsSpec, *, known: bool) -> None:
    counts = [int(k) for k in result.column(result.columns[0])]
    users = [int(n) for n in result.column("users")]
    total = sum(users)
    bars = ax.bar(counts, users, color=_OBSERVED, width=0.7, label=f"observed ({total:,} users)")
    if len(counts) <= 20:
        # Inside the bars: above them the labels would sit on the law's markers.
        labels = [f"{100 * n / total:.1f}%" for n in users]
        ax.bar_label(bars, labels=labels, label_type="center", color="white")
    pmf = truncated_zipf_pmf(spec.zipf_a, spec.max_per_user)
    ks = list(range(1, spec.max_per_user + 1))
    law = "" if known else " (default spec: no pgbulk ledger)"
    ax.plot(
        ks,
        [total * p for p in pmf],
        "o-",
        color=_EXPECTED,
        lw=2,
        ms=7,
        label=f"truncated Zipf a={spec.zipf_a} on 1..{spec.max_per_user}{law}",
    )
    if spec.max_per_user > 20:  # a long tail reads only on a log scale
        ax.set_yscale("log")
    else:
        ax.set_xticks(ks)
    ax.set_title(f"{table} per user")
    ax.set_xlabel(f"{table} per user")
    ax.set_ylabel("users")
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
