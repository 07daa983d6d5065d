"""values: a simple multi-step graph (topic -> refine -> draft -> finish).

Input: ``{"topic": "dogs"}``. Final state:
``{"topic": "DOGS AND CATS", "steps": ["refine", "draft", "finish"], "count": 3}``
"""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

from fake_models import default_transformers
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    topic: str
    steps: Annotated[list[str], operator.add]
    count: int


async def refine(state: State) -> dict:
    return {
        "topic": state["topic"] + " and cats",
        "steps": ["refine"],
        "count": state.get("count", 0) + 1,
    }


async def draft(state: State) -> dict:
    return {"steps": ["draft"], "count": state.get("count", 0) + 1}


async def finish(state: State) -> dict:
    return {
        "steps": ["finish"],
        "count": state.get("count", 0) + 1,
        "topic": state["topic"].upper(),
    }


def _build() -> StateGraph:
    b = StateGraph(State)
    b.add_node("refine", refine)
    b.add_node("draft", draft)
    b.add_node("finish", finish)
    b.add_edge(START, "refine")
    b.add_edge("refine", "draft")
    b.add_edge("draft", "finish")
    b.add_edge("finish", END)
    return b


graph = _build().compile(name="values", transformers=default_transformers())
# Same graph without extra transformers: only lifecycle + values on the wire.
bare_graph = _build().compile(name="bare")
