"""Start-up cost of the command line: `import reconciler.cli` in a fresh interpreter.

Each sample is a whole process, `python -c 'import reconciler.cli'`, timed from just before the
fork to its exit, minus the median of bare `python -c pass` measured in alternation with it (so
both see the same machine load). Beside it, two one-shot commands as a user runs them
(`reconciler --help`, `reconciler validate` of the example desired/ directory), and the slowest
imports by cumulative time from `python -X importtime` (one run: a guide to where it goes).
Target (DESIGN.md): the import under 150 ms.

Run: `.venv/bin/python -m bench.bench_import` (`--quick`: 3 samples).
"""

from __future__ import annotations

import re
import sys

from bench.common import (
    NOISE,
    REPO,
    Finished,
    check,
    clean_env,
    command,
    median,
    quick,
    quick_note,
    run_process,
    spread,
    verdict,
)

TARGET = 0.150
BARE = "bare `python -c pass`"
FROM_SOURCE = "`import reconciler.cli`, no bytecode cache (compiles our sources)"
CASES = {
    BARE: ["-c", "pass"],
    "`import reconciler.cli`": ["-c", "import reconciler.cli"],
    FROM_SOURCE: ["-c", "import reconciler.cli"],
    "`reconciler --help`": ["-m", "reconciler", "--help"],
    "`reconciler validate desired/`": ["-m", "reconciler", "validate", str(REPO / "desired")],
}


def samples() -> int:
    return 3 if quick() else 10


def slowest_imports(count: int = 8) -> list[tuple[str, float]]:
    """(package, cumulative seconds of its first import) of the slowest third-party packages
    that `import reconciler.cli` loads itself (not through another third-party package), from
    one `python -X importtime` run."""
    done = check(run_process([sys.executable, "-X", "importtime", "-c", "import reconciler.cli"],
                             env=clean_env()), "python -X importtime")
    lines = []  # (depth, module, cumulative us), in the order printed: children first
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)$", line)
        if match:
            lines.append((len(match.group(2)) // 2, match.group(3), int(match.group(1))))
    ours = next(i for i, (_, name, _) in enumerate(lines) if name == "reconciler.cli")
    stack: list[tuple[int, str]] = []
    rows = []
    for depth, name, cumulative in reversed(lines[: ours + 1]):  # parents before children
        while stack and stack[-1][0] >= depth:
            stack.pop()
        third_party = not name.startswith("reconciler")
        below_ours = bool(stack) and stack[0][1] == "reconciler.cli"
        if below_ours and third_party and "." not in name and all(
                a.startswith("reconciler") for _, a in stack):
            rows.append((name, cumulative / 1e6))
        stack.append((depth, name))
    return sorted(rows, key=lambda r: -r[1])[:count]


def main() -> None:
    cached = clean_env()
    # No bytecode cache: how this environment (PYTHONDONTWRITEBYTECODE=1) starts our code.
    source = {k: v for k, v in cached.items() if k != "PYTHONPYCACHEPREFIX"}
    source["PYTHONDONTWRITEBYTECODE"] = "1"
    runs: dict[str, list[Finished]] = {name: [] for name in CASES}
    for _ in range(samples()):
        for name, args in CASES.items():  # alternating: every case sees the same load
            env = source if name == FROM_SOURCE else cached
            runs[name].append(check(run_process([sys.executable, *args], env=env), name))
    bare_wall = median(f.wall for f in runs[BARE])
    bare_cpu = median(f.cpu for f in runs[BARE])
    print("### Start-up: `import reconciler.cli` in a fresh interpreter\n")
    print(quick_note(), end="")
    print("| process | wall median ms | min-max ms | minus bare Python ms | CPU median ms "
          "| minus bare Python ms | target (< 150 ms) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for name, finished in runs.items():
        walls, cpus = [f.wall for f in finished], [f.cpu for f in finished]
        net_wall, net_cpu = median(walls) - bare_wall, median(cpus) - bare_cpu
        target = ""
        if name == "`import reconciler.cli`":
            target = f"wall {verdict(net_wall < TARGET)}, CPU {verdict(net_cpu < TARGET)}"
        nets = ("", "") if name == BARE else (f"{net_wall * 1000:.0f}", f"{net_cpu * 1000:.0f}")
        print(f"| {name} | {median(walls) * 1000:.0f} | {spread(walls)} | {nets[0]} | "
              f"{median(cpus) * 1000:.0f} | {nets[1]} | {target} |")
    print(f"\n{samples()} samples of each, alternating. Every process but one runs with a "
          "warm bytecode cache, as an installed package does (this environment sets "
          "PYTHONDONTWRITEBYTECODE=1, and the source tree has no __pycache__: the row 'no "
          "bytecode cache' shows what that costs). CPU is the child's user + system time "
          "(`wait4`), which other processes on the machine disturb much less than wall time. "
          "The slowest packages our modules import (cumulative time of their first import, "
          "with the packages they load; `python -X importtime`, one run): " + ", ".join(f"{m} {s * 1000:.0f} ms" for m, s in slowest_imports()) + ".")
    print(f"\n{NOISE}\n\nCommand: {command('bench_import')}\n")


if __name__ == "__main__":
    main()
