"""Rendering a thread's runs live in a terminal (``threadwire demo`` and ``stream``).

:class:`LiveRenderer` turns events into text as they arrive, in the server's
order: tokens as they stream (reasoning dimmed), tool calls with their output
deltas and result, the subagent tree as namespaces start and end, custom
progress events, interrupts, and each run's outcome. It only formats; the
caller writes. :func:`run_live` drives a thread: starts the run, renders every
event, answers interrupts through ``answer`` (a prompt, or an automatic answer
when standard input is not a terminal), and returns the final state.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, TextIO

from threadwire.protocol import ALL_CHANNELS, Event, Interrupt
from threadwire.protocol.projections import unpack_custom

from ._errors import RunFailed, RunInterrupted
from ._thread import ThreadStream

__all__ = ["LiveRenderer", "run_live", "Style"]


class Style:
    """ANSI styles, or none when the output is not a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled else text

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def green(self, text: str) -> str:
        return self._wrap("32", text)

    def red(self, text: str) -> str:
        return self._wrap("31", text)

    def yellow(self, text: str) -> str:
        return self._wrap("33", text)

    def cyan(self, text: str) -> str:
        return self._wrap("36", text)


def _short(value: Any, limit: int = 120) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _label(namespace: tuple[str, ...]) -> str:
    return "/".join(segment.partition(":")[0] for segment in namespace) or "agent"


class LiveRenderer:
    """Formats events for a terminal (see the module docstring)."""

    def __init__(self, style: Style) -> None:
        self.s = style
        self._line_open = False
        self._speaker: tuple[tuple[str, ...], str] | None = None

    def _newline(self) -> str:
        if self._line_open:
            self._line_open = False
            self._speaker = None
            return "\n"
        return ""

    def _line(self, text: str) -> str:
        return self._newline() + text + "\n"

    def render(self, event: Event) -> str:
        """The text for one event ("" when it shows nothing)."""
        method = event.method
        data = event.data if type(event.data) is dict else {}
        ns = event.namespace
        indent = "  " * len(ns)
        if method == "messages":
            kind = data.get("event")
            if kind == "message-start":
                role = data.get("role") or "ai"
                self._speaker = None
                head = f"{indent}{self.s.bold(_label(ns))} ({role}): "
                if role == "tool":
                    head = f"{indent}{self.s.dim('tool result: ')}"
                out = self._newline() + head
                self._line_open = True
                self._speaker = (ns, role)
                return out
            if kind == "content-block-start":
                raw = data.get("content")
                content: dict[str, Any] = raw if type(raw) is dict else {}
                block = content.get("type")
                prefix = "" if data.get("index") in (0, None) else "\n" + indent + "  "
                self._line_open = True
                if block == "reasoning":
                    return prefix + self.s.dim("(thinking) ")
                if block == "tool_call_chunk":
                    return prefix + self.s.dim(f"(calls {content.get('name')}) ")
                return prefix
            if kind == "content-block-delta":
                delta = data.get("delta") or data.get("content") or {}
                if type(delta) is not dict:
                    return ""
                piece = delta.get("text") or delta.get("reasoning") or ""
                if not piece and delta.get("type") == "tool-call-delta":
                    piece = self.s.dim(str(delta.get("args", "")))
                elif delta.get("type") == "reasoning-delta":
                    piece = self.s.dim(piece)
                if piece:
                    self._line_open = True
                return piece
            if kind == "error":
                return self._line(
                    f"{indent}{self.s.red('message error: ' + str(data.get('message')))}"
                )
            return ""
        if method == "tools":
            kind = data.get("event")
            if kind == "tool-started":
                return self._line(
                    f"{indent}{self.s.cyan('⚙ ' + str(data.get('tool_name')))}"
                    f"({_short(data.get('input'))})"
                )
            if kind == "tool-output-delta":
                self._line_open = True
                return self.s.dim(str(data.get("delta", "")))
            if kind == "tool-finished":
                output = data.get("output")
                if type(output) is dict and "content" in output:
                    output = output["content"]
                return self._line(f"{indent}  → {_short(output)}")
            if kind == "tool-error":
                return self._line(f"{indent}  {self.s.red('✖ ' + str(data.get('message')))}")
            return ""
        if method == "lifecycle":
            status = data.get("event")
            if not ns:
                if status == "running":
                    return self._line(self.s.bold(f"▶ run started ({data.get('graph_name')})"))
                if status == "completed":
                    return self._line(self.s.green("✔ run completed"))
                if status == "failed":
                    return self._line(self.s.red(f"✖ run failed: {data.get('error')}"))
                if status == "interrupted":
                    return self._line(self.s.yellow("⏸ run interrupted: waiting for input"))
                return ""
            mark = {"started": "├", "completed": "└", "failed": "✖", "interrupted": "⏸"}.get(
                str(status), "·"
            )
            name = data.get("graph_name") or _label(ns[-1:])
            return self._line(f"{indent[:-2]}{self.s.cyan(mark + ' ' + str(name))} {status}")
        if method == "custom":
            name, payload = unpack_custom(event.data)
            label = f"{name}: " if name else ""
            return self._line(f"{indent}{self.s.dim('⋯ ' + label + _short(payload))}")
        if method == "input.requested":
            return self._line(f"{indent}{self.s.yellow('? ' + _short(data.get('payload')))}")
        return ""

    def finish(self) -> str:
        return self._newline()


Answer = Callable[[Interrupt], Awaitable[Any]]


async def run_live(
    thread: ThreadStream,
    input: Any,
    *,
    out: TextIO,
    answer: Answer,
    style: Style,
) -> Any:
    """Start a run on ``thread``, render it to ``out``, answer interrupts; return the output."""
    renderer = LiveRenderer(style)
    await thread.run.start(input=input)
    while True:
        async for event in thread.subscribe(ALL_CHANNELS):
            text = renderer.render(event)
            if text:
                out.write(text)
                out.flush()
        out.write(renderer.finish())
        try:
            return await thread.output
        except RunInterrupted as interrupted:
            pending = interrupted.interrupts or thread.interrupts
            responses = {}
            for interrupt in pending:
                assert isinstance(interrupt, Interrupt)
                responses[interrupt.interrupt_id] = await answer(interrupt)
            if len(responses) == 1:
                [(interrupt_id, response)] = responses.items()
                await thread.run.respond(response, interrupt_id=interrupt_id)
            else:
                await thread.run.respond_batch(responses)
        except RunFailed:
            raise
