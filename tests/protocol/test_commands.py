"""Commands: wire shapes, typed results, and validation in both roles.

Charter:

* :data:`SHAPES` pairs each command class (every field set, and the minimal
  form) with the exact ``params`` the Python server reads: snake_case, except
  ``multitaskStrategy``; unset optional fields are not sent at all. Each shape
  also survives the producer round trip (``from_params`` and
  ``decode_command(encode_command(...))``).
* ``parse_result`` turns the server's replies into typed results and names
  the field of a malformed one.
* Building a command with an illegal argument raises ``LocalProtocolError``
  (the caller's fault); decoding received params that are illegal raises
  ``RemoteProtocolError`` with ``hint="invalid_argument"`` and the method in
  the message (the peer's fault).
"""

from __future__ import annotations

from typing import Any

import pytest

from threadwire.protocol import (
    COMMAND_TYPES,
    MULTITASK_STRATEGIES,
    UNSET,
    AgentGetTree,
    AgentTreeNode,
    Command,
    InputInject,
    InputRespond,
    InputRespondBatch,
    InterruptResponse,
    LocalProtocolError,
    RemoteProtocolError,
    RunStart,
    RunStartResult,
    StateFork,
    StateGet,
    StateListCheckpoints,
    SubscribeResult,
    SubscriptionReconnect,
    SubscriptionSubscribe,
    SubscriptionUnsubscribe,
    UnknownCommand,
    command_from_params,
    decode_command,
    encode_command,
)


def _shape(command: Command, params: dict[str, Any]) -> Any:
    return pytest.param(command, params, id=f"{command.method}:{len(params)}")


SHAPES = [
    _shape(RunStart(assistant_id="agent"), {"assistant_id": "agent"}),
    _shape(RunStart(assistant_id="agent", input=None), {"assistant_id": "agent", "input": None}),
    _shape(
        RunStart(
            assistant_id="agent",
            input={"topic": "dogs"},
            config={"configurable": {"checkpoint_id": "1f0"}},
            metadata={"m": 1},
            multitask_strategy="interrupt",
            langsmith_tracer={"project_name": "p"},
        ),
        {
            "assistant_id": "agent",
            "input": {"topic": "dogs"},
            "config": {"configurable": {"checkpoint_id": "1f0"}},
            "metadata": {"m": 1},
            "multitaskStrategy": "interrupt",
            "langsmith_tracer": {"project_name": "p"},
        },
    ),
    _shape(
        InputRespond(interrupt_id="3a3b40fd", response="yes"),
        {"interrupt_id": "3a3b40fd", "namespace": [], "response": "yes"},
    ),
    _shape(
        InputRespond(
            interrupt_id="i",
            response={"approved": True},
            namespace=["child:1"],
            update={"k": 1},
            goto="act",
            config={"c": 1},
            metadata={"m": 1},
        ),
        {
            "interrupt_id": "i",
            "namespace": ["child:1"],
            "response": {"approved": True},
            "update": {"k": 1},
            "goto": "act",
            "config": {"c": 1},
            "metadata": {"m": 1},
        },
    ),
    _shape(
        InputRespondBatch(
            responses=[
                InterruptResponse(interrupt_id="a", response=1),
                InterruptResponse(interrupt_id="b", response=None, namespace=("n:1",)),
            ],
            goto=["x", "y"],
        ),
        {
            "responses": [
                {"interrupt_id": "a", "namespace": [], "response": 1},
                {"interrupt_id": "b", "namespace": ["n:1"], "response": None},
            ],
            "goto": ["x", "y"],
        },
    ),
    _shape(
        InputInject(message={"role": "user", "content": "hi"}, namespace=["a"]),
        {"namespace": ["a"], "message": {"role": "user", "content": "hi"}},
    ),
    _shape(SubscriptionSubscribe(channels=["values"]), {"channels": ["values"]}),
    _shape(
        SubscriptionSubscribe(channels=("lifecycle", "input"), namespaces=[[]], depth=0),
        {"channels": ["lifecycle", "input"], "namespaces": [[]], "depth": 0},
    ),
    _shape(SubscriptionUnsubscribe(subscription_id="s-1"), {"subscription_id": "s-1"}),
    _shape(
        SubscriptionReconnect(channels=["lifecycle"], since=2),
        {"channels": ["lifecycle"], "since": 2},
    ),
    _shape(
        SubscriptionReconnect(
            channels=["values"], since=0, namespaces=[["child"]], depth=1, subscription_id="s-1"
        ),
        {
            "channels": ["values"],
            "namespaces": [["child"]],
            "depth": 1,
            "since": 0,
            "subscription_id": "s-1",
        },
    ),
    _shape(AgentGetTree(), {}),
    _shape(AgentGetTree(run_id="r"), {"run_id": "r"}),
    _shape(StateGet(), {"namespace": []}),
    _shape(StateGet(namespace=["a"], keys=("k",)), {"namespace": ["a"], "keys": ["k"]}),
    _shape(StateListCheckpoints(), {}),
    _shape(
        StateListCheckpoints(namespace=("a",), limit=5, before="c"),
        {"namespace": ["a"], "limit": 5, "before": "c"},
    ),
    _shape(StateFork(checkpoint_id="c"), {"checkpoint_id": "c"}),
    _shape(
        StateFork(checkpoint_id="c", input=None, config={"x": 1}),
        {"checkpoint_id": "c", "input": None, "config": {"x": 1}},
    ),
    _shape(UnknownCommand(method="input.inject2", raw_params={"a": 1}), {"a": 1}),
]


@pytest.mark.parametrize(("command", "params"), SHAPES)
def test_params_wire_shape(command: Command, params: dict[str, Any]) -> None:
    assert command.params() == params
    assert list(command.params()) == list(params)  # the server's field order


@pytest.mark.parametrize(("command", "params"), SHAPES)
def test_producer_round_trip(command: Command, params: dict[str, Any]) -> None:
    assert command_from_params(command.method, params) == command
    assert decode_command(encode_command(9, command)) == (9, command)


def test_exact_command_bytes() -> None:
    """A command as PROTOCOL.md section 12.2 shows it going out."""
    respond = InputRespond(interrupt_id="3a3b40fdac03fa214c8f90a69d2981b8", response="yes")
    assert encode_command(10, respond) == (
        b'{"id":10,"method":"input.respond","params":{"interrupt_id":'
        b'"3a3b40fdac03fa214c8f90a69d2981b8","namespace":[],"response":"yes"}}'
    )


def test_command_types() -> None:
    assert set(COMMAND_TYPES) == {
        "run.start",
        "input.respond",
        "input.inject",
        "subscription.subscribe",
        "subscription.unsubscribe",
        "subscription.reconnect",
        "agent.getTree",
        "state.get",
        "state.listCheckpoints",
        "state.fork",
    }
    assert all(COMMAND_TYPES[method].method == method for method in COMMAND_TYPES)
    assert MULTITASK_STRATEGIES == ("reject", "rollback", "interrupt", "enqueue")


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("run.start", {"assistantId": "a"}, RunStart(assistant_id="a")),
        (
            "run.start",
            {"assistant_id": "a", "multitask_strategy": "reject"},
            RunStart(assistant_id="a", multitask_strategy="reject"),
        ),
        ("run.start", {"assistant_id": "a", "config": None}, RunStart(assistant_id="a")),
        (
            "input.respond",
            {"interruptId": "i", "response": 1},
            InputRespond(interrupt_id="i", response=1),
        ),
        ("input.respond", {"interrupt_id": "i"}, InputRespond(interrupt_id="i", response=None)),
        ("agent.getTree", {"run_id": 5}, AgentGetTree()),
        (
            "subscription.reconnect",
            {"channels": ["v"], "since": 1, "subscription_id": ""},
            SubscriptionReconnect(channels=["v"], since=1),
        ),
        (
            "subscription.subscribe",
            {"channels": ["v"], "namespaces": None, "depth": None},
            SubscriptionSubscribe(channels=["v"]),
        ),
        ("state.get", {"keys": None}, StateGet()),
    ],
)
def test_lenient_params(method: str, params: dict[str, Any], expected: Command) -> None:
    assert command_from_params(method, params) == expected


# -- results ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "result", "expected"),
    [
        (RunStart(assistant_id="a"), {"run_id": "01a1fc73"}, RunStartResult(run_id="01a1fc73")),
        (RunStart(assistant_id="a"), {}, RunStartResult(run_id=None)),
        (
            SubscriptionSubscribe(channels=["values"]),
            {"subscription_id": "d73f3401", "replayed_events": 0},
            SubscribeResult(subscription_id="d73f3401", replayed_events=0),
        ),
        (
            SubscriptionReconnect(channels=["lifecycle"], since=2),
            {"subscriptionId": "6b35b48c", "replayedEvents": 1},
            SubscribeResult(subscription_id="6b35b48c", replayed_events=1),
        ),
        (
            AgentGetTree(),
            {"tree": {"namespace": [], "status": "interrupted", "graph_name": "hitl"}},
            AgentTreeNode(namespace=(), status="interrupted", graph_name="hitl"),
        ),
        (
            AgentGetTree(),
            {
                "tree": {
                    "namespace": [],
                    "status": "running",
                    "children": [
                        {
                            "namespace": ["child:1"],
                            "status": "completed",
                            "metadata": {"k": 1},
                            "children": [],
                        }
                    ],
                }
            },
            AgentTreeNode(
                namespace=(),
                status="running",
                children=(
                    AgentTreeNode(namespace=("child:1",), status="completed", metadata={"k": 1}),
                ),
            ),
        ),
        (InputRespond(interrupt_id="i", response=1), {}, {}),
        (StateGet(), {"values": 1}, {"values": 1}),
    ],
)
def test_parse_result(command: Command, result: Any, expected: Any) -> None:
    assert command.parse_result(result) == expected


@pytest.mark.parametrize(
    ("command", "result", "message"),
    [
        (RunStart(assistant_id="a"), None, "run.start result must be an object"),
        (RunStart(assistant_id="a"), {"run_id": 5}, "result.run_id must be a string, got int"),
        (
            SubscriptionSubscribe(channels=["v"]),
            [],
            "subscription.subscribe result must be an object",
        ),
        (
            SubscriptionSubscribe(channels=["v"]),
            {},
            "result.subscription_id is required but missing",
        ),
        (
            SubscriptionReconnect(channels=["v"], since=0),
            {"subscription_id": "s", "replayed_events": "1"},
            "result.replayed_events must be an integer, got str",
        ),
        (AgentGetTree(), "tree", "agent.getTree result must be an object"),
        (AgentGetTree(), {}, "result.tree must be an object"),
        (AgentGetTree(), {"tree": {"namespace": []}}, "result.tree.status is required but missing"),
        (
            AgentGetTree(),
            {"tree": {"status": "x", "namespace": None}},
            "result.tree.namespace must be an array",
        ),
        (
            AgentGetTree(),
            {"tree": {"status": "x", "children": "c"}},
            "result.tree.children must be an array",
        ),
        (
            AgentGetTree(),
            {"tree": {"status": "x", "children": [1]}},
            "result.tree.children[] must be an object",
        ),
        (
            AgentGetTree(),
            {"tree": {"status": "x", "children": [{"status": "y", "graph_name": 1}]}},
            "result.tree.children[].graph_name must be a string",
        ),
    ],
)
def test_bad_result(command: Command, result: Any, message: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        command.parse_result(result)
    assert info.value.message.startswith(message)


# -- building: the caller's errors --------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RunStart(assistant_id=""), "non-empty assistant_id"),
        (lambda: RunStart(assistant_id=5), "non-empty assistant_id"),
        (
            lambda: RunStart(assistant_id="a", multitask_strategy="bogus"),
            "multitask_strategy must be one of",
        ),
        (
            lambda: InputRespond(interrupt_id="i", response=1, namespace="child"),
            "sequence of strings",
        ),
        (lambda: InputRespond(interrupt_id="i", response=1, namespace=[1]), "sequence of strings"),
        (
            lambda: InterruptResponse(interrupt_id="i", response=1, namespace=5),
            "sequence of strings",
        ),
        (lambda: InputRespondBatch(responses=[]), "at least one response"),
        (lambda: InputRespondBatch(responses=[{"interrupt_id": "i"}]), "must be InterruptResponse"),
        (lambda: InputInject(message={}, namespace="x"), "sequence of strings"),
        (lambda: SubscriptionSubscribe(channels=[]), "non-empty sequence"),
        (lambda: SubscriptionSubscribe(channels="values"), "non-empty sequence"),
        (lambda: SubscriptionSubscribe(channels=5), "non-empty sequence"),
        (lambda: SubscriptionSubscribe(channels=[""]), "non-empty strings"),
        (lambda: SubscriptionSubscribe(channels=[5]), "non-empty strings"),
        (lambda: SubscriptionSubscribe(channels=["v"], namespaces="a"), "sequence of namespaces"),
        (lambda: SubscriptionSubscribe(channels=["v"], namespaces=5), "sequence of namespaces"),
        (
            lambda: SubscriptionSubscribe(channels=["v"], namespaces=[["a", 1]]),
            "sequence of strings",
        ),
        (lambda: SubscriptionSubscribe(channels=["v"], depth=-1), "depth must be"),
        (lambda: SubscriptionSubscribe(channels=["v"], depth=True), "depth must be"),
        (lambda: SubscriptionSubscribe(channels=["v"], depth="1"), "depth must be"),
        (lambda: SubscriptionReconnect(channels=["v"], since=None), "requires since"),
        (lambda: SubscriptionReconnect(channels=["v"], since=-1), "since must be"),
        (lambda: SubscriptionReconnect(channels=["v"], since=False), "since must be"),
        (lambda: StateGet(namespace="a"), "sequence of strings"),
    ],
)
def test_building_rejects(build: Any, message: str) -> None:
    with pytest.raises(LocalProtocolError, match=message):
        build()


# -- decoding: the peer's errors ------------------------------------------------------------------


def _bad(method: str, params: dict[str, Any], message: str) -> Any:
    return pytest.param(method, params, message, id=f"{method}:{message}")


BAD_PARAMS = [
    _bad("run.start", {}, "run.start requires an assistant_id."),
    _bad("run.start", {"assistant_id": ""}, "run.start requires an assistant_id."),
    _bad("run.start", {"assistant_id": 1}, "run.start requires an assistant_id."),
    _bad(
        "run.start",
        {"assistant_id": "a", "multitaskStrategy": "bogus"},
        "unsupported multitaskStrategy 'bogus'",
    ),
    _bad(
        "run.start",
        {"assistant_id": "a", "config": "x"},
        "params.config must be an object, got str",
    ),
    _bad("run.start", {"assistant_id": "a", "metadata": 1}, "params.metadata must be an object"),
    _bad(
        "run.start",
        {"assistant_id": "a", "langsmith_tracer": []},
        "params.langsmith_tracer must be an object",
    ),
    _bad("input.respond", {"response": "x"}, "input.respond requires an interrupt_id."),
    _bad("input.respond", {"interrupt_id": ""}, "input.respond requires an interrupt_id."),
    _bad(
        "input.respond",
        {"interrupt_id": "i", "namespace": "bad"},
        "namespace must be an array of strings, got str",
    ),
    _bad(
        "input.respond",
        {"interrupt_id": "i", "namespace": ["a", 1]},
        "namespace must be an array of strings, found int",
    ),
    _bad("input.respond", {"interrupt_id": "i", "update": "x"}, "params.update must be an object"),
    _bad("input.respond", {"interrupt_id": "i", "config": []}, "params.config must be an object"),
    _bad(
        "input.respond", {"interrupt_id": "i", "metadata": 1}, "params.metadata must be an object"
    ),
    _bad("input.respond", {"interrupt_id": "i", "goto": 5}, "goto must be a node name"),
    _bad("input.respond", {"responses": []}, "responses must be a non-empty array"),
    _bad("input.respond", {"responses": {"a": 1}}, "responses must be a non-empty array"),
    _bad("input.respond", {"responses": [5]}, "each response must be an object"),
    _bad(
        "input.respond",
        {"responses": [{"namespace": []}]},
        "input.respond requires an interrupt_id.",
    ),
    _bad(
        "input.respond",
        {"responses": [{"interrupt_id": "i"}], "goto": 1.5},
        "goto must be a node name",
    ),
    _bad("input.inject", {}, "message must be an object with a string content"),
    _bad(
        "input.inject",
        {"message": {"content": 5}},
        "message must be an object with a string content",
    ),
    _bad(
        "input.inject",
        {"message": {"content": "c"}, "namespace": None},
        "namespace must be an array",
    ),
    _bad("subscription.subscribe", {}, "channels is required and must be a non-empty array"),
    _bad(
        "subscription.subscribe",
        {"channels": []},
        "channels is required and must be a non-empty array",
    ),
    _bad(
        "subscription.subscribe",
        {"channels": "values"},
        "channels is required and must be a non-empty array",
    ),
    _bad(
        "subscription.subscribe", {"channels": [""]}, "channels contains an unsupported entry: ''"
    ),
    _bad("subscription.subscribe", {"channels": [5]}, "channels contains an unsupported entry: 5"),
    _bad(
        "subscription.subscribe",
        {"channels": ["v"], "namespaces": "x"},
        "namespaces must be an array of namespaces",
    ),
    _bad(
        "subscription.subscribe",
        {"channels": ["v"], "namespaces": [["a", 1]]},
        "namespaces[] must be an array of strings, found int",
    ),
    _bad(
        "subscription.subscribe",
        {"channels": ["v"], "depth": -1},
        "depth must be a non-negative integer",
    ),
    _bad(
        "subscription.subscribe",
        {"channels": ["v"], "depth": True},
        "depth must be a non-negative integer",
    ),
    _bad("subscription.unsubscribe", {}, "subscription_id is required"),
    _bad("subscription.unsubscribe", {"subscription_id": ""}, "subscription_id is required"),
    _bad("subscription.unsubscribe", {"subscription_id": 5}, "subscription_id is required"),
    _bad(
        "subscription.reconnect", {"since": 3}, "channels is required and must be a non-empty array"
    ),
    _bad("subscription.reconnect", {"channels": ["v"]}, "since is required"),
    _bad(
        "subscription.reconnect",
        {"channels": ["v"], "since": -1},
        "since must be a non-negative integer",
    ),
    _bad(
        "subscription.reconnect",
        {"channels": ["v"], "since": "5"},
        "since must be a non-negative integer",
    ),
    _bad("state.get", {"keys": "k"}, "keys must be an array of strings"),
    _bad("state.get", {"keys": ["k", 1]}, "keys must be an array of strings"),
    _bad("state.get", {"namespace": "a"}, "namespace must be an array of strings"),
    _bad("state.listCheckpoints", {"namespace": 5}, "namespace must be an array"),
    _bad("state.listCheckpoints", {"limit": "5"}, "params.limit must be an integer"),
    _bad("state.listCheckpoints", {"before": 5}, "params.before must be a string"),
    _bad("state.fork", {}, "checkpoint_id is required"),
    _bad("state.fork", {"checkpoint_id": "c", "config": "x"}, "params.config must be an object"),
]


@pytest.mark.parametrize(("method", "params", "message"), BAD_PARAMS)
def test_decoding_rejects(method: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        command_from_params(method, params)
    assert info.value.hint == "invalid_argument"
    # The message names the method once, as the real server's do.
    expected = message if message.startswith(method) else f"{method}: {message}"
    assert info.value.message.startswith(expected)
    with pytest.raises(RemoteProtocolError) as info:
        decode_command({"id": 11, "method": method, "params": params})
    assert info.value.command_id == 11  # type: ignore[attr-defined]


def test_unset_is_not_none() -> None:
    assert RunStart(assistant_id="a").input is UNSET
    assert "input" not in RunStart(assistant_id="a").params()
    assert RunStart(assistant_id="a", input=None).params()["input"] is None
