"""Smoke runs of the network benchmarks: tiny sizes, as subprocesses.

Each benchmark is run with ``--small`` the way a developer runs it
(``python bench/X.py --small``); the test checks that it exits 0 and that its
last line is one JSON object with the figures it promises. The figures
themselves are not judged here (the machine may be loaded): the benchmarks
check their own counts and fail when a side misses an event.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
HAVE_SDK = importlib.util.find_spec("langgraph_sdk") is not None


def run_bench(name: str, *args: str, timeout: float = 180) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, str(BENCH / name), "--small", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=BENCH.parent,
    )
    assert proc.returncode == 0, f"{name} failed:\n{proc.stdout}\n{proc.stderr}"
    lines = proc.stdout.strip().splitlines()
    assert lines, f"{name} printed nothing"
    figures = json.loads(lines[-1])
    assert isinstance(figures, dict)
    return figures


def assert_keys(figures: dict[str, Any], keys: list[str]) -> None:
    missing = [key for key in keys if key not in figures]
    assert not missing, f"missing keys {missing} in {sorted(figures)}"


@pytest.mark.timeout(240)
def test_server_push_smoke() -> None:
    figures = run_bench("server_push.py")
    keys = ["tokens", "events", "append_events_per_s", "producer_events_per_s"]
    for backend in ("asyncio", "trio"):
        for k in figures["subscribers"]:
            keys += [
                f"{backend}_{k}_events_per_s",
                f"{backend}_{k}_deliveries_per_s",
                f"{backend}_{k}_vs_append",
                f"{backend}_{k}_spread",
                f"{backend}_{k}_server_cpu_share",
                f"{backend}_{k}_reader_cpu_share",
            ]
    assert_keys(figures, keys)
    assert figures["subscribers"] == [1, 10]
    assert all(figures[f"{b}_1_events_per_s"] > 0 for b in ("asyncio", "trio"))


@pytest.mark.timeout(240)
def test_end_to_end_smoke() -> None:
    figures = run_bench("end_to_end.py")
    keys = ["tokens", "events", "all_targets_met"]
    for section in ("replay", "live"):
        for backend in ("asyncio", "trio"):
            keys += [
                f"{section}_{backend}_ours_events_per_s",
                f"{section}_{backend}_lean_events_per_s",
                f"{section}_{backend}_ratio_vs_lean",
                f"{section}_{backend}_meets_lean_target",
                f"{section}_{backend}_speedup_vs_sdk",
                f"{section}_{backend}_meets_sdk_target",
            ]
        if HAVE_SDK:
            keys.append(f"{section}_sdk_events_per_s")
    assert_keys(figures, keys)
    assert figures["replay_asyncio_ours_events_per_s"] > 0


@pytest.mark.timeout(240)
def test_many_threads_smoke() -> None:
    figures = run_bench("many_threads.py")
    keys = ["streams", "events", "all_targets_met"]
    sides = ["asyncio_ours", "trio_ours"] + (["sdk", "sdk_pool"] if HAVE_SDK else [])
    for name in sides:
        keys += [
            f"{name}_completed",
            f"{name}_short",
            f"{name}_failed",
            f"{name}_unfinished",
            f"{name}_errors",
            f"{name}_seconds",
            f"{name}_rss_per_stream_peak",
            f"{name}_rss_per_stream_at_barrier",
            f"{name}_client_gc_seconds",
        ]
    for name in ("asyncio_ours", "trio_ours"):
        keys += [
            f"{name}_meets_complete_target",
            f"{name}_meets_seconds_target",
            f"{name}_meets_memory_target",
        ]
    assert_keys(figures, keys)
    # A few streams must all complete on both backends, whatever the machine's load.
    for name in ("asyncio_ours", "trio_ours"):
        assert figures[f"{name}_completed"] == figures["streams"], figures[f"{name}_errors"]
        assert figures[f"{name}_unfinished"] == 0
