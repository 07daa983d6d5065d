"""The projections benchmark runs, small, and ends with its JSON figures.

Charter: ``bench/projections.py --events N`` works end to end on a small
corpus (in a subprocess: the benchmark may import the official SDK, which
pulls in asyncio); the last line of its output is one JSON object with the
figures, and where the SDK is installed both sides assemble the same texts.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench" / "projections.py"


def test_benchmark_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--events", "3000", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["events"] == 3000
    assert 0 < figures["message_events"] <= 3000
    assert figures["ours_events_per_s"] > 0
    assert figures["ours_peak_mb_per_1m"] >= 0
    assert set(figures["targets"]) == {"speedup_at_least_3x", "memory_at_most_50mb_per_1m"}
    if figures["sdk_events_per_s"] is not None:
        assert figures["same_texts"] is True
        assert figures["speedup"] > 0
