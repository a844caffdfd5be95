"""What this machine charges for memory it has not touched lately.

    .venv/bin/python -m benchmarks.first_touch [--mib 1024] [--probes 4] [--pause 5]

On a virtual machine that hands its free pages back to the host (here: a Firecracker
guest booted with free page reporting), the first write to such a page faults on the
host, which backs and zeroes it again; a page written a moment ago costs nothing of the
kind. A load writes gigabytes of fresh pages (the heaps and indexes into the page cache,
the sorts' memory and temporary files), so this hidden cost is part of every step's time,
and it moves with how much memory the host took back since the last run: the reason one
index build here takes 12 s in one round and 23 s in the next.

Each probe, ``--pause`` seconds after the last, times:

- ``anon``: writing ``--mib`` MiB of a fresh anonymous mapping, then writing it again
  (the second pass is the cost of the bytes alone);
- ``file``: writing a new file of that size in ``--dir`` (the page cache, as a heap or an
  index build writes), then overwriting it in place.

It prints seconds per GiB for each; ``--json`` prints the probes instead.
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

_BLOCK = 1 << 20  # written in 1 MiB pieces, as a server writes its files in runs of pages


@dataclass(frozen=True)
class Probe:
    mib: int
    anon_first_s: float
    anon_again_s: float
    file_first_s: float
    file_again_s: float

    def per_gib(self, seconds: float) -> float:
        return seconds * 1024 / self.mib


def _fill(view: memoryview, block: bytes) -> float:
    started = time.perf_counter()
    for offset in range(0, len(view), len(block)):
        view[offset : offset + len(block)] = block
    return time.perf_counter() - started


def _anon(nbytes: int, block: bytes) -> tuple[float, float]:
    with mmap.mmap(-1, nbytes) as area:
        view = memoryview(area)
        try:
            return _fill(view, block), _fill(view, block)
        finally:
            view.release()


def _write_file(fd: int, nbytes: int, block: bytes) -> float:
    started = time.perf_counter()
    for offset in range(0, nbytes, len(block)):
        os.pwrite(fd, block, offset)
    return time.perf_counter() - started


def _file(directory: Path, nbytes: int, block: bytes) -> tuple[float, float]:
    fd, name = tempfile.mkstemp(prefix="pgbulk-first-touch-", dir=directory)
    try:
        return _write_file(fd, nbytes, block), _write_file(fd, nbytes, block)
    finally:
        os.close(fd)
        os.unlink(name)


def probe(mib: int, directory: Path) -> Probe:
    """One probe: ``mib`` MiB of fresh anonymous memory and of a fresh file, each twice."""
    nbytes = mib * _BLOCK
    block = os.urandom(_BLOCK)
    anon_first, anon_again = _anon(nbytes, block)
    file_first, file_again = _file(directory, nbytes, block)
    return Probe(mib, anon_first, anon_again, file_first, file_again)


def run(mib: int, probes: int, pause: float, directory: Path) -> list[Probe]:
    found = []
    for i in range(probes):
        if i:
            time.sleep(pause)
        found.append(probe(mib, directory))
    return found


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--mib", type=int, default=1024, help="MiB written per probe")
    p.add_argument("--probes", type=int, default=4)
    p.add_argument("--pause", type=float, default=5.0, help="seconds between probes")
    p.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.mib < 1 or args.probes < 1 or args.pause < 0:
        p.error("--mib and --probes must be at least 1, --pause at least 0")
    if not args.dir.is_dir():
        p.error(f"--dir {args.dir} is not a directory")
    found = run(args.mib, args.probes, args.pause, args.dir)
    if args.json:
        print(json.dumps([asdict(f) for f in found], indent=2))
        return 0
    print(f"seconds per GiB ({args.mib} MiB per probe, {args.pause:g} s apart)")
    print("probe  anon fresh  anon again  file fresh  file again")
    for i, f in enumerate(found, 1):
        cells = (f.anon_first_s, f.anon_again_s, f.file_first_s, f.file_again_s)
        print(f"{i:>5}" + "".join(f"{f.per_gib(s):>12.2f}" for s in cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
