"""Weak scaling of a sharded gradient and hvp on 1, 2, 4 and 8 fake CPU devices.

``f(x) = sum(sin(x)**2 + x**2 / 2)`` is separable, so with ``PER_DEVICE`` elements of x on
every device a perfect partitioning keeps each device's work and memory constant as devices
are added. For each device count a fresh interpreter (JAX fixes its device count at import,
from ``XLA_FLAGS``) prepares ``di.gradient`` and ``di.hvp`` with ``AutoJAX()`` on x sharded
over a one-axis mesh and reports

* the time of a prepared call (median of ``--repeats``, results awaited);
* the per-device memory of the compiled program, from XLA's ``memory_analysis()``
  (arguments + outputs + temporaries of one device's program);
* the collectives in the compiled program (an all-gather would mean x is gathered).

Fake devices are threads of one host sharing its cores, so time grows with the device count
when the host has fewer cores than devices: the per-device memory is the scaling evidence,
the time says what one machine gives.

Run: ``python benchmarks/bench_sharding.py [--per-device 65536] [--repeats 50] [--plot]``;
prints a Markdown table, writes ``benchmarks/results/sharding.json`` and, with ``--plot``,
``docs/_static/sharding-weak-scaling.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
DEVICES = (1, 2, 4, 8)


def child(devices: int, per_device: int, repeats: int) -> dict[str, Any]:
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
    import re
    import statistics
    import time

    import jax
    import jax.numpy as jnp
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    import differentiation_interface as di

    def f(x: object) -> object:
        return jnp.sum(jnp.sin(x) ** 2 + 0.5 * x**2)

    mesh = jax.make_mesh((devices,), ("d",))
    sharding = NamedSharding(mesh, P("d"))
    n = devices * per_device
    x = jax.device_put(jnp.linspace(-1.0, 1.0, n, dtype=jnp.float32), sharding)
    t = jax.device_put(jnp.cos(jnp.arange(n, dtype=jnp.float32)), sharding)
    rows: dict[str, Any] = {"devices": devices, "n": n}
    cases = {
        "gradient": (
            di.prepare_gradient(f, di.AutoJAX(), x),
            lambda p: di.gradient(f, di.AutoJAX(), x, prep=p),
            (x,),
        ),
        "hvp": (
            di.prepare_hvp(f, di.AutoJAX(), x, (t,)),
            lambda p: di.hvp(f, di.AutoJAX(), x, (t,), prep=p)[0],
            (x, jnp.stack([t])),
        ),
    }
    for name, (prep, call, args) in cases.items():
        compiled = prep.plan.plain.lower(*args).compile()
        memory = compiled.memory_analysis()
        per_device_bytes = (
            memory.argument_size_in_bytes + memory.output_size_in_bytes + memory.temp_size_in_bytes
        )
        text = compiled.as_text()
        found = sorted(
            set(re.findall(r"\b(all-gather|all-to-all|all-reduce|collective-permute)", text))
        )
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(call(prep))
            times.append(time.perf_counter() - start)
        rows[name] = {
            "time_us": statistics.median(times) * 1e6,
            "bytes_per_device": per_device_bytes,
            "collectives": found,
        }
    return rows


def table(results: list[dict[str, Any]]) -> str:
    header = (
        "| devices | n (x.size) | gradient time | gradient memory / device "
        "| hvp time | hvp memory / device | collectives |"
    )
    lines = [header, "|---:|---:|---:|---:|---:|---:|---|"]
    for r in results:
        cells = [str(r["devices"]), str(r["n"])]
        for name in ("gradient", "hvp"):
            cells += [
                f"{r[name]['time_us']:.0f} µs",
                f"{r[name]['bytes_per_device'] / 1024:.0f} KiB",
            ]
        found = sorted(set(r["gradient"]["collectives"]) | set(r["hvp"]["collectives"]))
        cells.append(", ".join(found) or "none")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: list[dict[str, Any]], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    devices = [r["devices"] for r in results]
    fig, (ax_t, ax_m) = plt.subplots(1, 2, figsize=(9, 3.4))
    for name in ("gradient", "hvp"):
        ax_t.plot(devices, [r[name]["time_us"] for r in results], "o-", label=name)
        ax_m.plot(devices, [r[name]["bytes_per_device"] / 1024 for r in results], "o-", label=name)
    for ax, title in ((ax_t, "time of a prepared call (µs)"), (ax_m, "memory per device (KiB)")):
        ax.set_xscale("log", base=2)
        ax.set_xticks(devices, [str(d) for d in devices])
        ax.set_xlabel("fake CPU devices (fixed size per device)")
        ax.set_title(title, fontsize=10)
        ax.set_ylim(bottom=0, top=ax.get_ylim()[1] * 1.3)  # room for the legend
        ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-device", type=int, default=2**16)
    parser.add_argument("--repeats", type=int, default=50)
    parser.add_argument("--plot", action="store_true")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.per_device, args.repeats)))
        return
    results = []
    env = dict(os.environ)
    env.pop("XLA_FLAGS", None)
    env["JAX_PLATFORMS"] = "cpu"
    for devices in DEVICES:
        done = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                str(devices),
                "--per-device",
                str(args.per_device),
                "--repeats",
                str(args.repeats),
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            check=True,
        )
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    print(f"x.size per device: {args.per_device} (float32)\n")
    print(table(results))
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "sharding.json"), "w") as out:
        json.dump(results, out, indent=1)
    if args.plot:
        path = os.path.join(HERE, "..", "docs", "_static", "sharding-weak-scaling.png")
        plot(results, path)
        print(f"\nplot: {os.path.normpath(path)}")


if __name__ == "__main__":
    main()
