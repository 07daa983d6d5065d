"""Rebuild the seed corpus in fuzz/corpus/<harness>/ from tests/data/fixtures.

Run from the repository root: ``python fuzz/make_corpus.py``. It deletes and
rewrites the three seed folders; file names are content hashes, so rerunning it
on the same fixtures changes nothing.

* ``fuzz_sse``: the real captures up to 4 KiB, the first blocks of the larger
  ones, and hand-written streams for the corners of the SSE grammar.
* ``fuzz_codec``: distinct frames, one per file: SSE ``data`` fields, WebSocket
  frames in both directions, and the command requests and responses.
* ``fuzz_session``: the ``fuzz_sse`` captures, plus each WebSocket connection's
  received frames re-framed as one event stream (replies included), plus
  replies to the harness's pending command ids.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

from threadwire.protocol import SSEMessage, SSEParser, serialize_message

ROOT = Path(__file__).resolve().parent
FIXTURES = ROOT.parent / "tests" / "data" / "fixtures"
MAX_SEED = 4096

EDGE_STREAMS = [
    b"event: values\rdata: {}\rid: 1\r\r",
    b"\xef\xbb\xbfdata: a\n\n: heartbeat\r\n\r\n",
    b"data: one\ndata: two\nid: 2\x003\n\nid:\ndata: three\n\n",
    b"retry: 5000\n\nretry: +5\n\nevent\ndata\n\n",
    b'event: lifecycle\ndata: {"type":"event","method":"lifecycle"\ndata: ,"params":{}}\n\n',
    b"data: truncated",
    "data: a\u2028b\u2029c\n\n".encode(),
]

REPLIES = [
    b'{"type":"success","id":1,"result":{"run_id":"r1"},"meta":{"applied_through_seq":0}}',
    b'{"type":"error","id":2,"error":"no_such_interrupt","message":"Unknown interrupt"}',
    b'{"type":"success","id":3,"result":{"subscription_id":"s","replayed_events":0}}',
    b'{"type":"error","id":4,"error":"resume_gap","message":"gap","since":0,"min_available_seq":9}',
    b'{"type":"success","id":5,"result":{"tree":{"namespace":[],"status":"running"}}}',
    b'{"type":"error","id":null,"error":"invalid_argument",'
    b'"message":"Protocol commands must be valid JSON."}',
]


def _write(folder: Path, data: bytes) -> None:
    (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def _messages(wire: bytes) -> list[SSEMessage]:
    parser = SSEParser()
    if wire:
        parser.receive_data(wire)
    parser.receive_data(b"")
    return [m for m in parser.events() if isinstance(m, SSEMessage)]


def _head(wire: bytes) -> bytes:
    """The longest prefix of whole blocks that fits in a seed."""
    cut = wire.rfind(b"\r\n\r\n", 0, MAX_SEED)
    return wire[: cut + 4] if cut >= 0 else wire[:MAX_SEED]


def _shape(frame: bytes) -> object:
    """Frames of one shape teach the fuzzer the same thing: keep one of each."""
    try:
        obj = json.loads(frame)
    except ValueError:
        return frame
    if not isinstance(obj, dict):
        return frame
    params = obj.get("params") if isinstance(obj.get("params"), dict) else {}
    data = params.get("data")
    if not isinstance(data, dict):
        return (obj.get("type"), obj.get("method"), sorted(obj), sorted(params))
    delta = data.get("delta") if isinstance(data.get("delta"), dict) else {}
    return (
        obj.get("type"),
        obj.get("method"),
        bool(params.get("namespace")),
        sorted(data),
        data.get("event"),
        delta.get("type"),
    )


def _ws_frames() -> list[dict[str, str]]:
    frames = []
    for path in sorted(FIXTURES.glob("*/ws.jsonl")):
        frames.extend(json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return [f for f in frames if f["dir"] in ("send", "recv")]


def main() -> None:
    folders = {name: ROOT / "corpus" / name for name in ("fuzz_sse", "fuzz_codec", "fuzz_session")}
    for folder in folders.values():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)

    streams = [_head(p.read_bytes()) for p in sorted(FIXTURES.glob("*/*.raw"))]
    for wire in [*streams, *EDGE_STREAMS]:
        _write(folders["fuzz_sse"], wire)
        _write(folders["fuzz_session"], wire)

    frames = {
        m.data.encode() for p in sorted(FIXTURES.glob("*/*.raw")) for m in _messages(p.read_bytes())
    }
    frames |= {f["text"].encode() for f in _ws_frames()}
    for path in sorted(FIXTURES.glob("*/commands.jsonl")):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            if row["kind"] == "command":
                frames.add(row["request"].encode())
                frames.add(json.dumps(row["response"], separators=(",", ":")).encode())
    shapes: dict[str, bytes] = {}
    for frame in sorted(frames, key=len):
        shapes.setdefault(repr(_shape(frame)), frame)
    for frame in shapes.values():
        _write(folders["fuzz_codec"], frame)

    by_conn: dict[str, list[bytes]] = {}
    for frame in _ws_frames():
        if frame["dir"] == "recv":
            by_conn.setdefault(frame["conn"], []).append(
                serialize_message(frame["text"], event="message")
            )
    for blocks in by_conn.values():
        _write(folders["fuzz_session"], _head(b"".join(blocks)))
    _write(folders["fuzz_session"], b"".join(serialize_message(r.decode()) for r in REPLIES))

    for name, folder in folders.items():
        print(f"{name}: {len(list(folder.iterdir()))} seeds")


if __name__ == "__main__":
    main()
