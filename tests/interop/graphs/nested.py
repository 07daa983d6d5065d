"""nested: root -> child subgraph -> grandchild subgraph, each with a message.

Namespaces on the wire: ``[]`` (root node ``root_chat``),
``["child:<task>"]`` (child node ``child_chat``) and
``["child:<task>", "grandchild:<task>"]`` (grandchild node ``grandchild_chat``).
Input: ``{"messages": [{"role": "user", "content": "hi"}]}``
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from fake_models import default_transformers, one_message_model
from langchain_core.messages import AnyMessage
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages

ROOT_TEXT = "hello from the root graph"
CHILD_TEXT = "hello from the child graph"
GRANDCHILD_TEXT = "hello from the grandchild graph"

root_model = one_message_model(ROOT_TEXT)
child_model = one_message_model(CHILD_TEXT)
grandchild_model = one_message_model(GRANDCHILD_TEXT)


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


async def grandchild_chat(state: State) -> dict:
    return {"messages": [await grandchild_model.ainvoke(state["messages"])]}


async def child_chat(state: State) -> dict:
    return {"messages": [await child_model.ainvoke(state["messages"])]}


async def root_chat(state: State) -> dict:
    return {"messages": [await root_model.ainvoke(state["messages"])]}


_g = StateGraph(State)
_g.add_node("grandchild_chat", grandchild_chat)
_g.add_edge(START, "grandchild_chat")
_g.add_edge("grandchild_chat", END)
grandchild = _g.compile(name="grandchild")

_c = StateGraph(State)
_c.add_node("child_chat", child_chat)
_c.add_node("grandchild", grandchild)
_c.add_edge(START, "child_chat")
_c.add_edge("child_chat", "grandchild")
_c.add_edge("grandchild", END)
child = _c.compile(name="child")

_r = StateGraph(State)
_r.add_node("root_chat", root_chat)
_r.add_node("child", child)
_r.add_edge(START, "root_chat")
_r.add_edge("root_chat", "child")
_r.add_edge("child", END)
graph = _r.compile(name="nested", transformers=default_transformers())
