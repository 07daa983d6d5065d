#!/usr/bin/env python3
"""Capture raw v3 SSE streams from a real LangGraph Agent Server.

Standard library only (``http.client``). For every scenario it:

1. creates a thread (``POST /threads``),
2. opens ``POST /threads/{id}/stream/events`` with every channel,
3. sends ``run.start`` over ``POST /threads/{id}/commands``,
4. reads the SSE until the root terminal lifecycle event (namespace ``[]``,
   ``completed``/``failed``/``interrupted``) plus a short grace period,
   answering interrupts with ``input.respond`` (single or batch) and then
   reading until the resumed run terminates,
5. writes the response body exactly as received to
   ``captures/<scenario>.sse.raw`` and a small ``<scenario>.meta.json``
   (thread id, commands and responses, per-channel counts).

Usage::

    python tests/interop/capture.py                      # all scenarios
    python tests/interop/capture.py chat_tools hitl      # some
    python tests/interop/capture.py --url http://127.0.0.1:2024   # existing server
    python tests/interop/capture.py --venv /tmp/lgserver --save-long

``long_run`` is captured and summarised, but its raw SSE (~1.5 MB) is only
written with ``--save-long``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from server import DEFAULT_GRAPHS_DIR, DEFAULT_VENV_DIR, start_langgraph_dev  # noqa: E402

ALL_CHANNELS = [
    "values",
    "updates",
    "messages",
    "tools",
    "custom",
    "lifecycle",
    "input",
    "tasks",
    "checkpoints",
]
TERMINAL = {"completed", "failed", "interrupted"}

# scenario name -> (assistant_id, run input, how to answer interrupts)
#   respond: None (no interrupts expected) | "single" | "batch"
#   expect_interrupts: number of input.requested to wait for before answering
SCENARIOS: dict[str, dict[str, Any]] = {
    "chat_tools": {
        "assistant_id": "chat_tools",
        "input": {"messages": [{"role": "user", "content": "What is the weather in Paris?"}]},
    },
    "hitl": {
        "assistant_id": "hitl",
        "input": {"request": "deploy to prod"},
        "respond": "single",
        "responses": [{"approved": True}],
        "replay": True,
    },
    "hitl_parallel": {
        "assistant_id": "hitl_parallel",
        "input": {"request": "two approvals"},
        "respond": "batch",
        "expect_interrupts": 2,
        # answered in the order of the interrupt payload's "branch"
        "responses_by_branch": {"a": "yes-a", "b": "yes-b"},
    },
    "hitl_subgraph": {
        "assistant_id": "hitl_subgraph",
        "input": {"request": "nested approval"},
        "respond": "single",
        "responses": ["sub-ok"],
    },
    "nested": {
        "assistant_id": "nested",
        "input": {"messages": [{"role": "user", "content": "hi"}]},
    },
    "custom": {"assistant_id": "custom", "input": {"task": "index"}, "replay": True},
    "failing": {"assistant_id": "failing", "input": {"x": 1}},
    "failing_midstream": {"assistant_id": "failing_midstream", "input": {"x": 1}},
    "long_run": {
        "assistant_id": "long_run",
        "input": {"n_tokens": 2000, "delay_ms": 1},
        "large": True,
    },
    "fanout": {"assistant_id": "fanout", "input": {"items": ["a", "b", "c"]}},
    "values": {"assistant_id": "values", "input": {"topic": "dogs"}},
    # Two runs on one thread and one SSE connection (seq keeps counting),
    # then a fresh connection that replays both runs.
    "values_two_runs": {
        "assistant_id": "values",
        "input": {"topic": "dogs"},
        "more_inputs": [{"topic": "birds"}],
        "replay": True,
    },
    "bare": {"assistant_id": "bare", "input": {"topic": "dogs"}},
}


# ---------------------------------------------------------------------------
# HTTP helpers
# ---------------------------------------------------------------------------


def _conn(base: urllib.parse.ParseResult, timeout: float) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(base.hostname, base.port, timeout=timeout)


def post_json(
    base: urllib.parse.ParseResult, path: str, body: Any, timeout: float = 30.0
) -> tuple[int, Any]:
    conn = _conn(base, timeout)
    try:
        data = json.dumps(body).encode()
        conn.request("POST", path, body=data, headers={"content-type": "application/json"})
        resp = conn.getresponse()
        raw = resp.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return resp.status, parsed
    finally:
        conn.close()


class SSEReader:
    """Reads one SSE response on a background thread, parsing as it goes.

    ``raw`` holds the body bytes exactly as received (after HTTP
    de-chunking); ``events`` the parsed envelopes in arrival order.
    Lines are split on CR, LF and CRLF only (never on U+2028 etc.).
    """

    def __init__(
        self, base: urllib.parse.ParseResult, thread_id: str, body: dict[str, Any]
    ) -> None:
        self.base = base
        self.path = f"/threads/{urllib.parse.quote(thread_id, safe='')}/stream/events"
        self.body = body
        self.raw = bytearray()
        self.events: list[dict[str, Any]] = []
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.closed_by_server = False
        self.error: BaseException | None = None
        self._cond = threading.Condition()
        self._ready = threading.Event()
        self._stop = False
        self._conn = _conn(base, timeout=None)  # type: ignore[arg-type]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._pending = b""
        self._block: dict[str, str] = {}
        self._data: list[str] = []

    def start(self, wait: float = 10.0) -> None:
        self._thread.start()
        if not self._ready.wait(wait):
            raise TimeoutError("SSE response headers not received")
        if self.status != 200:
            raise RuntimeError(f"SSE request failed: HTTP {self.status}: {bytes(self.raw)!r}")

    def _run(self) -> None:
        try:
            self._conn.request(
                "POST",
                self.path,
                body=json.dumps(self.body).encode(),
                headers={
                    "content-type": "application/json",
                    "accept": "text/event-stream",
                    "cache-control": "no-store",
                },
            )
            resp = self._conn.getresponse()
            self.status = resp.status
            self.headers = {k.lower(): v for k, v in resp.getheaders()}
            self._ready.set()
            while not self._stop:
                chunk = resp.read1(65536)
                if not chunk:
                    self.closed_by_server = not self._stop
                    break
                with self._cond:
                    self.raw.extend(chunk)
                    self._feed(chunk)
                    self._cond.notify_all()
        except BaseException as exc:
            if not self._stop:
                self.error = exc
        finally:
            self._ready.set()
            with self._cond:
                self._cond.notify_all()

    def _feed(self, chunk: bytes) -> None:
        buf = self._pending + chunk
        lines: list[bytes] = []
        start = 0
        i = 0
        n = len(buf)
        while i < n:
            c = buf[i]
            if c == 0x0A or c == 0x0D:
                if c == 0x0D and i + 1 >= n:
                    break  # a CR at the end: wait to see whether LF follows
                lines.append(buf[start:i])
                if c == 0x0D and buf[i + 1] == 0x0A:
                    i += 1
                start = i + 1
            i += 1
        self._pending = buf[start:]
        for line in lines:
            self._line(line.decode("utf-8"))

    def _line(self, line: str) -> None:
        if line == "":
            if self._data:
                data = "\n".join(self._data)
                try:
                    obj = json.loads(data)
                except ValueError:
                    obj = {"_unparsed": data}
                if isinstance(obj, dict):
                    obj.setdefault("_sse_event", self._block.get("event"))
                    self.events.append(obj)
            self._block = {}
            self._data = []
            return
        if line.startswith(":"):
            return
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        else:
            self._block[name] = value

    def wait_for(self, pred, timeout: float) -> bool:
        """Wait until ``pred(events)`` is true (checked on every arrival)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if pred(self.events):
                    return True
                if self.error is not None or not self._thread.is_alive():
                    return pred(self.events)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.5))

    def close(self) -> None:
        self._stop = True
        try:
            if self._conn.sock is not None:
                import socket

                self._conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._conn.close()
        self._thread.join(5)


def root_terminals(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for e in events:
        if e.get("method") != "lifecycle":
            continue
        p = e.get("params") or {}
        if p.get("namespace") == [] and (p.get("data") or {}).get("event") in TERMINAL:
            out.append(e)
    return out


def input_requests(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e.get("method") == "input.requested"]


# ---------------------------------------------------------------------------
# One scenario
# ---------------------------------------------------------------------------


def capture(
    base_url: str,
    name: str,
    spec: dict[str, Any],
    out_dir: Path,
    *,
    grace: float = 1.5,
    timeout: float = 60.0,
    save_large: bool = False,
) -> dict[str, Any]:
    base = urllib.parse.urlparse(base_url)
    commands: list[dict[str, Any]] = []
    next_id = 1

    def command(thread_id: str, method: str, params: dict[str, Any]) -> Any:
        nonlocal next_id
        req = {"id": next_id, "method": method, "params": params}
        next_id += 1
        status, body = post_json(base, f"/threads/{thread_id}/commands", req)
        commands.append({"request": req, "status": status, "response": body})
        if status != 200 or not isinstance(body, dict) or body.get("type") != "success":
            raise RuntimeError(f"{name}: {method} failed: HTTP {status} {body}")
        return body["result"]

    status, thread = post_json(base, "/threads", {})
    if status != 200:
        raise RuntimeError(f"POST /threads -> {status} {thread}")
    thread_id = thread["thread_id"]

    sse_body = {"channels": ALL_CHANNELS}
    reader = SSEReader(base, thread_id, sse_body)
    reader.start()
    t0 = time.monotonic()
    run_ids = []
    try:
        result = command(
            thread_id,
            "run.start",
            {"assistant_id": spec["assistant_id"], "input": spec["input"]},
        )
        run_ids.append(result["run_id"])
        if not reader.wait_for(lambda ev: len(root_terminals(ev)) >= 1, timeout):
            raise TimeoutError(f"{name}: no root terminal lifecycle event within {timeout}s")

        mode = spec.get("respond")
        if mode:
            expected = spec.get("expect_interrupts", 1)
            # A second interrupt of the same superstep can arrive *after* the
            # root `interrupted` event: wait for all of them.
            if not reader.wait_for(lambda ev: len(input_requests(ev)) >= expected, 10.0):
                raise TimeoutError(f"{name}: expected {expected} input.requested events")
            time.sleep(0.3)
            reqs = input_requests(reader.events)
            if mode == "single":
                req = reqs[0]["params"]
                command(
                    thread_id,
                    "input.respond",
                    {
                        "interrupt_id": req["data"]["interrupt_id"],
                        "namespace": req["namespace"],
                        "response": spec["responses"][0],
                    },
                )
            else:
                by_branch = spec["responses_by_branch"]
                responses = []
                for r in reqs:
                    p = r["params"]
                    branch = (p["data"].get("payload") or {}).get("branch")
                    responses.append(
                        {
                            "interrupt_id": p["data"]["interrupt_id"],
                            "namespace": p["namespace"],
                            "response": by_branch[branch],
                        }
                    )
                command(thread_id, "input.respond", {"responses": responses})
            if not reader.wait_for(lambda ev: len(root_terminals(ev)) >= 2, timeout):
                raise TimeoutError(f"{name}: resumed run did not terminate")
        for k, more in enumerate(spec.get("more_inputs", ()), start=2):
            result = command(
                thread_id, "run.start", {"assistant_id": spec["assistant_id"], "input": more}
            )
            run_ids.append(result["run_id"])
            if not reader.wait_for(lambda ev, k=k: len(root_terminals(ev)) >= k, timeout):
                raise TimeoutError(f"{name}: run {k} did not terminate")
        elapsed = time.monotonic() - t0
        time.sleep(grace)
    finally:
        reader.close()

    if reader.error is not None:
        raise RuntimeError(f"{name}: SSE reader failed: {reader.error!r}")

    events = reader.events
    summary = summarize(events)
    summary.update(
        {
            "scenario": name,
            "assistant_id": spec["assistant_id"],
            "input": spec["input"],
            "thread_id": thread_id,
            "run_ids": run_ids,
            "sse_request_body": sse_body,
            "sse_status": reader.status,
            "sse_response_headers": reader.headers,
            "closed_by_server": reader.closed_by_server,
            "bytes": len(reader.raw),
            "heartbeats": bytes(reader.raw).count(b": heartbeat"),
            "seconds_to_last_terminal": round(elapsed, 3),
            "commands": commands,
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    raw_path = out_dir / f"{name}.sse.raw"
    if spec.get("large") and not save_large:
        summary["raw_saved"] = False
        if raw_path.exists():
            raw_path.unlink()
    else:
        raw_path.write_bytes(bytes(reader.raw))
        summary["raw_saved"] = True
    if spec.get("replay"):
        # A new connection after everything finished: the server replays the
        # thread's whole event tape and renumbers seq from 1.
        n_terminals = len(root_terminals(events))
        replay = SSEReader(base, thread_id, sse_body)
        replay.start()
        try:
            replay.wait_for(lambda ev: len(root_terminals(ev)) >= n_terminals, timeout)
            time.sleep(grace)
        finally:
            replay.close()
        (out_dir / f"{name}.replay.sse.raw").write_bytes(bytes(replay.raw))
        summary["replay"] = summarize(replay.events)
    (out_dir / f"{name}.meta.json").write_text(
        json.dumps(summary, indent=2, sort_keys=False) + "\n"
    )
    return summary


def summarize(events: list[dict[str, Any]]) -> dict[str, Any]:
    by_method: Counter[str] = Counter()
    by_sub: Counter[str] = Counter()
    namespaces: list[list[str]] = []
    lifecycle: list[str] = []
    seqs = [e.get("seq") for e in events if isinstance(e.get("seq"), int)]
    for e in events:
        m = e.get("method", "?")
        p = e.get("params") or {}
        d = p.get("data")
        by_method[m] += 1
        if isinstance(d, dict):
            if m in ("messages", "tools", "lifecycle") and "event" in d:
                by_sub[f"{m}:{d['event']}"] += 1
            if m == "messages" and d.get("event") == "content-block-delta":
                dt = (d.get("delta") or {}).get("type") or ("content" if "content" in d else "?")
                by_sub[f"messages:delta:{dt}"] += 1
        if m == "custom":
            named = isinstance(d, dict) and isinstance(d.get("name"), str) and "payload" in d
            by_sub["custom:named:" + d["name"] if named else "custom:plain"] += 1
        ns = p.get("namespace")
        if isinstance(ns, list) and ns not in namespaces:
            namespaces.append(ns)
        if m == "lifecycle" and isinstance(d, dict):
            ns_txt = "/".join(s.split(":")[0] for s in ns) if ns else "<root>"
            lifecycle.append(f"{ns_txt}:{d.get('event')}")
    return {
        "events": len(events),
        "seq_first": seqs[0] if seqs else None,
        "seq_last": seqs[-1] if seqs else None,
        "by_method": dict(sorted(by_method.items())),
        "by_subtype": dict(sorted(by_sub.items())),
        "namespaces": namespaces,
        "lifecycle": lifecycle,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("scenarios", nargs="*", help=f"subset of: {', '.join(SCENARIOS)}")
    ap.add_argument(
        "--venv", default=str(DEFAULT_VENV_DIR), help="virtualenv with langgraph-cli[inmem]"
    )
    ap.add_argument(
        "--graphs", default=str(DEFAULT_GRAPHS_DIR), help="directory with langgraph.json"
    )
    ap.add_argument(
        "--url", default=None, help="use an already running server instead of starting one"
    )
    ap.add_argument("--out", default=str(HERE / "captures"), help="output directory")
    ap.add_argument(
        "--save-long", action="store_true", help="also write long_run.sse.raw (~1.5 MB)"
    )
    ap.add_argument(
        "--grace",
        type=float,
        default=1.5,
        help="seconds to keep reading after the last terminal event",
    )
    args = ap.parse_args(argv)

    names = args.scenarios or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenarios: {unknown}")

    srv = None
    if args.url:
        url = args.url.rstrip("/")
    else:
        srv = start_langgraph_dev(args.venv, args.graphs)
        url = srv.url
        print(
            f"server {url} pid={srv.pid} ready in {srv.startup_seconds:.2f}s (log {srv.log_path})"
        )
    failures = 0
    try:
        for n in names:
            try:
                s = capture(
                    url,
                    n,
                    SCENARIOS[n],
                    Path(args.out),
                    grace=args.grace,
                    save_large=args.save_long,
                )
            except Exception as exc:
                failures += 1
                print(f"{n:18s} FAILED: {exc}")
                continue
            print(
                f"{n:18s} events={s['events']:5d} bytes={s['bytes']:8d} "
                f"lifecycle={s['lifecycle']} methods={s['by_method']}"
            )
    finally:
        if srv is not None:
            srv.stop()
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
