"""The testing companion's own timer: prepared calls must not look slower than unprepared ones.

``benchmark_differentiation`` times prepared and unprepared calls of each default scenario in
interleaved rounds and reports the fastest round of each. A prepared call does strictly less
work than an unprepared one (which looks its preparation up), so on a quiet machine every
scenario should show unprepared >= prepared (within the display's two digits). This was a
2x inversion on a noisy machine before the timer took enough repeats (issue 19).

Run: python benchmarks/bench_testing_tool.py [--backend fd|jax|torch]
Prints each scenario's unprepared / prepared ratio and the smallest one.
"""

from __future__ import annotations

import argparse

import differentiation_interface as di
from differentiation_interface.testing import benchmark_differentiation, default_scenarios

BACKENDS = {
    "fd": di.AutoFiniteDiff,
    "jax": di.AutoJAX,
    "torch": di.AutoTorch,
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="fd")
    args = parser.parse_args()
    rows = benchmark_differentiation(BACKENDS[args.backend](), default_scenarios())
    prepared = {r.scenario: r.seconds for r in rows if r.prepared}
    unprepared = {r.scenario: r.seconds for r in rows if not r.prepared}
    ratios = {name: unprepared[name] / prepared[name] for name in prepared}
    print("| scenario | prepared | unprepared | unprepared / prepared |")
    print("|---|---|---|---|")
    for name, ratio in sorted(ratios.items(), key=lambda kv: kv[1]):
        times = f"{prepared[name] * 1e6:.1f} µs | {unprepared[name] * 1e6:.1f} µs"
        print(f"| {name} | {times} | {ratio:.2f} |")
    print(f"\nsmallest ratio: {min(ratios.values()):.2f} (goal: >= 0.99)")


if __name__ == "__main__":
    main()
