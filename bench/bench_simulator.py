"""Clean-domain simulator throughput (target: >= 500 images/s of 128x128 on 2 CPU cores).

    python bench/bench_simulator.py [--count 2000] [--repeats 5] [--threads 2]

Prints the median images/s over the repeats, the machine and the date.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=128)
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    from noise2atom.data import simulate_clean  # after the thread settings

    simulate_clean(64, size=args.size, seed=0)  # warm-up
    rates = []
    for r in range(args.repeats):
        t = time.perf_counter()
        simulate_clean(args.count, size=args.size, seed=r)
        rates.append(args.count / (time.perf_counter() - t))
    print(f"simulate_clean {args.size}x{args.size}: median {statistics.median(rates):.0f} images/s "
          f"(min {min(rates):.0f}, max {max(rates):.0f}; {args.repeats} repeats of {args.count}, "
          f"{args.threads} threads; {os.cpu_count()} cores visible)")
    print(f"machine: {platform.machine()} {platform.processor() or ''} {platform.system()} "
          f"python {platform.python_version()}; date {datetime.date.today().isoformat()}")


if __name__ == "__main__":
    main()
