"""Run every benchmark in bench/: ``python -m bench [--quick] [NAME ...]``.

NAME is ``alerts``, ``signals`` or ``tips`` (default: every ``bench_*`` module that
exists). The remaining options (``--quick``, ...) are passed to each module's ``main()``.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import inspect
import sys
import time
import traceback

KNOWN = ("alerts", "signals", "tips")


def _call_main(module: object, argv: list[str]) -> None:
    """``main(argv)`` when it takes arguments, else ``main()`` with ``sys.argv`` set;
    a coroutine function is run with ``asyncio.run``."""
    main = module.main  # type: ignore[attr-defined]
    saved = sys.argv
    sys.argv = [f"bench.{module.__name__.rsplit('.', 1)[-1]}", *argv]  # type: ignore[attr-defined]
    try:
        result = main(argv) if inspect.signature(main).parameters else main()
        if inspect.isawaitable(result):
            asyncio.run(result)
    finally:
        sys.argv = saved


def run(args: list[str]) -> int:
    names = [a for a in args if a in KNOWN]
    passthrough = [a for a in args if a not in KNOWN]
    if "-h" in passthrough or "--help" in passthrough:
        print(__doc__)
        return 0
    chosen = names or [n for n in KNOWN if importlib.util.find_spec(f"bench.bench_{n}") is not None]
    failed = []
    for name in chosen:
        module_name = f"bench.bench_{name}"
        if importlib.util.find_spec(module_name) is None:
            print(f"bench: no module {module_name}", file=sys.stderr)
            failed.append(name)
            continue
        print(f"\n=== {module_name} {' '.join(passthrough)}".rstrip(), flush=True)
        started = time.perf_counter()
        try:
            _call_main(importlib.import_module(module_name), passthrough)
        except SystemExit as exc:
            if exc.code not in (0, None):
                failed.append(name)
        except Exception:
            traceback.print_exc()
            failed.append(name)
        print(f"=== {module_name}: {time.perf_counter() - started:.0f} s", flush=True)
    if failed:
        print(f"bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
