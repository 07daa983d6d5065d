"""The messages reducer, case by case.

Charter: every rule of the messages projection (PROTOCOL.md section 3.6 and
the Pitfalls): routing by id and by namespace, what happens when an event
cannot be placed, each delta type, authoritative block finishes (together,
before ``message-finish``, as the real server sends them), tool-call parsing
(valid, invalid, not an object, empty), usage, message errors, mirrored tool
results, settling at the end of a run or stream, history and the limits, and
a RemoteProtocolError for each malformed-but-required field.
"""

from __future__ import annotations

from typing import Any

import pytest
from projection_helpers import (
    args,
    block,
    delta,
    ev,
    finish,
    finish_block,
    msg,
    reasoning,
    start,
    text,
)

from threadwire.protocol import LimitExceeded, RemoteProtocolError
from threadwire.protocol.projections import (
    MESSAGE_UPDATE_KINDS,
    InvalidToolCall,
    MessagesReducer,
    MessageToolCall,
    MessageUpdate,
    RunOutcome,
    ToolCallSource,
)


def feed(reducer: MessagesReducer, *items: dict[str, Any], ns: tuple[str, ...] = ()) -> list[Any]:
    return [reducer.apply(msg(item, ns)) for item in items]


def kinds(updates: list[MessageUpdate | None]) -> list[str | None]:
    return [u.kind if u is not None else None for u in updates]


def test_a_message_from_start_to_finish() -> None:
    reducer = MessagesReducer(history=True)
    updates = feed(
        reducer,
        start("m1", metadata={"langgraph_node": "agent"}),
        block(0, {"type": "reasoning", "reasoning": ""}),
        reasoning(0, "think"),
        reasoning(0, "ing"),
        block(1, {"type": "text", "text": ""}),
        text(1, "Hel"),
        text(1, "lo"),
        finish_block(0, {"type": "reasoning", "reasoning": "thinking", "index": 0}),
        finish_block(1, {"type": "text", "text": "Hello", "index": 1}),
        finish(usage={"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}),
    )
    assert kinds(updates) == [
        "start",
        "block-start",
        "reasoning",
        "reasoning",
        "block-start",
        "text",
        "text",
        "block-finish",
        "block-finish",
        "finish",
    ]
    assert updates[5].delta == "Hel" and updates[5].block_index == 1
    (message,) = reducer.messages
    assert message.id == "m1" and message.role == "ai" and message.node == "agent"
    assert message.status == "finished" and message.done and message.closed is None
    assert message.text == "Hello"
    assert message.reasoning == "thinking"
    assert message.usage == {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5}
    assert message.content == [
        {"type": "reasoning", "reasoning": "thinking", "index": 0},
        {"type": "text", "text": "Hello", "index": 1},
    ]
    assert reducer.open_messages == []
    assert "Hello" in repr(message) and "index=1" in repr(message.blocks[1])
    assert set(MESSAGE_UPDATE_KINDS) >= set(kinds(updates))  # type: ignore[arg-type]


def test_the_text_so_far_while_streaming() -> None:
    reducer = MessagesReducer()
    feed(reducer, start(), block(0, {"type": "text", "text": ""}), text(0, "a"), text(0, "b"))
    (message,) = reducer.open_messages
    assert message.text == "ab" and not message.done
    feed(reducer, text(0, "c"))
    assert message.text == "abc"
    assert message.blocks[0].streamed("text") == "abc"
    assert message.blocks[0].streamed("reasoning") == ""


def test_finish_events_are_authoritative_and_may_all_come_at_the_end() -> None:
    reducer = MessagesReducer(history=True)
    feed(
        reducer,
        start(),
        block(0, {"type": "text", "text": ""}),
        text(0, "draft"),
        block(1, {"type": "text", "text": ""}),
        text(1, "second"),
        finish_block(0, {"type": "text", "text": "final"}),
        finish_block(1, {"type": "text"}),  # without the field: what was streamed stays
        text(0, "late"),  # after its finish: ignored
        finish(),
    )
    (message,) = reducer.messages
    assert message.content == [
        {"type": "text", "text": "final", "index": 0},
        {"type": "text", "text": "second", "index": 1},
    ]
    assert message.text == "finalsecond"


def test_blocks_join_in_index_order() -> None:
    reducer = MessagesReducer(history=True)
    feed(reducer, start(), text(2, "world"), text(0, "hello "), finish())
    assert reducer.messages[0].text == "hello world"
    assert reducer.messages[0].content == [
        {"type": "text", "text": "hello ", "index": 0},
        {"type": "text", "text": "world", "index": 2},
    ]


def test_tool_call_chunks_are_parsed_at_message_finish() -> None:
    reducer = MessagesReducer(history=True)
    updates = feed(
        reducer,
        start(),
        block(0, {"type": "tool_call_chunk", "id": "c1", "name": "get", "args": "", "index": 0}),
        args(0, '{"city":'),
        args(0, ' "Paris"}'),
        delta(1, {"type": "tool-call-delta", "args": "{}", "id": "c2", "name": "noop"}),
        block(2, {"type": "tool_call_chunk", "id": "c3", "name": "bad"}),
        args(2, "{not json"),
        block(3, {"type": "tool_call_chunk", "id": "c4", "name": "list", "args": "[1]"}),
        block(4, {"type": "tool_call_chunk", "id": "c5", "name": "empty"}),
        finish(),
    )
    assert updates[2].kind == "args" and updates[2].delta == '{"city":'
    message = reducer.messages[0]
    assert message.tool_calls == [
        MessageToolCall(id="c1", name="get", args={"city": "Paris"}, index=0),
        MessageToolCall(id="c2", name="noop", args={}, index=1),
        MessageToolCall(id="c5", name="empty", args={}, index=4),
    ]
    invalid = message.invalid_tool_calls
    assert [(c.id, c.args, c.index) for c in invalid] == [("c3", "{not json", 2), ("c4", "[1]", 3)]
    assert invalid[0].error.startswith("arguments are not valid JSON")
    assert invalid[1].error == "arguments are not a JSON object"
    # The finished tool-call blocks carry no index (LangChain's v1 shape).
    assert message.blocks[0].content == {
        "type": "tool_call",
        "id": "c1",
        "name": "get",
        "args": {"city": "Paris"},
    }
    assert reducer.tool_call_source("c3") == ToolCallSource(message_id="m1", namespace=(), index=2)


def test_tool_call_finish_blocks() -> None:
    reducer = MessagesReducer(history=True)
    feed(
        reducer,
        start(),
        block(0, {"type": "tool_call_chunk", "id": "a", "name": "f", "args": ""}),
        args(0, '{"x": 1}'),
        finish_block(0, {"type": "tool_call", "id": "a", "name": "f", "args": {"x": 1}}),
        args(1, '{"y"'),
        finish_block(1, {"type": "tool_call_chunk", "id": "b", "name": "g"}),  # streamed args
        finish_block(2, {"type": "tool_call", "id": "c", "name": "h", "args": '{"z": 3}'}),
        finish_block(
            3, {"type": "invalid_tool_call", "id": "d", "name": "i", "args": "x", "error": "bad"}
        ),
        finish_block(4, {"type": "tool_call_chunk", "id": "e", "args": "{}"}),
        finish(),
    )
    message = reducer.messages[0]
    assert [(c.id, c.args) for c in message.tool_calls] == [
        ("a", {"x": 1}),
        ("c", {"z": 3}),
        ("e", {}),
    ]
    assert [(c.id, c.args, c.error) for c in message.invalid_tool_calls][1] == ("d", "x", "bad")
    assert message.invalid_tool_calls[0].args == '{"y"'


def test_invalid_tool_call_args_that_are_not_text() -> None:
    reducer = MessagesReducer(history=True)
    feed(
        reducer,
        start(),
        finish_block(0, {"type": "tool_call_chunk", "id": "a", "args": 5}),
        finish(),
    )
    (invalid,) = reducer.messages[0].invalid_tool_calls
    assert invalid.args == "5" and invalid.error == "arguments are not a JSON object"
    assert invalid.name is None


def test_data_and_block_deltas() -> None:
    reducer = MessagesReducer(history=True)
    updates = feed(
        reducer,
        start(),
        block(0, {"type": "image", "mime_type": "image/png"}),
        delta(0, {"type": "data-delta", "data": "iVBO"}),
        delta(0, {"type": "data-delta", "data": "Rw0K"}),
        delta(1, {"type": "data-delta", "data": "AAEC", "encoding": "hex"}),
        delta(1, {"type": "data-delta", "data": "AwQF"}),
        delta(2, {"type": "block-delta", "fields": {"type": "non_standard", "value": {"a": 1}}}),
        delta(2, {"type": "block-delta", "fields": {"value": {"a": 2}, "extra": None}}),
        delta(3, {"type": "future-delta", "stuff": 1}),
        finish(),
    )
    assert kinds(updates)[2:9] == ["data", "data", "data", "data", "fields", "fields", None]
    content = reducer.messages[0].content
    assert content[0] == {
        "type": "image",
        "mime_type": "image/png",
        "base64": "iVBORw0K",
        "index": 0,
    }
    assert content[1] == {"encoding": "hex", "base64": "AAECAwQF", "index": 1}
    assert content[2] == {"type": "non_standard", "value": {"a": 2}, "index": 2}
    assert reducer.messages[0].text == ""


def test_block_delta_replaces_what_was_appended() -> None:
    reducer = MessagesReducer(history=True)
    feed(
        reducer,
        start(),
        block(0, {"type": "tool_call_chunk", "id": "a", "name": "f", "args": ""}),
        args(0, '{"x"'),
        delta(
            0, {"type": "block-delta", "fields": {"type": "tool_call_chunk", "args": '{"x": 2}'}}
        ),
        finish(),
    )
    assert reducer.messages[0].tool_calls[0].args == {"x": 2}


def test_a_block_switching_what_it_appends_to() -> None:
    reducer = MessagesReducer(history=True)
    feed(reducer, start(), text(0, "a"), reasoning(0, "b"), text(0, "c"), finish())
    assert reducer.messages[0].content == [
        {"type": "text", "text": "ac", "reasoning": "b", "index": 0}
    ]


def test_a_repeated_block_start_merges() -> None:
    reducer = MessagesReducer(history=True)
    feed(
        reducer,
        start(),
        block(0, {"type": "text", "text": ""}),
        text(0, "x"),
        block(0, {"type": "text", "annotations": []}),
        finish_block(0, {"type": "text", "text": "x"}),
        block(0, {"type": "text", "text": "ignored"}),  # after its finish
        finish(),
    )
    assert reducer.messages[0].content == [{"type": "text", "text": "x", "index": 0}]


def test_mirrored_tool_result_messages() -> None:
    reducer = MessagesReducer(history=True)
    ns = ("tools:call_1",)
    updates = feed(
        reducer,
        start("tool-call_1", role="tool", tool_call_id="call_1"),
        block(0, {"type": "text", "text": ""}),
        {"event": "content-block-delta", "index": 0, "content": {"type": "text", "text": "sunny"}},
        {
            "event": "content-block-delta",
            "index": 1,
            "content_block": {"type": "reasoning", "reasoning": "r"},
        },
        {"event": "content-block-delta", "index": 2, "content": {"type": "image", "url": "u"}},
        {"event": "content-block-delta", "index": 3, "content": {"type": "text", "text": 7}},
        finish_block(0, {"type": "text", "text": "sunny"}),
        {"event": "content-block-delta", "index": 0, "content": {"type": "text", "text": "late"}},
        finish(metadata={}),
        ns=ns,
    )
    assert kinds(updates)[2:8] == ["text", "reasoning", "fields", "fields", "block-finish", None]
    (message,) = reducer.messages
    assert message.role == "tool" and message.tool_call_id == "call_1"
    assert message.namespace == ns
    assert message.text == "sunny" and message.reasoning == "r"
    assert message.finish_metadata == {}


def test_routing_by_message_id() -> None:
    reducer = MessagesReducer(history=True)
    feed(
        reducer,
        start("a"),
        start("b"),
        text(0, "to b", message_id="b"),
        text(0, " again", message_id="b"),
        text(0, "to a", id="a"),
        text(0, "unknown", message_id="zzz"),
        finish(message_id="a"),
        text(0, " more"),  # b is now the only one open
        finish(),
    )
    assert [(m.id, m.text, m.status) for m in reducer.messages] == [
        ("a", "to a", "finished"),
        ("b", "to b again more", "finished"),
    ]
    assert reducer.problems == []


def test_each_namespace_has_its_own_open_message() -> None:
    reducer = MessagesReducer(history=True)
    feed(reducer, start("root"))
    feed(reducer, start("child"), ns=("child:1",))
    feed(reducer, text(0, "r"))
    feed(reducer, text(0, "c"), finish(), ns=("child:1",))
    feed(reducer, text(0, "!"), finish())
    assert [(m.namespace, m.text) for m in reducer.messages] == [((), "r!"), (("child:1",), "c")]


def test_events_that_cannot_be_placed_fail_the_candidates() -> None:
    reducer = MessagesReducer(history=True, max_problems=1)
    a, b, c = (start(x) for x in "abc")
    updates = feed(
        reducer,
        a,
        block(0, {"type": "text", "text": ""}),
        text(0, "only a"),
        b,
        text(0, "whose?"),  # unplaceable: a and b fail
        text(0, "dropped"),
        c,  # c starts while a and b may still send events
        text(0, "still unclear"),  # c fails too
        finish(),
        finish(),
        finish(),  # the three finishes: the namespace is clear again
        start("d"),
        text(0, "d is alone"),
        finish(),
        finish(),  # nothing open: an orphan
    )
    ambiguous = updates[4]
    assert ambiguous is not None and ambiguous.kind == "ambiguous"
    assert [m.id for m in ambiguous.delta] == ["a", "b"]
    assert ambiguous.message.id == "b"
    assert kinds(updates)[5:8] == [None, "start", "ambiguous"]
    assert [(m.id, m.status, m.text) for m in reducer.messages] == [
        ("a", "error", "only a"),
        ("b", "error", ""),
        ("c", "error", ""),
        ("d", "finished", "d is alone"),
    ]
    assert reducer.messages[0].error_code == "ambiguous"
    assert "2 messages were open" in (reducer.messages[0].error or "")
    assert "earlier messages" in (reducer.messages[2].error or "")
    assert reducer.problem_count == 2 and len(reducer.problems) == 1
    assert isinstance(reducer.problems[0], RemoteProtocolError)
    assert reducer.open_messages == []


def test_an_unplaceable_finish_counts_as_one_ended_message() -> None:
    reducer = MessagesReducer(history=True)
    feed(reducer, start("a"), start("b"), finish(), finish(), start("c"), text(0, "x"), finish())
    assert [m.status for m in reducer.messages] == ["error", "error", "finished"]
    assert reducer.messages[2].text == "x"


def test_ids_route_even_while_a_namespace_is_unclear() -> None:
    reducer = MessagesReducer(history=True)
    feed(
        reducer,
        start("a"),
        start("b"),
        text(0, "?"),
        start("c"),
        text(0, "for c", id="c"),
        finish(id="c"),
    )
    assert [m.status for m in reducer.messages] == ["error", "error", "finished"]
    assert reducer.messages[2].text == "for c"


def test_message_error_fails_the_message() -> None:
    reducer = MessagesReducer(history=True)
    updates = feed(
        reducer,
        start(),
        text(0, "partial"),
        args(1, '{"a":'),
        {"event": "error", "message": "rate limited", "code": "429"},
    )
    assert updates[-1] == MessageUpdate("error", reducer.messages[0], None, "rate limited")
    message = reducer.messages[0]
    assert message.status == "error" and message.done
    assert message.error == "rate limited" and message.error_code == "429"
    assert message.text == "partial"
    (invalid,) = message.invalid_tool_calls
    assert invalid.args == '{"a":' and invalid.error == "the message failed: rate limited"


def test_end_of_run_closes_open_messages_as_they_are() -> None:
    reducer = MessagesReducer(history=True)
    feed(reducer, start("a"), text(0, "Partial answer"), args(1, '{"x": 1}'))
    feed(reducer, start("b"), ns=("child:1",))
    updates = reducer.end_of_run(RunOutcome(status="failed", error="boom"))
    assert [u.kind for u in updates] == ["closed", "closed"]
    reason = "the run failed before the message finished: boom"
    assert updates[0].delta == reason
    a, b = reducer.messages
    assert a.status == "open" and a.closed == reason and a.done
    assert a.text == "Partial answer"
    assert a.invalid_tool_calls == [
        InvalidToolCall(id=None, name=None, args='{"x": 1}', error=reason, index=1)
    ]
    assert b.closed == reason
    assert reducer.open_messages == []
    assert feed(reducer, text(0, "after")) == [None]
    assert reducer.end_of_run(RunOutcome(status="completed")) == []


def test_close_says_the_stream_ended() -> None:
    reducer = MessagesReducer()
    feed(reducer, start())
    (update,) = reducer.close()
    assert update.message.closed == "the stream ended before the message finished"
    interrupted = MessagesReducer()
    feed(interrupted, start())
    (update,) = interrupted.end_of_run(RunOutcome(status="interrupted"))
    assert update.delta == "the run was interrupted before the message finished"


def test_without_history_finished_messages_are_not_kept() -> None:
    reducer = MessagesReducer()
    updates = feed(reducer, start(), text(0, "hi"), finish())
    assert reducer.messages == []
    assert reducer.open_messages == []
    assert updates[-1] is not None and updates[-1].message.text == "hi"


def test_a_repeated_message_start_closes_the_earlier_one() -> None:
    reducer = MessagesReducer(history=True)
    feed(reducer, start("a"), text(0, "one"), start("a"), text(0, "two"), finish())
    first, second = reducer.messages
    assert first.closed == "another message-start came with the same message id"
    assert first.text == "one" and second.text == "two" and second.status == "finished"


def test_a_message_without_an_id() -> None:
    reducer = MessagesReducer(history=True)
    feed(reducer, start(None), text(0, "anon"), finish())
    assert reducer.messages[0].id is None and reducer.messages[0].text == "anon"
    # ``message_id`` is accepted on message-start too.
    feed(reducer, {"event": "message-start", "message_id": "x"}, finish())
    assert reducer.messages[1].id == "x" and reducer.messages[1].role is None


def test_node_comes_from_the_event_or_the_metadata() -> None:
    reducer = MessagesReducer(history=True)
    reducer.apply(msg(start("a"), node="chat"))
    reducer.apply(msg(finish()))
    feed(reducer, start("b", metadata={"langgraph_node": 5}), finish())
    assert [m.node for m in reducer.messages] == ["chat", None]


def test_other_channels_and_unknown_message_events_are_ignored() -> None:
    reducer = MessagesReducer()
    assert reducer.apply(ev("values", {"x": 1})) is None
    assert feed(reducer, {"event": "message-pause"}) == [None]
    assert feed(reducer, text(0, "nobody is open")) == [None]
    assert feed(reducer, finish_block(0, {"type": "text"})) == [None]


def test_tool_call_links_are_a_window_and_the_latest_wins() -> None:
    reducer = MessagesReducer(max_tool_call_links=2)
    feed(
        reducer,
        start("m"),
        block(0, {"type": "tool_call_chunk", "id": "a"}),
        block(1, {"type": "tool_call_chunk", "id": "b"}),
        block(2, {"type": "tool_call_chunk", "id": "c"}),
        block(3, {"type": "text", "id": "not-a-call"}),
        block(4, {"type": "tool_call_chunk", "id": 5}),
        finish(),
        start("n"),
        block(0, {"type": "tool_call_chunk", "id": "c"}),
        finish(),
    )
    assert reducer.tool_call_source("a") is None
    assert reducer.tool_call_source("b") == ToolCallSource(message_id="m", namespace=(), index=1)
    assert reducer.tool_call_source("c") == ToolCallSource(message_id="n", namespace=(), index=0)
    assert reducer.tool_call_source("not-a-call") is None


def test_limits() -> None:
    reducer = MessagesReducer(max_open_messages=2, max_blocks=2)
    feed(reducer, start("a"), start("b"))
    with pytest.raises(LimitExceeded) as info:
        feed(reducer, start("c"))
    assert info.value.limit == "max_open_messages"
    # The refused start left nothing behind: id-less events still find a and b.
    assert [m.id for m in reducer.open_messages] == ["a", "b"]
    feed(reducer, text(0, "x", id="a"), text(1, "y", id="a"))
    with pytest.raises(LimitExceeded):
        feed(reducer, text(2, "z", id="a"))


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("not an object", "must be an object"),
        ({"index": 0}, "params.data.event is required"),
        ({"event": 5}, "params.data.event of a 'messages' event must be a string"),
        ({"event": ["x"]}, "params.data.event of a 'messages' event must be a string"),
        (delta(0, {"type": ["unhashable"]}), "delta.type must be a string"),
        ({"event": "content-block-delta", "index": [0], "delta": {}}, "must be an integer"),
        (
            {
                "event": "content-block-delta",
                "index": 0,
                "delta": {"type": "text-delta", "text": ["x"]},
            },
            "must be a str",
        ),
        ({"event": "content-block-delta", "delta": {}}, "index of a content-block-delta"),
        ({"event": "content-block-delta", "index": True, "delta": {}}, "must be an integer"),
        (text(0, "x", message_id=5), "message_id must be a string"),
        (delta(0, {"type": "text-delta", "text": None}), "delta.text must be a string"),
        (delta(0, {"type": "reasoning-delta"}), "delta.reasoning must be a string"),
        ({"event": "content-block-delta", "index": 0, "delta": "x"}, "delta must be an object"),
        ({"event": "content-block-delta", "index": 0}, "delta is required"),
        (delta(0, {"type": "data-delta"}), "delta.data is required"),
        (delta(0, {"type": "block-delta", "fields": 1}), "fields must be an object"),
        ({"event": "content-block-finish", "index": 0}, "content is required"),
        ({"event": "content-block-start", "index": "0", "content": {}}, "must be an integer"),
        ({"event": "error"}, "params.data.message is required"),
        ({"event": "message-finish", "usage": []}, "usage must be an object"),
    ],
)
def test_malformed_events(data: Any, message: str) -> None:
    reducer = MessagesReducer()
    reducer.apply(msg(start("m1")))
    with pytest.raises(RemoteProtocolError, match=message):
        reducer.apply(msg(data))


def test_malformed_message_start() -> None:
    with pytest.raises(RemoteProtocolError, match="role must be a string"):
        MessagesReducer().apply(msg({"event": "message-start", "role": 1}))


def test_settled_and_odd_blocks() -> None:
    reducer = MessagesReducer(history=True)
    updates = feed(
        reducer,
        start("a"),
        start(None),  # a second, id-less message in the same namespace
        finish(id="a"),
        block(0, {"type": "tool_call_chunk", "id": "w", "name": "ws", "args": "  "}),
        block(1, {"type": "tool_call", "id": "t", "name": "n", "args": {"k": 1}}),
        {"event": "content-block-delta", "index": 2, "content": {"type": "text", "text": "a"}},
        {"event": "content-block-delta", "index": 2, "content": {"type": "text", "text": "b"}},
        finish_block(3, {"type": "text", "text": "done"}),
        finish_block(3, {"type": "text", "text": "again"}),
        args(3, "late"),
        finish(),
    )
    assert kinds(updates)[-3:] == [None, None, "finish"]
    message = reducer.messages[1]
    assert message.id is None
    assert [(c.id, c.args) for c in message.tool_calls] == [("w", {}), ("t", {"k": 1})]
    assert message.blocks[1].content == {
        "type": "tool_call",
        "id": "t",
        "name": "n",
        "args": {"k": 1},
    }
    assert message.text == "abdone"
    third = message.blocks[3]
    assert third.finished and third.type == "text"
    assert message.blocks[0].type == "tool_call"
    unfinished = MessagesReducer()
    feed(unfinished, start(), delta(0, {"type": "block-delta", "fields": {"type": 5}}))
    (open_message,) = unfinished.open_messages
    assert not open_message.blocks[0].finished and open_message.blocks[0].type is None
