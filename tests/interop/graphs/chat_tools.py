"""chat_tools: two model turns around one streamed tool call.

Turn 1 streams reasoning (block 0), text (block 1) and a tool call
``get_weather(city="Paris")`` (block 2, args in two pieces). The ``tools``
node (a prebuilt ``ToolNode``) runs the tool, which streams two output
deltas. Turn 2 streams the final answer text and reports usage.

Input: ``{"messages": [{"role": "user", "content": "What is the weather in Paris?"}]}``
"""

from __future__ import annotations

from typing import Annotated, TypedDict

from fake_models import (
    ScriptedChatModel,
    default_transformers,
    reasoning_steps,
    text_steps,
    tool_steps,
)
from langchain_core.messages import AnyMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, ToolRuntime, tools_condition

REASONING = "The user asks about weather so I should call the tool"
FIRST_TEXT = "Let me check the weather for you."
FINAL_TEXT = "The weather in Paris is sunny and 21 degrees."
TOOL_CALL_ID = "call_weather_1"

model = ScriptedChatModel(
    turns=[
        reasoning_steps(REASONING, 0)
        + text_steps(FIRST_TEXT, 1)
        + tool_steps(TOOL_CALL_ID, "get_weather", ['{"city":', ' "Paris"}'], 2),
        [*text_steps(FINAL_TEXT, 0), ("usage", 12, 9)],
    ]
)


@tool
async def get_weather(city: str, runtime: ToolRuntime) -> str:
    """Get the current weather for a city."""
    runtime.emit_output_delta("looking up ")
    runtime.emit_output_delta(city)
    return f"It is sunny in {city}, 21C"


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


async def agent(state: State) -> dict:
    msg = await model.ainvoke(state["messages"])
    return {"messages": [msg]}


builder = StateGraph(State)
builder.add_node("agent", agent)
builder.add_node("tools", ToolNode([get_weather]))
builder.add_edge(START, "agent")
builder.add_conditional_edges("agent", tools_condition, ["tools", END])
builder.add_edge("tools", "agent")
graph = builder.compile(name="chat_tools", transformers=default_transformers())
