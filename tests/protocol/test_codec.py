"""The codec: JSON envelopes <-> ``Event``/``CommandSuccess``/``CommandFailure``.

Charter:

* A well-formed envelope decodes into exactly the fields it carries
  (snake_case, or the spec's camelCase where the snake_case name is absent);
  a property test generates envelopes with every optional field present or
  absent and checks the decoded event against the generator, and that
  encoding it again and decoding gives the same event.
* Every malformed envelope raises ``RemoteProtocolError`` whose message names
  the field; nothing else escapes (fuzzed further in ``test_fuzz_mirror``).
* Replies: success and error envelopes as the real server sends them,
  ``meta.applied_through_seq``, the ``resume_gap`` extras, the string id the
  server echoes for a malformed command.
* Producer role: ``decode_command`` answers malformed commands with the
  server's exact messages and the id to echo; the ``encode_*`` functions write
  the server's compact JSON.
* The field validators of ``_fields`` and the error classes of ``_errors``.
"""

from __future__ import annotations

from typing import Any, get_args

import orjson
import pytest
from helpers import envelope, event_bytes
from hypothesis import given, settings
from hypothesis import strategies as st

from threadwire.protocol import (
    CHANNELS,
    AgentGetTree,
    CommandError,
    CommandFailure,
    CommandSuccess,
    Event,
    HTTPStatusError,
    LimitExceeded,
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    RunStart,
    StreamTruncated,
    UnknownCommand,
    UnknownMessage,
    channel_of,
    decode_command,
    decode_event_object,
    decode_message,
    decode_object,
    dumps,
    encode_command,
    encode_event,
    encode_failure,
    encode_success,
    event_to_json,
    loads,
)
from threadwire.protocol import _fields as f
from threadwire.protocol._codec import _FastMethod

DROP = object()
"""A change that removes the key."""


def changed(obj: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in {**obj, **changes}.items() if v is not DROP}


def decode_error(raw: bytes | str) -> str:
    with pytest.raises(RemoteProtocolError) as info:
        decode_message(raw)
    return info.value.message


# -- JSON and the envelope's type ---------------------------------------------------------


@pytest.mark.parametrize("raw", [b"{bad", b"", "{", b'{"a":1} x', b"\xff", b"NaN", b"[1,"])
def test_invalid_json(raw: bytes | str) -> None:
    assert decode_error(raw).startswith("message is not valid JSON")
    with pytest.raises(RemoteProtocolError, match="not valid JSON"):
        loads(raw)


def test_loads_and_dumps() -> None:
    assert loads(b'{"a": [1, 2.5, null]}') == {"a": [1, 2.5, None]}
    assert dumps({"a": [1, None], "b": "\u2028"}) == '{"a":[1,null],"b":"\u2028"}'.encode()
    with pytest.raises(TypeError):
        dumps({1: 2})


@pytest.mark.parametrize(
    ("raw", "kind"),
    [(b"[]", "list"), (b'"x"', "str"), (b"1", "int"), (b"null", "null"), (b"true", "bool")],
)
def test_message_must_be_an_object(raw: bytes, kind: str) -> None:
    assert decode_error(raw) == f"message must be a JSON object, got {kind}"


def test_message_type() -> None:
    assert decode_error(b'{"detail": "Invalid JSON body"}') == "message has no 'type' field"
    assert decode_error(b'{"type": null}') == "message has no 'type' field"
    assert decode_error(b'{"type": 5}') == "message 'type' must be a string, got int"
    assert decode_message(b'{"type": "ping", "n": 1}') == UnknownMessage(
        type="ping", data={"type": "ping", "n": 1}
    )


# -- events -----------------------------------------------------------------------------------

SERVER_EVENT = (
    b'{"type":"event","event_id":"1795236822726-0.1","seq":3,"method":"values",'
    b'"params":{"namespace":[],"timestamp":1795236822726,"data":{"topic":"dogs and cats"}}}'
)


def test_server_event() -> None:
    event = decode_message(SERVER_EVENT)
    assert event == Event(
        method="values",
        channel="values",
        namespace=(),
        data={"topic": "dogs and cats"},
        seq=3,
        event_id="1795236822726-0.1",
        timestamp=1795236822726,
    )
    assert event.is_root
    assert decode_message(SERVER_EVENT.decode()) == event
    assert encode_event(event) == SERVER_EVENT


def test_event_with_every_optional_field() -> None:
    raw = event_bytes(
        "updates",
        {"plan": None},
        namespace=["child:1", "grand:2"],
        node="plan",
        timestamp=1.5,
        interrupts=[{"id": "i"}],
    )
    event = decode_message(raw)
    assert event.namespace == ("child:1", "grand:2")
    assert not event.is_root
    assert (event.node, event.timestamp, event.extra) == (
        "plan",
        1.5,
        {"interrupts": [{"id": "i"}]},
    )
    assert encode_event(event) == raw


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"seq": DROP, "event_id": DROP}, {"seq": None, "event_id": None}),
        ({"seq": None, "event_id": None}, {"seq": None, "event_id": None}),
        ({"event_id": None, "eventId": "e-1"}, {"event_id": "e-1"}),
        ({"event_id": DROP, "eventId": "e-1"}, {"event_id": "e-1"}),
        ({"event_id": "snake", "eventId": "camel"}, {"event_id": "snake"}),
        ({"params": {"data": 1}}, {"namespace": (), "timestamp": None, "data": 1, "extra": None}),
        ({"params": {"namespace": None, "data": 1, "x": 2}}, {"namespace": (), "extra": {"x": 2}}),
        ({"params": {"namespace": [], "data": None, "node": None}}, {"data": None, "node": None}),
        ({"params": {}}, {"data": None, "extra": None}),
    ],
)
def test_event_optional_fields(changes: dict[str, Any], expected: dict[str, Any]) -> None:
    event = decode_object(changed(envelope(), changes))
    for name, value in expected.items():
        assert getattr(event, name) == value, name


@pytest.mark.parametrize(
    ("method", "data", "channel"),
    [
        ("values", {}, "values"),
        ("input.requested", {"interrupt_id": "i"}, "input"),
        ("custom", {"payload": 1}, "custom"),
        ("custom", {"name": "progress", "payload": 1}, "custom:progress"),
        ("custom", {"name": "", "payload": 1}, "custom"),
        ("custom", {"name": 5}, "custom"),
        ("custom", [1], "custom"),
        ("custom", None, "custom"),
        ("lifecycle", {"event": "running"}, "lifecycle"),
        ("future.method", {}, "future.method"),
    ],
)
def test_channel(method: str, data: Any, channel: str) -> None:
    for raw in (event_bytes(method, data), event_bytes(method, data, node="n")):
        assert decode_message(raw).channel == channel
    assert channel_of(method, data) == channel


BAD_EVENTS = [
    ({"method": DROP}, "event has no 'method' field"),
    ({"method": None}, "event has no 'method' field"),
    ({"method": 5}, "event 'method' must be a string, got int"),
    ({"params": DROP}, "values event has no 'params' field"),
    ({"params": []}, "values event 'params' must be an object"),
    ({"params": "x"}, "values event 'params' must be an object"),
    ({"seq": "1"}, "seq must be an integer, got str"),
    ({"seq": True}, "seq must be an integer, got bool"),
    ({"seq": 1.0}, "seq must be an integer, got float"),
    ({"event_id": 5}, "event_id must be a string, got int"),
    ({"event_id": None, "eventId": 5}, "event_id must be a string, got int"),
    ({"event_id": DROP, "eventId": 5}, "event_id must be a string, got int"),
    ({"event_id": None, "eventId": ["x"]}, "event_id must be a string, got list"),
    ({"params": {"namespace": [], "data": {}, "node": 5}}, "params.node must be a string, got int"),
    ({"params": {"namespace": [], "timestamp": "1"}}, "params.timestamp must be a number, got str"),
    (
        {"params": {"namespace": [], "timestamp": True}},
        "params.timestamp must be a number, got bool",
    ),
    ({"params": {"namespace": "a"}}, "params.namespace must be an array of strings, got str"),
    ({"params": {"namespace": {"a": 1}}}, "params.namespace must be an array of strings, got dict"),
    ({"params": {"namespace": {}}}, "params.namespace must be an array of strings, got dict"),
    ({"params": {"namespace": 0}}, "params.namespace must be an array of strings, got int"),
    ({"params": {"namespace": False}}, "params.namespace must be an array of strings, got bool"),
    (
        {"params": {"namespace": ["a", 1]}},
        "params.namespace must be an array of strings, found int",
    ),
    (
        {"params": {"namespace": ["a", None], "timestamp": 1, "data": {}}},
        "params.namespace must be an array of strings, found null",
    ),
]


@pytest.mark.parametrize(("changes", "message"), BAD_EVENTS)
def test_bad_event(changes: dict[str, Any], message: str) -> None:
    assert decode_error(orjson.dumps(changed(envelope(), changes))) == message


# Generated envelopes: every optional field present or absent, the decoded event is
# checked field by field against what was generated.

_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
_ABSENT = object()
_METHODS = st.sampled_from(
    ["values", "updates", "messages", "tools", "lifecycle", "custom", "input.requested", "x.y"]
)
_EXTRA = st.dictionaries(
    st.text(max_size=6).filter(lambda k: k not in ("namespace", "timestamp", "data", "node")),
    _JSON,
    max_size=2,
)


def _maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.just(_ABSENT) | st.none() | strategy


@st.composite
def generated_envelope(draw: st.DrawFn) -> tuple[dict[str, Any], Event]:
    method = draw(_METHODS)
    seq = draw(_maybe(st.integers(-(2**63), 2**63 - 1)))
    id_key = draw(st.sampled_from(["event_id", "eventId"]))
    event_id = draw(_maybe(st.text(max_size=12)))
    namespace = draw(_maybe(st.lists(st.text(max_size=6), max_size=3)))
    timestamp = draw(_maybe(st.integers(0, 2**53) | st.floats(0, 1e13)))
    data = draw(_maybe(_JSON))
    node = draw(_maybe(st.text(max_size=6)))
    extra = draw(_EXTRA)
    params = {
        k: v
        for k, v in {
            "namespace": namespace,
            "timestamp": timestamp,
            "data": data,
            "node": node,
        }.items()
        if v is not _ABSENT
    }
    params.update(extra)
    obj = {"type": "event", id_key: event_id, "seq": seq, "method": method, "params": params}
    obj = {k: v for k, v in obj.items() if v is not _ABSENT}

    def value(x: Any) -> Any:
        return None if x is _ABSENT else x

    expected = Event(
        method=method,
        channel=channel_of(method, value(data)),
        namespace=tuple(value(namespace) or ()),
        data=value(data),
        seq=value(seq),
        event_id=value(event_id),
        timestamp=value(timestamp),
        node=value(node),
        extra=extra or None,
    )
    return obj, expected


@settings(max_examples=400, deadline=None)
@given(generated_envelope())
def test_generated_envelopes_decode_to_what_they_carry(case: tuple[dict[str, Any], Event]) -> None:
    obj, expected = case
    event = decode_message(orjson.dumps(obj))
    assert event == expected
    again = decode_message(encode_event(event))
    assert again == event
    assert type(again) is Event


@settings(max_examples=300, deadline=None)
@given(generated_envelope(), st.data())
def test_one_bad_field_is_named(case: tuple[dict[str, Any], Event], data: st.DataObject) -> None:
    obj, _ = case
    params = obj["params"]
    target, where, bad = data.draw(
        st.sampled_from(
            [
                (obj, "seq", "1"),
                (obj, "seq", 2.0),
                (obj, "event_id", 7),
                (obj, "method", ["m"]),
                (params, "namespace", "ns"),
                (params, "namespace", ["ok", 3]),
                (params, "timestamp", "now"),
                (params, "node", {}),
            ]
        )
    )
    target[where] = bad
    with pytest.raises(RemoteProtocolError, match=where):
        decode_object(obj)


# -- replies ---------------------------------------------------------------------------------


def test_server_success() -> None:
    reply = decode_message(
        b'{"type":"success","id":1,"result":{"run_id":"01a1fc73"},"meta":{"applied_through_seq":0}}'
    )
    assert reply == CommandSuccess(
        id=1, result={"run_id": "01a1fc73"}, applied_through_seq=0, meta={"applied_through_seq": 0}
    )


@pytest.mark.parametrize(
    ("obj", "seq", "result"),
    [
        ({"id": 4, "result": {}}, None, {}),
        ({"id": 4, "result": {}, "meta": None}, None, {}),
        ({"id": 4, "meta": {"appliedThroughSeq": 7}}, 7, None),
        ({"id": 0, "result": [1], "meta": {"other": 1}}, None, [1]),
        ({"id": -5, "result": None, "meta": {"applied_through_seq": 5}}, 5, None),
    ],
)
def test_success_variants(obj: dict[str, Any], seq: int | None, result: Any) -> None:
    reply = decode_object({"type": "success", **obj})
    assert isinstance(reply, CommandSuccess)
    assert (reply.id, reply.applied_through_seq, reply.result) == (obj["id"], seq, result)


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({}, "success reply has no 'id' field"),
        ({"id": None}, "success reply has no 'id' field"),
        ({"id": "7"}, "success reply 'id' must be an integer, got str"),
        ({"id": True}, "success reply 'id' must be an integer, got bool"),
        ({"id": 1, "meta": []}, "reply 'meta' must be an object, got list"),
        (
            {"id": 1, "meta": {"applied_through_seq": "5"}},
            "meta.applied_through_seq must be an integer",
        ),
        (
            {"id": 1, "meta": {"applied_through_seq": 1.0}},
            "meta.applied_through_seq must be an integer",
        ),
        ({"error": "x", "meta": 5}, "reply 'meta' must be an object, got int"),
    ],
)
def test_bad_replies(obj: dict[str, Any], message: str) -> None:
    kind = "error" if "error" in obj else "success"
    assert decode_error(orjson.dumps({"type": kind, **obj})).startswith(message)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b'{"type":"error","id":2,"error":"unknown_command",'
            b'"message":"Unknown protocol command: nope.method"}',
            CommandFailure(
                id=2, code="unknown_command", message="Unknown protocol command: nope.method"
            ),
        ),
        (
            b'{"type":"error","id":null,"error":"invalid_argument",'
            b'"message":"Protocol commands must be valid JSON."}',
            CommandFailure(
                id=None, code="invalid_argument", message="Protocol commands must be valid JSON."
            ),
        ),
        (
            b'{"type":"error","id":"x","error":"invalid_argument","message":"m"}',
            CommandFailure(id=None, code="invalid_argument", message="m"),
        ),
        (
            b'{"type":"error","id":5,"error":"no_such_subscription",'
            b'"message":"Unknown subscription: nope","meta":{"applied_through_seq":5}}',
            CommandFailure(
                id=5,
                code="no_such_subscription",
                message="Unknown subscription: nope",
                applied_through_seq=5,
            ),
        ),
        (
            b'{"type":"error","id":4,"error":"resume_gap","message":"gap","since":2,'
            b'"min_available_seq":40,"meta":{"applied_through_seq":90}}',
            CommandFailure(
                id=4,
                code="resume_gap",
                message="gap",
                extra={"since": 2, "min_available_seq": 40},
                applied_through_seq=90,
            ),
        ),
        (
            b'{"type":"error","id":3,"error":"unknown_error","stacktrace":"Traceback"}',
            CommandFailure(id=3, code="unknown_error", message="", stacktrace="Traceback"),
        ),
        (
            b'{"type":"error","id":3,"error":"x","message":null,"id2":true}',
            CommandFailure(id=3, code="x", message="", extra={"id2": True}),
        ),
    ],
)
def test_failures(raw: bytes, expected: CommandFailure) -> None:
    assert decode_message(raw) == expected


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"id": 1}, "error is required but missing"),
        ({"id": 1, "error": 5}, "error must be a string, got int"),
        ({"id": 1, "error": "x", "message": 5}, "message must be a string, got int"),
        ({"id": 1, "error": "x", "stacktrace": []}, "stacktrace must be a string, got list"),
    ],
)
def test_bad_failures(obj: dict[str, Any], message: str) -> None:
    assert decode_error(orjson.dumps({"type": "error", **obj})) == message


def test_failure_to_error() -> None:
    failure = decode_message(
        b'{"type":"error","id":4,"error":"resume_gap","message":"too old","since":2,'
        b'"min_available_seq":40,"meta":{"applied_through_seq":90}}'
    )
    assert isinstance(failure, CommandFailure)
    error = failure.to_error("subscription.reconnect")
    assert isinstance(error, CommandError)
    assert str(error) == "subscription.reconnect (id 4) failed with resume_gap: too old"
    assert (error.code, error.message, error.method, error.command_id) == (
        "resume_gap",
        "too old",
        "subscription.reconnect",
        4,
    )
    assert error.extra == {"since": 2, "min_available_seq": 40}
    assert error.applied_through_seq == 90
    assert str(failure.to_error()) == "command id 4 failed with resume_gap: too old"


# -- encoding -------------------------------------------------------------------------------


def test_encode_command() -> None:
    assert encode_command(1, RunStart(assistant_id="agent", input={"topic": "dogs"})) == (
        b'{"id":1,"method":"run.start","params":{"assistant_id":"agent","input":{"topic":"dogs"}}}'
    )
    assert encode_command(3, AgentGetTree()) == b'{"id":3,"method":"agent.getTree","params":{}}'


def test_event_to_json_omits_what_is_unset() -> None:
    event = Event(method="custom", channel="custom", namespace=("a",), data=None)
    assert event_to_json(event) == {
        "type": "event",
        "method": "custom",
        "params": {"namespace": ["a"], "data": None},
    }
    assert decode_message(encode_event(event)) == event


@pytest.mark.parametrize(
    ("args", "wire"),
    [
        (
            (1, {"run_id": "r"}, 0),
            b'{"type":"success","id":1,"result":{"run_id":"r"},"meta":{"applied_through_seq":0}}',
        ),
        ((2, {}, None), b'{"type":"success","id":2,"result":{}}'),
    ],
)
def test_encode_success(args: tuple[Any, ...], wire: bytes) -> None:
    assert encode_success(*args) == wire
    reply = decode_message(wire)
    assert isinstance(reply, CommandSuccess)
    assert (reply.id, reply.result, reply.applied_through_seq) == args


@pytest.mark.parametrize(
    ("args", "kwargs", "wire"),
    [
        (
            (None, "invalid_argument", "Protocol commands must be valid JSON."),
            {},
            b'{"type":"error","id":null,"error":"invalid_argument",'
            b'"message":"Protocol commands must be valid JSON."}',
        ),
        (
            (4, "resume_gap", "gap"),
            {"applied_through_seq": 9, "extra": {"since": 2, "min_available_seq": 40}},
            b'{"type":"error","id":4,"error":"resume_gap","message":"gap","since":2,'
            b'"min_available_seq":40,"meta":{"applied_through_seq":9}}',
        ),
    ],
)
def test_encode_failure(args: tuple[Any, ...], kwargs: dict[str, Any], wire: bytes) -> None:
    assert encode_failure(*args, **kwargs) == wire
    failure = decode_message(wire)
    assert isinstance(failure, CommandFailure)
    assert (failure.id, failure.code, failure.message) == args
    assert failure.extra == kwargs.get("extra", {})
    assert failure.applied_through_seq == kwargs.get("applied_through_seq")


# -- decode_command (producer role) ---------------------------------------------------------

BAD_ENVELOPE = "Protocol commands must include an integer id and string method."


@pytest.mark.parametrize(
    ("raw", "message", "command_id"),
    [
        (b"{bad json", "Protocol commands must be valid JSON.", None),
        ("not json", "Protocol commands must be valid JSON.", None),
        (b"", "Protocol commands must be valid JSON.", None),
        (b"[1, 2, 3]", BAD_ENVELOPE, None),
        (b'"run.start"', BAD_ENVELOPE, None),
        (b'{"method": "run.start", "params": {}}', BAD_ENVELOPE, None),
        (b'{"id": "x", "method": "run.start"}', BAD_ENVELOPE, "x"),
        (b'{"id": 1}', BAD_ENVELOPE, 1),
        (b'{"id": 1, "method": 5}', BAD_ENVELOPE, 1),
        (b'{"id": true, "method": "run.start"}', BAD_ENVELOPE, True),
        (b'{"id": 1.0, "method": "run.start"}', BAD_ENVELOPE, 1.0),
        (
            b'{"id": 2, "method": "agent.getTree", "params": []}',
            "agent.getTree: params must be an object.",
            2,
        ),
        (
            b'{"id": 3, "method": "run.start", "params": {}}',
            "run.start requires an assistant_id.",
            3,
        ),
    ],
)
def test_decode_command_errors(raw: bytes | str, message: str, command_id: Any) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_command(raw)
    assert info.value.message == message
    assert info.value.hint == "invalid_argument"
    assert info.value.command_id == command_id  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b'{"id": -5, "method": "agent.getTree"}', (-5, AgentGetTree())),
        ('{"id": 0, "method": "agent.getTree", "params": null}', (0, AgentGetTree())),
        (
            {"id": 7, "method": "run.start", "params": {"assistant_id": "a"}},
            (7, RunStart(assistant_id="a")),
        ),
        (
            b'{"id": 2, "method": "no.such.method", "params": {"x": 1}}',
            (2, UnknownCommand(method="no.such.method", raw_params={"x": 1})),
        ),
    ],
)
def test_decode_command(raw: Any, expected: tuple[int, Any]) -> None:
    assert decode_command(raw) == expected


# -- field validators -------------------------------------------------------------------------


def test_camel() -> None:
    assert [f.camel(n) for n in ("tool_call_id", "id", "applied_through_seq")] == [
        "toolCallId",
        "id",
        "appliedThroughSeq",
    ]
    assert repr(f.MISSING) == "MISSING"


@pytest.mark.parametrize(
    ("obj", "name", "value"),
    [
        ({"tool_call_id": "a", "toolCallId": "b"}, "tool_call_id", "a"),
        ({"toolCallId": "b"}, "tool_call_id", "b"),
        ({"tool_call_id": None, "toolCallId": "b"}, "tool_call_id", None),
        ({}, "tool_call_id", f.MISSING),
        ({"Id": 1}, "id", f.MISSING),
    ],
)
def test_get(obj: dict[str, Any], name: str, value: Any) -> None:
    assert f.get(obj, name) is value or f.get(obj, name) == value


VALIDATOR_CASES = [
    (f.req_str, {"x": "a"}, "a", None),
    (f.req_str, {}, None, "w.x is required but missing"),
    (f.req_str, {"x": 1}, None, "w.x must be a string, got int"),
    (f.opt_str, {"x": None}, None, None),
    (f.opt_str, {"x": 1}, None, "w.x must be a string, got int"),
    (f.req_int, {"x": 3}, 3, None),
    (f.req_int, {}, None, "w.x is required but missing"),
    (f.req_int, {"x": False}, None, "w.x must be an integer, got bool"),
    (f.opt_int, {}, None, None),
    (f.opt_int, {"x": "3"}, None, "w.x must be an integer, got str"),
    (f.opt_bool, {"x": True}, True, None),
    (f.opt_bool, {"x": None}, None, None),
    (f.opt_bool, {"x": 1}, None, "w.x must be a boolean, got int"),
    (f.opt_dict, {"x": {}}, {}, None),
    (f.opt_dict, {}, None, None),
    (f.opt_dict, {"x": []}, None, "w.x must be an object, got list"),
    (f.req_dict, {"x": {"a": 1}}, {"a": 1}, None),
    (f.req_dict, {}, None, "w.x is required but missing"),
    (f.req_dict, {"x": None}, None, "w.x must be an object, got null"),
]


@pytest.mark.parametrize(("validator", "obj", "value", "message"), VALIDATOR_CASES)
def test_validators(validator: Any, obj: dict[str, Any], value: Any, message: str | None) -> None:
    if message is None:
        assert validator(obj, "x", "w") == value
    else:
        with pytest.raises(RemoteProtocolError) as info:
            validator(obj, "x", "w")
        assert info.value.message == message
        with pytest.raises(RemoteProtocolError) as info:
            validator(obj, "x", "")  # a top-level field: no path prefix
        assert info.value.message == message.removeprefix("w.")


def test_req_str_empty() -> None:
    assert f.req_str({"x": ""}, "x", "w") == ""
    with pytest.raises(RemoteProtocolError, match=r"w\.x must not be empty"):
        f.req_str({"x": ""}, "x", "w", empty=False)


def test_namespace() -> None:
    assert f.namespace(["a", "b"], "ns") == ("a", "b")
    assert f.namespace(("a",), "ns") == ("a",)
    with pytest.raises(RemoteProtocolError, match="ns must be an array of strings, got null"):
        f.namespace(None, "ns")
    with pytest.raises(RemoteProtocolError, match="ns must be an array of strings, found int"):
        f.namespace(["a", 1], "ns")


# -- errors -------------------------------------------------------------------------------------


def test_error_classes() -> None:
    local = LocalProtocolError("bad call")
    assert isinstance(local, ProtocolError)
    assert (local.message, str(local)) == ("bad call", "bad call")
    remote = RemoteProtocolError("bad peer")
    assert (remote.hint, remote.partial) == ("invalid_argument", None)
    remote = RemoteProtocolError("cut", hint="unknown_command", partial="abc")
    assert (remote.hint, remote.partial) == ("unknown_command", "abc")
    truncated = StreamTruncated("cut", partial="da")
    assert isinstance(truncated, RemoteProtocolError)
    assert (truncated.message, truncated.partial) == ("cut", "da")
    limit = LimitExceeded("too long", limit="max_line_length", value=10)
    assert isinstance(limit, RemoteProtocolError)
    assert (limit.message, limit.limit, limit.value, limit.hint) == (
        "too long",
        "max_line_length",
        10,
        "invalid_argument",
    )


def test_command_error() -> None:
    extra = {"since": 1}
    error = CommandError(
        "resume_gap", "old", method="subscription.reconnect", command_id=3, extra=extra
    )
    extra["since"] = 2
    assert error.extra == {"since": 1}  # a copy
    assert error.applied_through_seq is None
    assert str(error) == "subscription.reconnect (id 3) failed with resume_gap: old"
    bare = CommandError("x", "y")
    assert str(bare) == "command id None failed with x: y"
    assert (bare.method, bare.command_id, bare.extra) == (None, None, {})


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (404, False), (408, True), (429, True), (500, True), (503, True)],
)
def test_http_status_error(status: int, retryable: bool) -> None:
    error = HTTPStatusError(
        status, b'{"detail":"channels is required"}', reason="Bad", headers={"a": "b"}
    )
    assert error.retryable is retryable
    assert str(error) == f'HTTP {status} Bad: {{"detail":"channels is required"}}'
    assert (error.status, error.reason, error.headers, error.detail) == (
        status,
        "Bad",
        {"a": "b"},
        None,
    )


def test_http_status_error_detail_and_long_body() -> None:
    error = HTTPStatusError(400, b"x", detail="Invalid JSON body")
    assert str(error) == "HTTP 400: Invalid JSON body"
    assert error.headers == {}
    long = HTTPStatusError(502, b"\xff" + b"y" * 500)
    assert str(long) == "HTTP 502: \ufffd" + "y" * 199
    assert long.body == b"\xff" + b"y" * 500


# -- the three entry points agree ---------------------------------------------------


@given(
    case=st.sampled_from(["values", "messages", "custom", "input.requested"]),
    namespace=st.lists(st.sampled_from(["a:1", "b:2", "c"]), max_size=3),
)
def test_bytes_dict_and_event_entry_points_agree(case: str, namespace: list[str]) -> None:
    """decode_message (msgspec fast path), decode_object (dict fast path) and
    decode_event_object give the same event for the server's envelopes."""
    data: Any = {"name": "progress", "payload": 1} if case == "custom" else {"x": [1]}
    if case == "input.requested":
        data = {"interrupt_id": "i", "payload": {"q": 1}}
    obj = {
        "type": "event",
        "event_id": "1-0",
        "seq": 7,
        "method": case,
        "params": {"namespace": namespace, "timestamp": 5, "data": data},
    }
    from_bytes = decode_message(orjson.dumps(obj))
    assert from_bytes == decode_object(obj) == decode_event_object(obj)
    assert isinstance(from_bytes, Event) and from_bytes.namespace == tuple(namespace)


def test_dict_fast_path_names_a_bad_namespace_segment() -> None:
    obj = {
        "type": "event",
        "event_id": "1",
        "seq": 1,
        "method": "values",
        "params": {"namespace": ["a", 3], "timestamp": 1, "data": {}},
    }
    with pytest.raises(RemoteProtocolError, match=r"params\.namespace"):
        decode_object(obj)


@pytest.mark.parametrize(
    "obj",
    [
        {"type": "success", "id": 1, "result": {}},
        {"type": "notification"},
    ],
)
def test_decode_event_object_refuses_other_messages(obj: dict[str, Any]) -> None:
    with pytest.raises(RemoteProtocolError, match="expected an event"):
        decode_event_object(obj)


def test_known_methods_decode_to_one_shared_string() -> None:
    """A session's dedup window keeps each event's channel; one string per method, not per event."""
    first, second = (decode_message(event_bytes("messages", {"i": i})) for i in range(2))
    assert isinstance(first, Event) and isinstance(second, Event)
    assert first.method is second.method
    assert first.channel is second.channel
    other = decode_message(event_bytes("future.method", {}))  # the general way, still an event
    assert isinstance(other, Event) and other.channel == "future.method"


def test_the_fast_path_knows_every_method_of_a_fixed_channel() -> None:
    """The envelope's Literal of methods is every fixed channel's method.

    (The input channel's method is input.requested.)
    """
    assert set(get_args(_FastMethod)) == (CHANNELS - {"input"}) | {"input.requested"}
