"""Results as Markdown, JSON and PNG charts (matplotlib, Agg backend: no display needed).

``python -m benchmarks.report RESULT.json`` renders a saved run's Markdown and chart again.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.target import BUSY_LOAD_AVERAGE, BUSY_OTHER_CORES

if TYPE_CHECKING:
    from benchmarks.compare import Comparison, Line
    from benchmarks.scaling import Point, Scaling

PHASE_COLOURS = {"load": "#3b6ea8", "constraints": "#e0a030", "analyze": "#7aa95c"}
PGBULK_COLOUR = "#c0392b"
OTHER_COLOUR = "#7f8c8d"


def count_label(n: int) -> str:
    """1000000 -> 1M, 100000 -> 100k, 2500 -> 2500."""
    for unit, size in (("M", 10**6), ("k", 10**3)):
        if n >= size and n % size == 0:
            return f"{n // size}{unit}"
    return str(n)


def seconds(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:,.0f}" if x >= 100 else f"{x:.2f}" if x < 10 else f"{x:.1f}"


def rate(x: float) -> str:
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.0f}k"


def ratio(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f}x" if x >= 100 else f"{x:.2f}x"


def cores(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def mib(n: int | None) -> str:
    return "—" if not n else f"{n / 2**20:,.0f} MiB"


def line_summary(line: Line) -> str:
    if not line.ok:
        return f"{line.status}: {line.reason}"
    s, m = line.seconds, line.measured_seconds
    measured = (
        f"load {seconds(m['load'])} s, constraints {seconds(m['constraints'])} s, "
        f"analyze {seconds(m['analyze'])} s, total {seconds(m['total'])} s"
    )
    if line.extrapolated:
        return f"{measured} at {line.ran_users:,} users; load extrapolated: {seconds(s['load'])} s"
    return f"{measured} ({rate(line.load_rate)} rows/s)"


def point_summary(p: Point) -> str:
    s = p.seconds
    return (
        f"load {seconds(s['load'])} s ({rate(p.load_rate)} rows/s), constraints {seconds(s['constraints'])} s, "
        f"analyze {seconds(s['analyze'])} s, total {seconds(s['total'])} s, peak {mib(p.peak_memory_bytes)}"
    )


def _context(
    server: dict[str, Any],
    machine: dict[str, Any],
    started_at: str,
    cpu: list[tuple[str, float | None, float | None]],
) -> list[str]:
    """The machine and server lines; ``cpu`` is (name, other_cores, steal_cores) per measurement."""
    settings = server["settings"]
    where = "embedded server" if server["embedded"] else "server given by DSN"
    other = max((o for _, o, _ in cpu if o is not None), default=None)
    steal = max((st for _, _, st in cpu if st is not None), default=None)
    lines = [
        f"- PostgreSQL {server['version']} ({where}); {machine['cpus']} CPUs, "
        f"{machine['memory_gib']} GiB RAM; pgbulk {machine['pgbulk']}"
        + (f" (commit {machine['commit']})" if machine.get("commit") else "")
        + f"; started {started_at}.",
        "- Server settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()) + ".",
        f"- Load average {machine['load_average'][0]} before the run"
        + (
            f"; during the measurements other processes used up to {other:.2f} cores "
            f"(the hypervisor's steal up to {steal or 0.0:.2f})."
            if other is not None
            else "."
        ),
    ]
    if machine["load_average"][0] > BUSY_LOAD_AVERAGE:
        lines += [
            "",
            f"**The machine was busy when the run began (load average above "
            f"{BUSY_LOAD_AVERAGE}): these figures are not final.**",
        ]
    disturbed = noisy(cpu)
    if disturbed:
        lines += [
            "",
            f"**Other processes used more than {BUSY_OTHER_CORES} cores while "
            f"{', '.join(disturbed)} ran: those figures are not final.**",
        ]
    return lines


def noisy(cpu: list[tuple[str, float | None, float | None]]) -> list[str]:
    return [name for name, other, _ in cpu if other is not None and other > BUSY_OTHER_CORES]


def _busy_title(machine: dict[str, Any], cpu: list[tuple[str, float | None, float | None]]) -> str:
    if machine["load_average"][0] > BUSY_LOAD_AVERAGE:
        return " — machine busy, not final"
    disturbed = noisy(cpu)
    return f" — disturbed: {', '.join(disturbed)}" if disturbed else ""


# ---------------------------------------------------------------------- comparison


def _cpu_of_lines(c: Comparison) -> list[tuple[str, float | None, float | None]]:
    return [(ln.name, ln.other_cores, ln.steal_cores) for ln in c.lines if ln.ok]


def _each_round(values: list[float]) -> str:
    return f" (rounds: {', '.join(f'{v:.2f}' for v in values)})" if values else ""


def comparison_markdown(c: Comparison) -> str:
    total = sum(c.dataset_rows.values())
    out = [f"## pgbulk and the alternatives: {c.users:,} users ({total:,} rows)", ""]
    out += _context(c.server, c.machine_before, c.started_at, _cpu_of_lines(c))
    out += [
        "",
        "Seconds per phase at the full size; `x pgbulk` is the method's time divided by pgbulk's "
        "(2 workers) for the same phase: above 1x, slower than pgbulk. `other CPU`: cores used by "
        "other processes on the machine while the method ran."
        + (
            f" Each figure is the median of {len(c.rounds)} rounds, run in alternating order "
            "(`other CPU` and memory: the largest)."
            if len(c.rounds) > 1
            else ""
        ),
        "",
        "| method | users run | load s | load rows/s | x pgbulk | constraints s | x pgbulk "
        "| analyze s | x pgbulk | total s | x pgbulk | other CPU |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for line in c.lines:
        if not line.ok:
            continue
        mark = " *" if line.extrapolated else ""
        cells = [f"{line.label}{mark}", f"{line.ran_users:,}"]
        for phase in ("load", "constraints", "analyze", "total"):
            borrowed = " †" if line.finish_from and phase in ("constraints", "analyze") else ""
            cells.append(seconds(line.seconds.get(phase)) + borrowed)
            if phase == "load":
                cells.append(rate(line.load_rate))
            cells.append(ratio(c.ratio(line, phase)))
        cells.append(cores(line.other_cores))
        out.append("| " + " | ".join(cells) + " |")
    if any(ln.extrapolated for ln in c.lines):
        out += [
            "",
            '\\* Ran on fewer users ("users run"); the load seconds are extrapolated linearly by row '
            "count to the full size, which flatters these methods: per-row inserts slow down as indexes "
            "and tables outgrow memory.",
        ]
    donors = sorted({ln.finish_from for ln in c.lines if ln.finish_from})
    if donors:
        out += [
            "",
            f"† Measured at full size by {', '.join(donors)} on the same rows, with the same statements: "
            "index builds are not linear and ANALYZE reads a fixed sample, so a small run's times do not "
            "scale. For the original (constraints present during its load) only the two child indexes.",
        ]
    others = [ln for ln in c.lines if not ln.ok]
    if others:
        out += ["", *[f"- **{ln.name} {ln.status}**: {ln.reason}" for ln in others]]
    checks = c.checks()
    if checks:
        out += [
            "",
            "### The loader's acceptance criteria, measured in this run",
            "",
            "| criterion | measured | target | met |",
            "|---|--:|--:|---|",
        ]
        out += [
            f"| {k.what} | {k.value:.2f}{_each_round(k.rounds)} | {k.target} "
            f"| {'yes' if k.passed else '**no**'} |"
            for k in checks
        ]
    notes = [(ln.name, n) for ln in c.lines if ln.ok for n in ln.notes]
    if notes:
        out += ["", "### Notes", "", *[f"- {name}: {n}" for name, n in notes]]
    out += ["", f"Whole run: {c.seconds:,.0f} s."]
    return "\n".join(out) + "\n"


def comparison_chart(c: Comparison, path: Path) -> None:
    """Left: load rows/s (log scale). Right: seconds per phase, stacked, clipped for the slowest."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    lines = [ln for ln in c.lines if ln.ok]
    labels = [ln.label + (" *" if ln.extrapolated else "") for ln in lines]
    ys = list(range(len(lines)))[::-1]
    fig, (left, right) = plt.subplots(
        1,
        2,
        figsize=(15, 0.55 * len(lines) + 2.2),
        sharey=True,
        gridspec_kw={"width_ratios": [1, 1.25]},
    )
    colours = [PGBULK_COLOUR if ln.name.startswith("pgbulk") else OTHER_COLOUR for ln in lines]
    rates = [ln.load_rate for ln in lines]
    left.barh(ys, rates, color=colours, hatch=None)
    for y, ln, r in zip(ys, lines, rates, strict=True):
        left.text(r * 1.08, y, rate(r), va="center", fontsize=8)
        if ln.extrapolated:
            left.barh(y, r, color="none", edgecolor="white", hatch="//")
    left.set_xscale("log")
    left.xaxis.set_major_formatter(FuncFormatter(lambda v, _: rate(v).replace(".00", "")))
    left.set_xlim(min(rates) / 2, max(rates) * 4)
    left.set_yticks(ys, labels, fontsize=9)
    left.set_xlabel("load phase, rows/s (log scale)")
    left.grid(axis="x", which="major", alpha=0.3)

    totals = [ln.seconds["total"] for ln in lines]
    base = c.line("pgbulk-2")
    limit = (
        max([t for t in totals if base is None or t <= 6 * base.seconds["total"]] or totals) * 1.15
    )
    for y, ln in zip(ys, lines, strict=True):
        at = 0.0
        for phase, colour in PHASE_COLOURS.items():
            start, stop = min(at, limit), min(at + ln.seconds.get(phase, 0.0), limit)
            right.barh(
                y,
                stop - start,
                left=start,
                color=colour,
                label=phase if y == ys[0] else None,
                hatch="//" if ln.extrapolated else None,
                edgecolor="white" if ln.extrapolated else None,
            )
            at += ln.seconds.get(phase, 0.0)
        label = f"{seconds(ln.seconds['total'])} s" + (" →" if at > limit else "")
        right.text(min(at, limit) + limit * 0.01, y, label, va="center", fontsize=8)
    right.set_xlim(0, limit * 1.16)
    right.set_xlabel("seconds: load + constraints + analyze (bars past the edge are cut)")
    right.legend(loc="lower right", fontsize=8)
    right.grid(axis="x", alpha=0.3)
    busy = _busy_title(c.machine_before, _cpu_of_lines(c))
    fig.suptitle(
        f"Loading {c.users:,} users ({sum(c.dataset_rows.values()):,} rows), PostgreSQL "
        f"{c.server['version']}, {c.machine_before['cpus']} CPUs{busy}\n"
        "* ran on fewer users: load extrapolated linearly, constraints and analyze from a full-size run",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_comparison(c: Comparison, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"compare-{count_label(c.users)}"
    paths = [stem.with_suffix(".json"), stem.with_suffix(".md")]
    paths[0].write_text(json.dumps(c.to_dict(), indent=2) + "\n")
    paths[1].write_text(comparison_markdown(c))
    if _have_matplotlib() and any(ln.ok for ln in c.lines):
        comparison_chart(c, stem.with_suffix(".png"))
        paths.append(stem.with_suffix(".png"))
    return paths


# ---------------------------------------------------------------------- scaling


def _cpu_of_points(s: Scaling) -> list[tuple[str, float | None, float | None]]:
    return [(f"{count_label(p.users)} users", p.other_cores, p.steal_cores) for p in s.points]


def scaling_markdown(s: Scaling) -> str:
    out = [f"## pgbulk load at growing sizes ({s.workers} workers)", ""]
    out += _context(s.server, s.machine_before, s.started_at, _cpu_of_points(s))
    out += [
        "",
        "| users | rows | load s | load rows/s | constraints s | analyze s | total s | peak memory "
        "| database size | other CPU |",
        "|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for p in s.points:
        size = f"{p.database_size_bytes / 2**30:.2f} GiB" if p.database_size_bytes else "—"
        out.append(
            f"| {p.users:,} | {p.total_rows:,} | {seconds(p.seconds['load'])} | {rate(p.load_rate)} | "
            f"{seconds(p.seconds['constraints'])} | {seconds(p.seconds['analyze'])} | "
            f"{seconds(p.seconds['total'])} | {mib(p.peak_memory_bytes)} | {size} | {cores(p.other_cores)} |"
        )
    out += [
        "",
        "Peak memory: all pgbulk processes (the CLI and its workers), sampled every 0.25 s.",
        "",
    ]
    out += [f"- {what}: {'yes' if ok else '**no**'}" for what, ok in s.memory_checks()]
    return "\n".join(out) + "\n"


def scaling_chart(s: Scaling, path: Path) -> None:
    """Left: seconds per phase against users (log-log). Right: load rows/s and peak memory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullLocator

    users = [p.users for p in s.points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.6))
    for phase, colour in {**PHASE_COLOURS, "total": "#333333"}.items():
        left.plot(
            users,
            [p.seconds[phase] for p in s.points],
            marker="o",
            color=colour,
            label=phase,
            linewidth=2.2 if phase == "total" else 1.5,
        )
    left.set_xscale("log")
    left.set_yscale("log")
    left.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    left.yaxis.set_minor_formatter(
        FuncFormatter(lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "25" else "")
    )
    left.set_xlabel("users")
    left.set_ylabel("seconds")
    left.set_title("time per phase")
    left.legend(fontsize=8)
    left.grid(which="both", alpha=0.3)

    right.plot(
        users,
        [p.load_rate / 1e6 for p in s.points],
        marker="o",
        color=PHASE_COLOURS["load"],
        label="load rows/s (M)",
    )
    right.set_xscale("log")
    right.set_xlabel("users")
    right.set_ylabel("load phase, million rows/s", color=PHASE_COLOURS["load"])
    right.set_ylim(0, max(p.load_rate for p in s.points) / 1e6 * 1.3)
    memory = right.twinx()
    memory.plot(
        users,
        [p.peak_memory_bytes / 2**20 for p in s.points],
        marker="s",
        color=PGBULK_COLOUR,
        label="peak memory (MiB)",
    )
    memory.axhline(1024, color=PGBULK_COLOUR, linestyle=":", linewidth=1)
    memory.set_ylim(0, max(1024, *(p.peak_memory_bytes / 2**20 for p in s.points)) * 1.15)
    memory.set_ylabel("peak memory of all processes, MiB (limit 1024)", color=PGBULK_COLOUR)
    right.set_title("throughput and memory")
    right.grid(alpha=0.3)
    handles = right.get_legend_handles_labels()[0] + memory.get_legend_handles_labels()[0]
    right.legend(handles=handles, loc="lower right", fontsize=8)
    for ax in (left, right):
        ax.set_xticks(users, [count_label(u) for u in users])
        ax.xaxis.set_minor_locator(NullLocator())
    busy = _busy_title(s.machine_before, _cpu_of_points(s))
    fig.suptitle(
        f"pgbulk load, {s.workers} workers, PostgreSQL {s.server['version']}, "
        f"{s.machine_before['cpus']} CPUs{busy}",
        fontsize=11,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_scaling(s: Scaling, out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "scaling.json", out / "scaling.md"]
    paths[0].write_text(json.dumps(s.to_dict(), indent=2) + "\n")
    paths[1].write_text(scaling_markdown(s))
    if _have_matplotlib() and s.points:
        scaling_chart(s, out / "scaling.png")
        paths.append(out / "scaling.png")
    return paths


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def main(argv: list[str]) -> int:
    from benchmarks.compare import Comparison
    from benchmarks.scaling import Scaling

    for name in argv:
        path = Path(name)
        data = json.loads(path.read_text())
        if "points" in data:
            written = write_scaling(Scaling.from_dict(data), path.parent)
        else:
            written = write_comparison(Comparison.from_dict(data), path.parent)
        print("wrote " + ", ".join(str(p) for p in written), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
