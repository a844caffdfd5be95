"""How faithful ``pgbulk spec import`` is on real data: TPC-H ingested, imported, generated
again at the same scale into another database, compared.

    .venv/bin/python -m benchmarks.catalog_import --sf 1 [--dsn DSN] [--data DIR]

Steps (each timed): tpchgen-cli's Parquet (made once under ``--data``) ingested into a
database ``tpch_src`` with TPC-H's keys and foreign keys, ANALYZEd; ``pgbulk spec import``
(catalog reads, pg_stats and one aggregate per foreign key); ``pgbulk load --spec`` at the
scale that makes the source's row counts into ``tpch_syn`` (with its keys and foreign
keys, which PostgreSQL validates); ``pgbulk spec compare``; EXPLAIN of the 22 TPC-H
queries on both sides. Writes ``benchmarks/results/catalog-import-sf<SF>.json`` and
``.md`` (the tables docs/catalog-import.md quotes).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.target import machine, open_server
from benchmarks.tpch import keys_hold, load_tpch, tpchgen
from benchmarks.tpch_queries import QUERIES, estimated_rows, scan_rows
from pgbulk.catalog import import_spec
from pgbulk.catalog.compare import Comparison, compare
from pgbulk.load import load
from pgbulk.spec import load_spec

RESULTS = Path(__file__).parent / "results"


def explain_ratios(dsn_a: str, dsn_b: str) -> dict[int, dict[str, Any]]:
    """Per query, the estimated rows of EXPLAIN's top node on both sides and B / A, and
    the worst B / A over its table scans (the farthest from 1)."""
    out: dict[int, dict[str, Any]] = {}
    with psycopg.connect(dsn_a) as a, psycopg.connect(dsn_b) as b:
        for number, query in QUERIES.items():
            ra, rb = estimated_rows(a, query), estimated_rows(b, query)
            sa, sb = scan_rows(a, query), scan_rows(b, query)
            scans = [sb[k] / sa[k] for k in sa.keys() & sb.keys() if sa[k] > 0]
            worst = max(scans, key=lambda r: max(r, 1 / r) if r > 0 else float("inf"), default=None)
            out[number] = {
                "a": ra,
                "b": rb,
                "ratio": rb / ra if ra else float("inf"),
                "scans": len(scans),
                "worst_scan_ratio": worst,
                "scan_rows": {k: [sa[k], sb.get(k)] for k in sa},
            }
    return out


def within_2x(ratio: float) -> bool:
    return 0.5 <= ratio <= 2


def summary(c: Comparison) -> dict[str, Any]:
    """Per distance, the median, the 90th percentile, the worst column and how many there are."""
    out: dict[str, Any] = {}
    for name in ("null", "distinct", "mcv", "histogram"):
        values = [(getattr(d, name), f"{d.table}.{d.column}") for d in c.columns]
        known = sorted((v, w) for v, w in values if v is not None)
        if not known:
            continue
        xs = [v for v, _ in known]
        out[name] = {
            "columns": len(xs),
            "median": statistics.median(xs),
            "p90": xs[min(len(xs) - 1, int(0.9 * len(xs)))],
            "worst": known[-1][0],
            "worst_column": known[-1][1],
        }
    return out


def markdown(result: dict[str, Any]) -> str:
    lines = [
        f"# spec import, TPC-H SF{result['sf']:g}",
        "",
        f"import {result['import_seconds']:.2f} s; load {result['load_seconds']:.1f} s;"
        f" keys and foreign keys validated on the synthetic side: {len(result['keys_syn'])}",
        "",
        "| table | rows source | rows synthetic |",
        "|---|---:|---:|",
    ]
    for t in result["comparison"]["tables"]:
        lines.append(f"| {t['table']} | {t['rows_a']:,} | {t['rows_b']:,} |")
    lines += ["", "| column | null | distinct B/A | mcv | histogram |", "|---|---:|---:|---:|---:|"]

    def f(x: float | None, spec: str = ".4f") -> str:
        return "-" if x is None else format(x, spec)

    for c in result["comparison"]["columns"]:
        lines.append(
            f"| {c['table']}.{c['column']} | {f(c['null'])} | {f(c['distinct_ratio'], '.3f')}"
            f" | {f(c['mcv'])} | {f(c['histogram'])} |"
        )
    lines += ["", "| foreign key | children per parent KS | TV |", "|---|---:|---:|"]
    for k in result["comparison"]["foreign_keys"]:
        name = f"{k['table']}({', '.join(k['columns'])}) -> {k['ref_table']}"
        lines.append(f"| {name} | {f(k['children_ks'])} | {f(k['children_tv'])} |")
    lines += [
        "",
        "| query | estimated rows source | synthetic | B/A | table scans | worst scan B/A |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for q, e in result["explain"].items():
        lines.append(
            f"| Q{q} | {e['a']:,.0f} | {e['b']:,.0f} | {e['ratio']:.2f} | {e['scans']}"
            f" | {f(e['worst_scan_ratio'], '.2f')} |"
        )
    n = len(result["explain"])
    compared = sum(e["worst_scan_ratio"] is not None for e in result["explain"].values())
    lines += [
        "",
        f"top node within 2x: {result['explain_within_2x']} of {n};"
        f" every table scan within 2x: {result['explain_scans_within_2x']} of the {compared}"
        " queries with scans restricted by their own conditions on both sides",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sf", type=float, default=1.0)
    parser.add_argument("--dsn", help="a server (default: the embedded one under --data-dir)")
    parser.add_argument("--data-dir", default="/tmp/import-bench-pg")
    parser.add_argument("--data", default="/tmp/import-bench-data", help="tpchgen-cli's files")
    parser.add_argument("--no-values", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep tpch_src and tpch_syn")
    args = parser.parse_args()
    parquet = tpchgen(args.sf, Path(args.data))
    spec_path = Path(args.data) / f"tpch-sf{args.sf:g}.toml"
    result: dict[str, Any] = {"sf": args.sf, "machine": machine(), "no_values": args.no_values}
    with (
        open_server(args.dsn, args.data_dir) as server,
        server.fresh_database("tpch_src", keep=args.keep) as src,
        server.fresh_database("tpch_syn", keep=args.keep) as syn,
    ):
        started = time.perf_counter()
        load_tpch(src, parquet)
        result["ingest_seconds"] = time.perf_counter() - started
        started = time.perf_counter()
        fitted = import_spec(src, spec_path, no_values=args.no_values, name="tpch")
        result["import_seconds"] = time.perf_counter() - started
        result["problems"] = fitted.problems
        result["scale"] = fitted.scale
        started = time.perf_counter()
        load(syn, dataset=load_spec(spec_path), scale=fitted.scale, workers=2)
        result["load_seconds"] = time.perf_counter() - started
        result["keys_src"], result["keys_syn"] = keys_hold(src), keys_hold(syn)
        comparison = compare(src, syn)
        result["comparison"] = comparison.as_dict()
        result["summary"] = summary(comparison)
        explain = explain_ratios(src, syn)
        result["explain"] = explain
        result["explain_within_2x"] = sum(within_2x(e["ratio"]) for e in explain.values())
        result["explain_scans_within_2x"] = sum(
            e["worst_scan_ratio"] is not None and within_2x(e["worst_scan_ratio"])
            for e in explain.values()
        )
    RESULTS.mkdir(exist_ok=True)
    stem = f"catalog-import-sf{args.sf:g}" + ("-no-values" if args.no_values else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=2, default=str))
    (RESULTS / f"{stem}.md").write_text(markdown(result))
    print(markdown(result))
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
