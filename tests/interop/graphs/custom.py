"""custom: plain custom events (``get_stream_writer``) and named ``custom:progress``.

Node ``work`` writes five payloads with ``get_stream_writer()``:
``{"status": "starting"}``, ``{"step": 1, "progress": 0.5}``,
``{"step": 2, "progress": 1.0}``, ``{"status": "done"}`` and the string
``"plain text payload"``. All five arrive as plain ``custom`` events whose
``data`` is the payload itself (NOT wrapped in ``{"payload": ...}``);
the two with ``"progress"`` additionally produce named events
``data = {"name": "progress", "payload": {"step": N, "progress": P}}``
via ``ProgressTransformer`` (each one *before* its plain source event).
Input: ``{"task": "index"}``
"""

from __future__ import annotations

from typing import TypedDict

from fake_models import default_transformers
from langgraph.config import get_stream_writer
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    task: str
    result: str


async def work(state: State) -> dict:
    writer = get_stream_writer()
    writer({"status": "starting"})
    writer({"step": 1, "progress": 0.5})
    writer({"step": 2, "progress": 1.0})
    writer({"status": "done"})
    writer("plain text payload")
    return {"result": f"{state.get('task', '')} finished"}


_b = StateGraph(State)
_b.add_node("work", work)
_b.add_edge(START, "work")
_b.add_edge("work", END)
graph = _b.compile(name="custom", transformers=default_transformers())
