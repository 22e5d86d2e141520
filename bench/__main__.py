"""Run every benchmark in bench/ and print one table: ``python -m bench [--quick] [NAME ...]``.

NAME is ``alerts``, ``signals``, ``tips``, ``waves``, ``rate``, ``public``, ``national``
or ``partition`` (default: all). ``national`` and ``partition`` run at their ``--quick``
size unless named (``make bench-national``: 2M recipients among 10M addresses, ~15
minutes or more; ``python -m bench partition``: migration 0032 on 1M and 2M deliveries).
Each runs as its own process (``python -m bench.bench_NAME --json FILE``) with its own
embedded PostgreSQL and simulator; its full report is printed as it goes. At the end one
table lists every figure with the reference measured in the same run and the goal, and
``bench/results/latest.json`` gets the machine, the versions and every figure (or the
file named by ``--out``). Benchmarks print figures; they do not pass or fail: the exit
status is non-zero only when a benchmark could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common import figures_table, machine_info, versions

KNOWN = ("alerts", "signals", "tips", "waves", "rate", "public", "national", "partition")
# full size only when named: the default run stays short
QUICK_UNLESS_NAMED = ("national", "partition")
RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", choices=[*KNOWN, []], metavar="NAME", help=", ".join(KNOWN))
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a few minutes in all)")
    parser.add_argument("--out", type=Path, default=RESULTS, help=f"JSON results (default {RESULTS})")
    args = parser.parse_args(argv)
    chosen = args.names or list(KNOWN)
    started = time.perf_counter()
    doc = {
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine_info(),
        "versions": versions(),
        "figures": [],
        "benchmarks": {},
        "failed": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        for name in chosen:
            out = Path(tmp) / f"{name}.json"
            cmd = [sys.executable, "-m", f"bench.bench_{name}", "--json", str(out)]
            if args.quick or (name in QUICK_UNLESS_NAMED and name not in args.names):
                cmd.append("--quick")
            print(f"\n=== bench.bench_{name}{' --quick' if args.quick else ''}", flush=True)
            t0 = time.perf_counter()
            code = subprocess.run(cmd, check=False).returncode
            seconds = time.perf_counter() - t0
            print(f"=== bench.bench_{name}: {seconds:.0f} s (exit {code})", flush=True)
            if code != 0 or not out.exists():
                doc["failed"].append(name)
                continue
            result = json.loads(out.read_text())
            result["seconds"] = seconds
            doc["benchmarks"][name] = result
            doc["figures"].extend(result.get("figures", []))
    doc["seconds"] = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2, default=str) + "\n")

    m = doc["machine"]
    print(f"\n# Burgerwacht benchmarks{' (--quick)' if args.quick else ''}\n")
    print(f"{m['date']} · {m['cpu']} · {m['memory']} · {m['os']}")
    print(" · ".join(f"{k} {v}" for k, v in doc["versions"].items()))
    print(f"load average at start {m['load_average']} · {doc['seconds']:.0f} s in all\n")
    print(figures_table(doc["figures"]))
    print(f"\nWritten to {args.out}.")
    if doc["failed"]:
        print(f"bench: could not run: {', '.join(doc['failed'])}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
