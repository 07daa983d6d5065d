"""``threadwire stream URL --assistant ID --input JSON``: render a run from any Agent Server."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio

from threadwire.protocol import Interrupt

from ._client import connect
from ._errors import RunFailed
from ._live import Style, run_live

NAME = "stream"
HELP = "start a run on an Agent Server and render it live"

DEFAULT_ANSWER = {"approved": True}


def add_common(parser: argparse.ArgumentParser) -> None:
    """Options ``stream`` and ``demo`` share."""
    parser.add_argument("--backend", choices=("asyncio", "trio"), default="asyncio")
    parser.add_argument("--transport", choices=("sse", "websocket"), default="sse")
    parser.add_argument(
        "--answer",
        default=None,
        help="JSON answer for interrupts when standard input is not a terminal "
        f"(default: {json.dumps(DEFAULT_ANSWER)})",
    )
    parser.add_argument("--no-color", action="store_true", help="plain text, no ANSI styles")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("url", help="the server, e.g. http://127.0.0.1:2024")
    parser.add_argument("--assistant", required=True, help="assistant (graph) id")
    parser.add_argument("--input", default="{}", help="the run's input, as JSON")
    parser.add_argument("--thread", default=None, help="an existing thread id")
    parser.add_argument("--api-key", default=None, help="sent as x-api-key")
    add_common(parser)


def _parse(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise SystemExit(f"threadwire: {what} is not valid JSON: {exc}") from None


def make_answer(args: argparse.Namespace, out: Any) -> Any:
    """Ask at a prompt when stdin is a terminal; otherwise answer automatically."""
    auto = _parse(args.answer, "--answer") if args.answer is not None else DEFAULT_ANSWER
    interactive = sys.stdin is not None and sys.stdin.isatty()

    async def answer(interrupt: Interrupt) -> Any:
        if not interactive:
            out.write(f"  (answering automatically: {json.dumps(auto)})\n")
            return auto
        prompt = f"  answer for {json.dumps(interrupt.payload, default=str)} (JSON or text): "
        text = await anyio.to_thread.run_sync(input, prompt)
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return text

    return answer


async def stream_run(
    url: str,
    args: argparse.Namespace,
    *,
    assistant: str,
    input: Any,
    api_key: str | None = None,
    thread_id: str | None = None,
) -> int:
    out = sys.stdout
    style = Style(enabled=out.isatty() and not args.no_color)
    async with (
        connect(url, api_key=api_key) as client,
        client.threads.stream(
            thread_id, assistant_id=assistant, transport=args.transport
        ) as thread,
    ):
        try:
            result = await run_live(
                thread, input, out=out, answer=make_answer(args, out), style=style
            )
        except RunFailed as exc:
            out.write(style.red(f"run failed: {exc.error}\n"))
            return 1
    out.write(style.bold("final state: ") + json.dumps(result, default=str)[:2000] + "\n")
    return 0


def run(args: argparse.Namespace) -> int:
    payload = _parse(args.input, "--input")

    async def main() -> int:
        return await stream_run(
            args.url,
            args,
            assistant=args.assistant,
            input=payload,
            api_key=args.api_key,
            thread_id=args.thread,
        )

    return anyio.run(main, backend=args.backend)
