"""``threadwire replay``: the command line over the replay projections.

Charter: ``replay FILE`` prints a readable transcript, ``--json`` exactly one
JSON object with the documented keys; standard input works; bad input prints
what was decoded, then a clear message on stderr and exit status 1; warnings
go to stderr; a missing file and usage errors exit with 2. The console script
and ``python -m threadwire.adapters`` both reach the same ``main``. No event
loop is involved: the CLI reads a file and prints.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from threadwire.adapters._cli import build_parser, main
from threadwire.protocol.projections import SUMMARY_KEYS

DATA = Path(__file__).resolve().parent.parent / "data" / "replay"
CHAT = DATA / "shared" / "chat_tools" / "sse.raw"
HITL = DATA / "shared" / "hitl" / "sse.raw"


def test_transcript(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(CHAT)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith(f"replay of {CHAT}: 59 events, last seq 59\n")
    assert "    text: Let me check the weather for you.\n" in out
    assert '    asks for get_weather({"city":"Paris"}) [call_weather_1]\n' in out
    assert '    streamed: "looking up " "Paris"\n' in out
    assert "  tools:call_weather_1 (tools): completed\n" in out
    assert out.endswith("status: completed\n")


def test_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--json", str(HITL)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    summary = json.loads(out)  # exactly one JSON object
    assert tuple(summary) == SUMMARY_KEYS
    assert summary["status"] == "completed"
    assert summary["interrupts"][0]["payload"] == {
        "question": "Approve the request?",
        "request": "deploy to prod",
    }
    assert summary["channels"]["input.requested"] == 1


def test_websocket_transcript(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--json", str(DATA / "shared" / "websocket" / "ws.jsonl")]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 67


def test_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = HITL.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    assert main(["replay", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["events"] == 15


def test_truncated_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    data = HITL.read_bytes()
    cut = data.index(b"id: 3\r\n") + 3  # in the middle of event 3's block
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data[:cut])))
    assert main(["replay", "--json", "-"]) == 1
    out, err = capsys.readouterr()
    summary = json.loads(out)  # what could be decoded is printed first
    assert summary["events"] == 2 and summary["status"] == "running"
    assert err.startswith("threadwire replay: standard input: the input is truncated:")


def test_not_an_event_stream(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "body.txt"
    path.write_text("<html>nope</html>\n")
    assert main(["replay", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.startswith(f"replay of {path}: 0 events")
    assert "neither an SSE event stream" in err


def test_an_http_error_body(capsys: pytest.CaptureFixture[str]) -> None:
    path = DATA / "shared" / "errors" / "sse_unknown_channel.raw"
    assert main(["replay", "--json", str(path)]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out)["events"] == 0
    assert "line 1: neither a protocol message (no 'type')" in err
    assert err.count("\n") == 1


def test_warnings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(DATA / "captures" / "fanout.sse.raw")]) == 0
    out, err = capsys.readouterr()
    assert "  [root] ai (error)\n" in out
    assert err.startswith("threadwire replay: warning: a 'content-block-start' event without")


def test_missing_file_and_usage(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["replay", str(tmp_path / "missing.raw")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main([]) == 2
    assert "usage: threadwire" in capsys.readouterr().err
    assert main(["replay", "--help"]) == 0
    assert "--json" in capsys.readouterr().out
    assert main(["--help"]) == 0
    assert "replay" in capsys.readouterr().out


def test_broken_pipe(monkeypatch: pytest.MonkeyPatch) -> None:
    parser = build_parser()
    args = parser.parse_args(["replay", str(CHAT)])

    def broken(_: object) -> int:
        raise BrokenPipeError

    monkeypatch.setattr("threadwire.adapters._cli.build_parser", lambda: _Fixed(args, broken))
    closed = io.StringIO()
    monkeypatch.setattr(sys, "stderr", closed)
    assert main(["replay", str(CHAT)]) == 1
    assert closed.closed


class _Fixed:
    def __init__(self, args: object, run: object) -> None:
        self._args = args
        self._args.run = run  # type: ignore[attr-defined]

    def parse_args(self, argv: object) -> object:
        return self._args


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONIOENCODING": "utf-8"}


def test_console_script_and_module() -> None:
    script = Path(sys.executable).with_name("threadwire")
    for command in ([str(script)], [sys.executable, "-m", "threadwire.adapters"]):
        done = subprocess.run(
            [*command, "replay", "--json", str(CHAT)],
            capture_output=True,
            text=True,
            env=_env(),
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        summary = json.loads(done.stdout)
        assert [m["text"] for m in summary["messages"]][-1] == (
            "The weather in Paris is sunny and 21 degrees."
        )
