"""``python -m bench`` (``make bench``): every benchmark, one after the other, each printing its ratios."""

from __future__ import annotations

import importlib
import sys

BENCHMARKS = ("bench.bench_validation", "bench.bench_auth", "bench.bench_api", "bench.bench_webhooks",
              "bench.bench_serving", "bench.bench_fms", "bench.bench_freeze")


def main() -> int:
    for name in BENCHMARKS:
        print(f"=== {name} ===", flush=True)
        module = importlib.import_module(name)
        status = module.main()
        if status:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
