"""hitl: human-in-the-loop graphs.

``graph`` (assistant ``hitl``): prepare -> ask (``interrupt``) -> act.
  Input ``{"request": "deploy to prod"}``; interrupt payload
  ``{"question": "Approve the request?", "request": "deploy to prod"}``;
  the resume value is stored in ``approved`` and logged.

``parallel_graph`` (assistant ``hitl_parallel``): START fans out to
  ``ask_a`` and ``ask_b`` in the same superstep; each calls ``interrupt``
  (payloads ``{"question": "Approve A?", "branch": "a"}`` and
  ``{"question": "Approve B?", "branch": "b"}``), then ``join`` runs.
  Answer both at once with a batch ``input.respond``.

``subgraph_graph`` (assistant ``hitl_subgraph``): the interrupt is raised
  inside the subgraph node ``review`` (namespace ``["review:<id>"]``),
  payload ``{"question": "Approve inside subgraph?"}``.
"""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from fake_models import default_transformers
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    request: str
    approved: Any
    log: Annotated[list[str], operator.add]


async def prepare(state: State) -> dict:
    return {"log": ["prepared"]}


async def ask(state: State) -> dict:
    answer = interrupt({"question": "Approve the request?", "request": state.get("request")})
    return {"approved": answer, "log": [f"answer={answer!r}"]}


async def act(state: State) -> dict:
    return {"log": ["acted"]}


_b = StateGraph(State)
_b.add_node("prepare", prepare)
_b.add_node("ask", ask)
_b.add_node("act", act)
_b.add_edge(START, "prepare")
_b.add_edge("prepare", "ask")
_b.add_edge("ask", "act")
_b.add_edge("act", END)
graph = _b.compile(name="hitl", transformers=default_transformers())


# --- two interrupts in one superstep ---------------------------------------


class PState(TypedDict, total=False):
    request: str
    answers: Annotated[list[str], operator.add]
    log: Annotated[list[str], operator.add]


async def ask_a(state: PState) -> dict:
    answer = interrupt({"question": "Approve A?", "branch": "a"})
    return {"answers": [f"a={answer!r}"]}


async def ask_b(state: PState) -> dict:
    answer = interrupt({"question": "Approve B?", "branch": "b"})
    return {"answers": [f"b={answer!r}"]}


async def join(state: PState) -> dict:
    return {"log": ["joined " + ",".join(sorted(state.get("answers", [])))]}


_p = StateGraph(PState)
_p.add_node("ask_a", ask_a)
_p.add_node("ask_b", ask_b)
_p.add_node("join", join)
_p.add_edge(START, "ask_a")
_p.add_edge(START, "ask_b")
_p.add_edge(["ask_a", "ask_b"], "join")
_p.add_edge("join", END)
parallel_graph = _p.compile(name="hitl_parallel", transformers=default_transformers())


# --- interrupt inside a subgraph ---------------------------------------------


class SubState(TypedDict, total=False):
    request: str
    approved: Any


async def sub_ask(state: SubState) -> dict:
    answer = interrupt({"question": "Approve inside subgraph?"})
    return {"approved": answer}


_s = StateGraph(SubState)
_s.add_node("sub_ask", sub_ask)
_s.add_edge(START, "sub_ask")
_s.add_edge("sub_ask", END)
_review = _s.compile(name="review")

_o = StateGraph(State)
_o.add_node("prepare", prepare)
_o.add_node("review", _review)
_o.add_node("act", act)
_o.add_edge(START, "prepare")
_o.add_edge("prepare", "review")
_o.add_edge("review", "act")
_o.add_edge("act", END)
subgraph_graph = _o.compile(name="hitl_subgraph", transformers=default_transformers())
