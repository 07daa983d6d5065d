"""The HTTP/1.1 bindings and their helpers: URLs, paths, headers, both roles.

Charter: URLs parse into endpoints or fail with a LocalProtocolError that says
why; a thread id is one path segment whatever it contains; the stream's own
headers always win over the caller's, and a header that could inject another
(CR, LF, NUL) or that HTTP cannot carry is refused before any byte is built.
Table cases of response bytes (event stream and command replies) and request
bytes (server role) each run whole, byte by byte and in seeded random splits,
and every split gives the same items and the same error; every bad input ends
in a typed error (RemoteProtocolError, StreamTruncated for a connection that
ended early, HTTPStatusError with a bounded body for a non-2xx), never another
exception.
"""

from __future__ import annotations

from typing import Any

import h11
import orjson
import pytest
from binding_helpers import (
    HTTP,
    SPLIT_IDS,
    SPLITS,
    THREAD,
    Splitter,
    bytewise,
    chunked,
    feed_commands,
    feed_exchange,
    feed_server,
    http_response,
    run_table_case,
    whole,
)
from helpers import event_bytes

from threadwire.protocol import (
    END_OF_STREAM,
    NEED_DATA,
    CommandFailure,
    CommandSuccess,
    Event,
    HTTPStatusError,
    LimitExceeded,
    Limits,
    LocalProtocolError,
    RemoteProtocolError,
    SSEComment,
    StreamTruncated,
    decode_message,
    serialize_comment,
    serialize_message,
)
from threadwire.protocol._http import (
    JSON_HEADERS,
    STREAM_HEADERS,
    USER_AGENT,
    Endpoint,
    build_headers,
    parse_url,
    quote_segment,
    thread_path,
)
from threadwire.protocol._http_client import CommandConnection, EventStreamExchange, ResponseHead
from threadwire.protocol._http_server import HTTPRequest, ServerConnection, split_path
from threadwire.protocol._stream_decoder import EventStreamDecoder

split_param = pytest.mark.parametrize("split", SPLITS, ids=SPLIT_IDS)


def sse(method: str, seq: int, data: Any = None) -> bytes:
    body = event_bytes(method, {"n": seq} if data is None else data, seq=seq)
    return serialize_message(body.decode(), event=method, id=seq)


EV1 = sse("values", 1)
EV2 = sse("lifecycle", 2, {"event": "running", "graph_name": "agent"})
HB = serialize_comment("heartbeat")
JSON = (("content-type", "application/json"),)


# -- URLs -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "scheme", "host", "port", "prefix", "authority", "tls"),
    [
        ("http://api.test", "http", "api.test", 80, "", "api.test", False),
        ("https://api.test:8443/base/", "https", "api.test", 8443, "/base", "api.test:8443", True),
        ("ws://api.test", "ws", "api.test", 80, "", "api.test", False),
        ("wss://api.test/a/b", "wss", "api.test", 443, "/a/b", "api.test", True),
        ("HTTP://API.Test:80/", "http", "api.test", 80, "", "api.test", False),
        ("http://api.test:443", "http", "api.test", 443, "", "api.test:443", False),
        ("http://[::1]:8123/x", "http", "::1", 8123, "/x", "[::1]:8123", False),
        ("wss://[2001:db8::1]", "wss", "2001:db8::1", 443, "", "[2001:db8::1]", True),
        ("http://127.0.0.1:2024", "http", "127.0.0.1", 2024, "", "127.0.0.1:2024", False),
    ],
)
def test_parse_url(
    url: str, scheme: str, host: str, port: int, prefix: str, authority: str, tls: bool
) -> None:
    endpoint = parse_url(url)
    assert endpoint == Endpoint(scheme=scheme, host=host, port=port, prefix=prefix)
    assert endpoint.authority == authority
    assert endpoint.tls is tls
    assert endpoint.path("threads", "t") == f"{prefix}/threads/t"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ftp://api.test", "unsupported URL scheme 'ftp'"),
        ("api.test:80", "unsupported URL scheme"),
        ("//api.test", "unsupported URL scheme ''"),
        ("http://", "URL has no host"),
        ("http:///path", "URL has no host"),
        ("http://api.test/?q=1", "must not have a query or fragment"),
        ("http://api.test/#top", "must not have a query or fragment"),
        ("http://api.test:99999", "bad port"),
        ("http://api.test:port", "bad port"),
        ("http://api.test:-1", "bad port"),
    ],
)
def test_parse_url_refuses(url: str, problem: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        parse_url(url)
    assert problem in info.value.message
    assert url in info.value.message


def test_a_prefix_is_percent_encoded_once() -> None:
    endpoint = parse_url("http://api.test/my api/é/a%2Fb/")
    assert endpoint.prefix == "/my%20api/%C3%A9/a%2Fb"
    # The request target is valid HTTP, whatever the prefix held.
    exchange = EventStreamExchange(endpoint, "t", {"channels": ["values"]})
    server = ServerConnection()
    server.receive_data(exchange.request_data())
    request = server.next_request()
    assert isinstance(request, HTTPRequest)
    assert split_path(request.path) == ["my api", "é", "a/b", "threads", "t", "stream", "events"]


# -- path segments ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("thread-1", "thread-1"),
        ("../assistants/x", "..%2Fassistants%2Fx"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...", "..."),
        ("a b?c#d&e=f", "a%20b%3Fc%23d%26e%3Df"),
        ("%2F", "%252F"),
        ("é✓", "%C3%A9%E2%9C%93"),
        ("~_.-", "~_.-"),
    ],
)
def test_quote_segment(value: str, quoted: str) -> None:
    assert quote_segment(value) == quoted
    assert "/" not in quoted
    assert split_path(f"/threads/{quoted}/commands") == ["threads", value, "commands"]


@pytest.mark.parametrize("value", ["", None, 5, b"t"])
def test_quote_segment_refuses(value: Any) -> None:
    with pytest.raises(LocalProtocolError, match="non-empty string"):
        quote_segment(value)


def test_thread_path() -> None:
    endpoint = parse_url("http://api.test/v1")
    assert thread_path(endpoint, "../x", "stream", "events") == "/v1/threads/..%2Fx/stream/events"
    assert thread_path(endpoint, "..") == "/v1/threads/%2E%2E"


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("/", []),
        ("", []),
        ("///", []),
        ("/threads/a%2Fb/commands", ["threads", "a/b", "commands"]),
        ("/threads/%2E%2E/x/", ["threads", "..", "x"]),
        ("/a//b", ["a", "", "b"]),
        ("/%C3%A9%20x", ["é x"]),
    ],
)
def test_split_path(path: str, segments: list[str]) -> None:
    assert split_path(path) == segments


# -- headers ------------------------------------------------------------------------------


def test_stream_headers_override_the_callers_case_insensitively() -> None:
    user = {
        "Accept": "application/json",
        "CONTENT-TYPE": "text/plain",
        "Cache-Control": "max-age=60",
        "Accept-Encoding": "gzip",
        "Host": "evil.test",
        "X-Custom": "1",
        "Authorization": "Bearer t",
    }
    headers = build_headers(HTTP, user, STREAM_HEADERS)
    names = [name for name, _ in headers]
    assert headers[0] == (b"host", b"api.test:8123")
    assert (b"x-custom", b"1") in headers and (b"authorization", b"Bearer t") in headers
    for name, value in STREAM_HEADERS:
        assert names.count(name.encode()) == 1
        assert (name.encode(), value.encode()) in headers
    assert names.count(b"host") == 1
    assert (b"user-agent", USER_AGENT.encode()) in headers
    assert all(name == name.lower() for name in names)


def test_headers_from_pairs_and_none() -> None:
    pairs = [("X-A", "1"), ("X-A", "2"), ("User-Agent", "mine/1")]
    headers = build_headers(HTTP, pairs, JSON_HEADERS)
    assert [v for k, v in headers if k == b"x-a"] == [b"1", b"2"]
    assert [v for k, v in headers if k == b"user-agent"] == [b"mine/1"]
    bare = build_headers(HTTP, None, ())
    assert bare == [(b"host", b"api.test:8123"), (b"user-agent", USER_AGENT.encode())]
    # A forced user-agent replaces ours too.
    forced = build_headers(HTTP, None, [("User-Agent", "forced/2")])
    assert [v for k, v in forced if k.lower() == b"user-agent"] == [b"forced/2"]


def test_api_key() -> None:
    headers = build_headers(HTTP, None, (), api_key="secret")
    assert (b"x-api-key", b"secret") in headers
    # The caller's own x-api-key header wins over the argument.
    mine = build_headers(HTTP, {"X-Api-Key": "mine"}, (), api_key="secret")
    assert [v for k, v in mine if k == b"x-api-key"] == [b"mine"]


@pytest.mark.parametrize(
    ("user", "api_key"),
    [
        ({"X-A": "1\r\nX-Injected: 1"}, None),
        ({"X-A": "1\nX-Injected: 1"}, None),
        ({"X-A": "1\rX"}, None),
        ({"X-A": "1\x00"}, None),
        ({"X-A\r\nX-B": "1"}, None),
        ({"X-A\x00": "1"}, None),
        (None, "key\r\nX-Injected: 1"),
        (None, "key\x00"),
    ],
)
def test_header_injection_is_refused(user: Any, api_key: str | None) -> None:
    with pytest.raises(LocalProtocolError, match="CR, LF or NUL"):
        build_headers(HTTP, user, (), api_key=api_key)
    with pytest.raises(LocalProtocolError):
        EventStreamExchange(HTTP, THREAD, {}, headers=user, api_key=api_key)
    with pytest.raises(LocalProtocolError):
        CommandConnection(HTTP, headers=user, api_key=api_key)


@pytest.mark.parametrize(
    "user",
    [{"bad name": "1"}, {"": "1"}, {"x(y)": "1"}, {"é": "1"}, {"X-A": " padded"}, {"X-A": "tab\t"}],
)
def test_headers_http_cannot_carry_are_refused_up_front(user: dict[str, str]) -> None:
    with pytest.raises(LocalProtocolError, match="header"):
        build_headers(HTTP, user, ())


def test_a_header_value_without_a_utf8_form_is_refused() -> None:
    with pytest.raises(LocalProtocolError, match="no UTF-8 form"):
        build_headers(HTTP, {"X-A": "\ud800"}, ())


def test_header_values_http_can_carry() -> None:
    headers = build_headers(HTTP, {"X-A": "a b\tc", "X-B": "", "X-C": "é"}, ())
    assert (b"x-a", b"a b\tc") in headers and (b"x-b", b"") in headers
    assert (b"x-c", "é".encode()) in headers
    exchange = EventStreamExchange(HTTP, THREAD, {}, headers={"X-A": "a b\tc", "X-B": ""})
    assert b"x-a: a b\tc\r\n" in exchange.request_data()


# -- the event-stream request -------------------------------------------------------------


def parse_request(data: bytes) -> HTTPRequest:
    server = ServerConnection()
    server.receive_data(data)
    request = server.next_request()
    assert isinstance(request, HTTPRequest)
    return request


def test_event_stream_request_bytes() -> None:
    body = {"channels": ["values"], "namespaces": [["a"]], "since": 3}
    exchange = EventStreamExchange(
        parse_url("https://api.test/base"),
        "../t",
        body,
        headers={"Accept": "*/*", "X-Trace": "1"},
        api_key="k",
        path="stream/v3",
    )
    request = parse_request(exchange.request_data())
    assert request.method == "POST"
    assert request.path == "/base/threads/..%2Ft/stream/v3"
    assert orjson.loads(request.body) == body
    assert request.headers == {
        "host": "api.test",
        "x-trace": "1",
        "x-api-key": "k",
        "user-agent": USER_AGENT,
        "content-type": "application/json",
        "accept": "text/event-stream",
        "cache-control": "no-store",
        "accept-encoding": "identity",
        "content-length": str(len(request.body)),
    }
    with pytest.raises(LocalProtocolError, match="already sent"):
        exchange.request_data()


# -- event-stream responses, table-driven ------------------------------------------------

Case = tuple[str, bytes, bool, list[str], tuple[type[BaseException], str] | None, Limits]
_L = Limits()

EXCHANGE_CASES: list[Case] = [
    (
        "chunked",
        http_response(200, chunked(EV1, HB, EV2)),
        True,
        ["head:200", "event:values:1", "comment:heartbeat", "event:lifecycle:2"],
        None,
        _L,
    ),
    (
        "events split across chunks",
        http_response(200, chunked(EV1[:7], EV1[7:] + EV2[:1], EV2[1:])),
        True,
        ["head:200", "event:values:1", "event:lifecycle:2"],
        None,
        _L,
    ),
    (
        "content-length",
        http_response(200, EV1 + HB + EV2, framing="length"),
        True,
        ["head:200", "event:values:1", "comment:heartbeat", "event:lifecycle:2"],
        None,
        _L,
    ),
    (
        "HTTP/1.0, ends at EOF",
        http_response(200, EV1 + EV2, framing="close", version="1.0"),
        True,
        ["head:200", "event:values:1", "event:lifecycle:2"],
        None,
        _L,
    ),
    (
        "1xx informational first",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </x>\r\n\r\n"
        + http_response(200, chunked(EV1)),
        True,
        ["head:200", "event:values:1"],
        None,
        _L,
    ),
    (
        "content-type with parameters, any case",
        http_response(
            200, chunked(EV1), headers=[("Content-Type", "Text/Event-Stream; Charset=UTF-8")]
        ),
        True,
        ["head:200", "event:values:1"],
        None,
        _L,
    ),
    (
        "a reply and an unknown message interleaved",
        http_response(
            200,
            chunked(
                b'data: {"type":"success","id":3,"result":{}}\r\n\r\n',
                b'data: {"type":"future","x":1}\r\n\r\n',
            ),
        ),
        True,
        ["head:200", "success:3", "unknown:future"],
        None,
        _L,
    ),
    (
        "bytes after the end are not read",
        http_response(200, chunked(EV1)) + b"HTTP/1.1 200 OK\r\n\r\n",
        True,
        ["head:200", "event:values:1"],
        None,
        _L,
    ),
    (
        "still open",
        http_response(200, chunked(EV1, HB, end=False)),
        False,
        ["head:200", "event:values:1", "comment:heartbeat"],
        None,
        _L,
    ),
    (
        "404 with a JSON detail",
        http_response(404, b'{"detail":"Thread not found"}', headers=JSON, framing="length"),
        True,
        [],
        (HTTPStatusError, "HTTP 404 X: Thread not found"),
        _L,
    ),
    (
        "500 with a message, chunked",
        http_response(500, chunked(b'{"message":', b'"boom"}'), headers=JSON, reason="Internal"),
        True,
        [],
        (HTTPStatusError, "HTTP 500 Internal: boom"),
        _L,
    ),
    (
        "502 with text",
        http_response(502, b"Bad gateway", headers=(), framing="length"),
        True,
        [],
        (HTTPStatusError, "HTTP 502 X: Bad gateway"),
        _L,
    ),
    (
        "400 with a JSON array",
        http_response(400, b"[1]", headers=JSON, framing="length"),
        True,
        [],
        (HTTPStatusError, "HTTP 400 X: [1]"),
        _L,
    ),
    (
        "422 whose detail is not text falls back to message",
        http_response(422, b'{"detail":[{"loc":1}],"message":"m"}', headers=JSON, framing="length"),
        True,
        [],
        (HTTPStatusError, "HTTP 422 X: m"),
        _L,
    ),
    (
        "422 without any text",
        http_response(422, b'{"detail":[1]}', headers=JSON, framing="length"),
        True,
        [],
        (HTTPStatusError, 'HTTP 422 X: {"detail":[1]}'),
        _L,
    ),
    (
        "an error body is kept up to max_error_body",
        http_response(503, chunked(b"0123456789", b"abcdef", b"ghij"), headers=()),
        True,
        [],
        (HTTPStatusError, "HTTP 503 X: 0123456789abc"),
        Limits(max_error_body=13),
    ),
    (
        "200 with JSON is not a stream",
        http_response(200, b"{}", headers=JSON, framing="length"),
        True,
        [],
        (RemoteProtocolError, "content-type 'application/json', not text/event-stream"),
        _L,
    ),
    (
        "200 without a content-type",
        http_response(200, chunked(EV1), headers=()),
        True,
        [],
        (RemoteProtocolError, "content-type '', not text/event-stream"),
        _L,
    ),
    (
        "a lookalike content-type",
        http_response(200, chunked(EV1), headers=[("content-type", "text/event-streaming")]),
        True,
        [],
        (RemoteProtocolError, "content-type 'text/event-streaming'"),
        _L,
    ),
    ("closed before the head", b"", True, [], (StreamTruncated, "before the response head"), _L),
    (
        "closed in the head",
        b"HTTP/1.1 200 OK\r\ncontent-ty",
        True,
        [],
        (StreamTruncated, "connection closed"),
        _L,
    ),
    (
        "closed in a chunk",
        http_response(200, b"%x\r\n" % len(EV1) + EV1 + b"\r\n5\r\nab"),
        True,
        ["head:200", "event:values:1"],
        (StreamTruncated, "connection closed"),
        _L,
    ),
    (
        "closed in a chunk size",
        http_response(200, chunked(EV1, end=False) + b"1"),
        True,
        ["head:200", "event:values:1"],
        (StreamTruncated, "connection closed"),
        _L,
    ),
    (
        "closed before the declared length",
        http_response(
            200,
            EV1,
            framing="close",
            headers=[("content-type", "text/event-stream"), ("content-length", "999")],
        ),
        True,
        ["head:200", "event:values:1"],
        (StreamTruncated, "connection closed"),
        _L,
    ),
    (
        "closed in an error body",
        http_response(500, b"par", headers=[("content-length", "10")], framing="close"),
        True,
        [],
        (StreamTruncated, "connection closed"),
        _L,
    ),
    (
        "not a status line",
        b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
        True,
        [],
        (RemoteProtocolError, "malformed HTTP response"),
        _L,
    ),
    (
        "a bad header line",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        False,
        [],
        (RemoteProtocolError, "malformed HTTP response"),
        _L,
    ),
    (
        "data that is not JSON",
        http_response(200, chunked(EV1, b"data: {nope\r\n\r\n", EV2)),
        True,
        ["head:200", "event:values:1"],
        (RemoteProtocolError, "not valid JSON"),
        _L,
    ),
    (
        "data that is not an object",
        http_response(200, chunked(EV1, b"data: [1]\r\n\r\n")),
        True,
        ["head:200", "event:values:1"],
        (RemoteProtocolError, "JSON object"),
        _L,
    ),
    (
        "the body ends in the middle of an event",
        http_response(200, chunked(EV1, b'data: {"a"')),
        True,
        ["head:200", "event:values:1"],
        (RemoteProtocolError, "ended in the middle of an event"),
        _L,
    ),
]


@pytest.mark.parametrize(
    ("data", "eof", "items", "error", "limits"),
    [case[1:] for case in EXCHANGE_CASES],
    ids=[case[0] for case in EXCHANGE_CASES],
)
def test_event_stream_responses(
    data: bytes,
    eof: bool,
    items: list[str],
    error: tuple[type[BaseException], str] | None,
    limits: Limits,
) -> None:
    expected = run_table_case(feed_exchange, data, eof, items, error, limits)
    for split in SPLITS[1:]:  # the one-at-a-time API gives the same as events()
        outcome = feed_exchange(data, split, eof=eof, limits=limits, via="next_event")
        assert outcome.key() == expected.key(), split.__name__
    exchange = expected.binding
    if error is None:
        assert exchange.ended is eof
        assert exchange.next_event() is (END_OF_STREAM if eof else NEED_DATA)


def test_error_details() -> None:
    outcome = feed_exchange(
        http_response(404, b'{"detail":"Thread not found"}', headers=JSON, framing="length")
    )
    error = outcome.error
    assert isinstance(error, HTTPStatusError)
    assert (error.status, error.reason, error.detail) == (404, "X", "Thread not found")
    assert error.body == b'{"detail":"Thread not found"}'
    assert error.headers["content-type"] == "application/json"
    assert not error.retryable
    bounded = feed_exchange(
        http_response(503, chunked(b"0123456789", b"abcdef"), headers=()),
        limits=Limits(max_error_body=12),
    ).error
    assert isinstance(bounded, HTTPStatusError)
    assert bounded.body == b"0123456789ab" and bounded.detail is None and bounded.retryable


def test_the_stream_head_and_items_one_at_a_time() -> None:
    exchange = EventStreamExchange(HTTP, THREAD, {"channels": ["values"]})
    exchange.request_data()
    assert exchange.next_event() is NEED_DATA and exchange.head is None
    exchange.receive_data(
        http_response(
            200, chunked(EV1), headers=[("Content-Type", "text/event-stream"), ("X-A", "1")]
        )
    )
    head = exchange.next_event()
    assert head == ResponseHead(
        status=200,
        headers={"content-type": "text/event-stream", "x-a": "1", "transfer-encoding": "chunked"},
    )
    assert exchange.head == head
    item = exchange.next_event()
    assert isinstance(item, Event) and item.data == {"n": 1}
    assert exchange.next_event() is END_OF_STREAM and exchange.ended
    assert exchange.events() == []
    exchange.receive_data(b"")  # the socket closing after a clean end
    assert exchange.next_event() is END_OF_STREAM
    with pytest.raises(LocalProtocolError, match="cannot receive more data"):
        exchange.receive_data(b"more")


def test_a_stream_with_a_content_length_goes_through_h11_to_its_end() -> None:
    exchange = EventStreamExchange(HTTP, THREAD, {"channels": ["values"]})
    exchange.request_data()
    exchange.receive_data(http_response(200, EV1 + EV2, framing="length"))
    assert [type(item) for item in exchange.events()] == [ResponseHead, Event, Event]
    assert exchange.ended
    exchange.receive_data(b"")
    with pytest.raises(LocalProtocolError, match="cannot receive more data"):
        exchange.receive_data(b"more")


def test_an_error_is_not_turned_into_a_truncation_by_the_end_of_input() -> None:
    exchange = EventStreamExchange(HTTP, THREAD, {"channels": ["values"]})
    exchange.request_data()
    with pytest.raises(RemoteProtocolError, match="malformed HTTP response"):
        exchange.receive_data(b"HTTP/1.1 2OO OK\r\n\r\n")
    with pytest.raises(RemoteProtocolError, match="malformed HTTP response") as info:
        exchange.receive_data(b"")
    assert not isinstance(info.value, StreamTruncated)


def test_the_stream_closing_before_the_request_was_sent() -> None:
    exchange = EventStreamExchange(HTTP, THREAD, {"channels": ["values"]})
    with pytest.raises(StreamTruncated, match="before the response head"):
        exchange.receive_data(b"")


# -- the event-stream decoder on its own -------------------------------------------------


def test_stream_decoder() -> None:
    decoder = EventStreamDecoder()
    items = decoder.feed(EV1[:10])
    assert items == []
    items = decoder.feed(
        EV1[10:] + HB + b'data: {"type":"error","id":null,"error":"x","message":"m"}\n\n'
    )
    assert [type(item) for item in items] == [Event, SSEComment, CommandFailure]
    assert decoder.feed(b"") == []


def test_stream_decoder_errors_are_sticky_after_the_good_items() -> None:
    decoder = EventStreamDecoder()
    items = decoder.feed(EV1 + b"data: true\r\n\r\n" + EV2)
    assert len(items) == 1 and isinstance(items[0], Event)
    for _ in range(2):
        with pytest.raises(RemoteProtocolError, match="JSON object"):
            decoder.feed(EV2)
    fresh = EventStreamDecoder()
    with pytest.raises(RemoteProtocolError, match="not valid JSON"):
        fresh.feed(b"data: nope\n\n")
    with pytest.raises(RemoteProtocolError, match="has no 'type'"):
        EventStreamDecoder().feed(b'data: {"x": 1}\n\n')
    tight = EventStreamDecoder(limits=Limits(max_line_length=16))
    with pytest.raises(LimitExceeded):
        tight.feed(b"data: " + b"x" * 40)


def test_stream_decoder_takes_odd_messages_in_a_run_of_server_blocks() -> None:
    """A run's data goes through the fast path together; what it refuses, one by one."""
    camel = b'{"type":"event","eventId":"e-9","seq":9,"method":"values","params":{"data":1}}'
    odd = [
        camel,
        b'{"type":"event","event_id":"e-7","seq":7,"method":"agent.x","params":{"data":1}}',
        b'{"type":"error","id":null,"error":"x","message":"m"}',
    ]
    wire = EV1 + b"".join(
        serialize_message(raw.decode(), event="values", id=n) for n, raw in enumerate(odd, 3)
    )
    decoder = EventStreamDecoder()
    items = decoder.feed(wire + EV2)
    assert items == [decode_message(EV1.split(b"data: ")[1].split(b"\r\n")[0])] + [
        decode_message(raw) for raw in odd
    ] + [decode_message(EV2.split(b"data: ")[1].split(b"\r\n")[0])]
    assert [type(item) for item in items] == [Event, Event, Event, CommandFailure, Event]
    assert items[1].event_id == "e-9" and items[2].channel == "agent.x"
    # A bad one: everything before it comes out first, and the error stays.
    decoder = EventStreamDecoder()
    bad = serialize_message("[1]", event="values", id=5)
    assert decoder.feed(EV1 + EV2 + bad + EV1) == items[:1] + items[-1:]
    for _ in range(2):
        with pytest.raises(RemoteProtocolError, match="JSON object"):
            decoder.feed(EV2)


def test_stream_decoder_at_the_end_of_input() -> None:
    decoder = EventStreamDecoder()
    assert decoder.feed(b'data: {"type":"x"}') == []
    with pytest.raises(RemoteProtocolError, match="middle of an event") as info:
        decoder.feed(b"")
    assert info.value.partial == '{"type":"x"}'


# -- commands -------------------------------------------------------------------------------


def test_command_request_bytes() -> None:
    connection = CommandConnection(
        parse_url("http://api.test:2024/p"), headers=[("Accept", "text/html")], path="cmd/v2"
    )
    data = b'{"id":3,"method":"state.get","params":{}}'
    request = parse_request(connection.request("a/b", 3, data))
    assert request.method == "POST"
    assert request.path == "/p/threads/a%2Fb/cmd/v2"
    assert request.body == data
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.headers["content-length"] == str(len(data))
    assert request.headers["host"] == "api.test:2024"


def reply(
    status: int, body: bytes, *, framing: str = "length", headers: Any = JSON, **kw: Any
) -> bytes:
    return http_response(status, body, framing=framing, headers=headers, **kw)


SUCCESS = b'{"type":"success","id":7,"result":{"x":1},"meta":{"applied_through_seq":3}}'

REPLY_CASES: list[Case] = [
    ("success", reply(200, SUCCESS), False, ["success:7"], None, _L),
    (
        "success, chunked",
        reply(200, chunked(SUCCESS[:9], SUCCESS[9:]), framing="chunked"),
        False,
        ["success:7"],
        None,
        _L,
    ),
    (
        "100 Continue first",
        b"HTTP/1.1 100 Continue\r\n\r\n" + reply(200, SUCCESS),
        False,
        ["success:7"],
        None,
        _L,
    ),
    (
        "HTTP/1.0, ends at EOF",
        reply(200, SUCCESS, framing="close", version="1.0"),
        True,
        ["success:7"],
        None,
        _L,
    ),
    (
        "an error envelope with 200",
        reply(200, b'{"type":"error","id":7,"error":"no_such_run","message":"m"}'),
        False,
        ["failure:7:no_such_run"],
        None,
        _L,
    ),
    (
        "400 and an envelope without an id",
        reply(400, b'{"type":"error","id":null,"error":"invalid_argument","message":"m"}'),
        False,
        ["failure:7:invalid_argument"],
        None,
        _L,
    ),
    (
        "400 and an envelope echoing a string id",
        reply(400, b'{"type":"error","id":"7","error":"invalid_argument","message":"m"}'),
        False,
        ["failure:7:invalid_argument"],
        None,
        _L,
    ),
    (
        "an error envelope with no id field",
        reply(200, b'{"type":"error","error":"x","message":"m"}'),
        False,
        ["failure:7:x"],
        None,
        _L,
    ),
    ("202, empty", reply(202, b"", headers=()), False, ["success:7"], None, _L),
    ("204, no body", b"HTTP/1.1 204 No Content\r\n\r\n", False, ["success:7"], None, _L),
    ("200, blank body", reply(200, b" \r\n"), False, ["success:7"], None, _L),
    (
        "200, not JSON",
        reply(200, b"<html>"),
        False,
        [],
        (RemoteProtocolError, "not valid JSON: b'<html>'"),
        _L,
    ),
    (
        "200, JSON but no envelope",
        reply(200, b'{"ok":true}'),
        False,
        [],
        (RemoteProtocolError, "not a protocol reply"),
        _L,
    ),
    (
        "200, an array",
        reply(200, b"[1,2]"),
        False,
        [],
        (RemoteProtocolError, "not a protocol reply"),
        _L,
    ),
    (
        "200, an event",
        reply(200, event_bytes("values", {}, seq=1)),
        False,
        [],
        (RemoteProtocolError, "not a protocol reply"),
        _L,
    ),
    (
        "a success envelope without an id",
        reply(200, b'{"type":"success","result":{}}'),
        False,
        [],
        (RemoteProtocolError, "success reply has no 'id' field"),
        _L,
    ),
    (
        "400 with a detail",
        reply(400, b'{"detail":"Invalid JSON body"}'),
        False,
        [],
        (HTTPStatusError, "HTTP 400 X: Invalid JSON body"),
        _L,
    ),
    (
        "500 with text",
        reply(500, b"oops", headers=()),
        False,
        [],
        (HTTPStatusError, "HTTP 500 X: oops"),
        _L,
    ),
    ("404, empty", reply(404, b"", headers=()), False, [], (HTTPStatusError, "HTTP 404 X: "), _L),
    (
        "503 with a long JSON body",
        reply(503, b'{"detail":"try later","pad":"' + b"p" * 50 + b'"}'),
        False,
        [],
        (HTTPStatusError, "HTTP 503 X: try later"),
        Limits(max_error_body=10),
    ),
    (
        "a reply over max_body_size",
        reply(200, chunked(SUCCESS[:10], SUCCESS[10:]), framing="chunked"),
        False,
        [],
        (LimitExceeded, "max_body_size=16"),
        Limits(max_body_size=16),
    ),
    ("closed before the reply", b"", True, [], (StreamTruncated, "connection closed"), _L),
    (
        "closed in the head",
        b"HTTP/1.1 200 OK\r\ncont",
        True,
        [],
        (StreamTruncated, "connection closed"),
        _L,
    ),
    (
        "closed in the body",
        reply(200, SUCCESS)[:-5],
        True,
        [],
        (StreamTruncated, "connection closed"),
        _L,
    ),
    ("not HTTP", b"hello\r\n\r\n", True, [], (RemoteProtocolError, "malformed HTTP response"), _L),
]


@pytest.mark.parametrize(
    ("data", "eof", "items", "error", "limits"),
    [case[1:] for case in REPLY_CASES],
    ids=[case[0] for case in REPLY_CASES],
)
def test_command_replies(
    data: bytes,
    eof: bool,
    items: list[str],
    error: tuple[type[BaseException], str] | None,
    limits: Limits,
) -> None:
    run_table_case(feed_commands, data, eof, items, error, limits)


def test_command_reply_details() -> None:
    (success,) = feed_commands(reply(200, SUCCESS)).items
    assert success == CommandSuccess(
        id=7, result={"x": 1}, applied_through_seq=3, meta={"applied_through_seq": 3}
    )
    (empty,) = feed_commands(reply(202, b"", headers=())).items
    assert empty == CommandSuccess(id=7, result={})
    (failure,) = feed_commands(
        reply(400, b'{"type":"error","id":null,"error":"invalid_argument","message":"m"}')
    ).items
    assert failure == CommandFailure(id=7, code="invalid_argument", message="m")
    error = feed_commands(
        reply(503, b'{"detail":"try later","pad":"' + b"p" * 50 + b'"}'),
        limits=Limits(max_error_body=10),
    ).error
    assert isinstance(error, HTTPStatusError)
    assert error.body == b'{"detail":' and error.detail == "try later" and error.retryable
    too_big = feed_commands(reply(200, SUCCESS), limits=Limits(max_body_size=16)).error
    assert isinstance(too_big, LimitExceeded)
    assert (too_big.limit, too_big.value) == ("max_body_size", 16)


def test_command_connection_states() -> None:
    connection = CommandConnection(HTTP)
    assert connection.idle and not connection.closed
    with pytest.raises(LocalProtocolError, match="no command request is in flight"):
        connection.receive_data(b"HTTP/1.1 200 OK\r\n")
    with pytest.raises(LocalProtocolError, match="no command request is in flight"):
        connection.next_reply()
    connection.request(THREAD, 1, b"{}")
    assert not connection.idle
    with pytest.raises(LocalProtocolError, match="already in flight"):
        connection.request(THREAD, 2, b"{}")
    assert connection.next_reply() is NEED_DATA
    first = reply(200, b'{"type":"success","id":1,"result":{}}')
    connection.receive_data(first[:20])
    assert connection.next_reply() is NEED_DATA
    connection.receive_data(first[20:])
    assert connection.next_reply() == CommandSuccess(id=1, result={})
    assert connection.idle and not connection.closed
    # The same connection takes the next request (keep-alive).
    connection.request(THREAD, 2, b"{}")
    connection.receive_data(
        reply(
            200, b'{"type":"success","id":2,"result":{}}', headers=[*JSON, ("connection", "close")]
        )
    )
    assert connection.next_reply() == CommandSuccess(id=2, result={})
    # The server said it closes: this connection takes no more requests.
    assert connection.closed and not connection.idle
    with pytest.raises(LocalProtocolError, match="closed"):
        connection.request(THREAD, 3, b"{}")


def test_command_connection_after_the_end_of_input() -> None:
    connection = CommandConnection(HTTP)
    connection.request(THREAD, 1, b"{}")
    connection.receive_data(b"HTTP/1.1 200 OK\r\n")
    connection.receive_data(b"")
    with pytest.raises(LocalProtocolError, match="cannot receive more data"):
        connection.receive_data(b"content-length: 0\r\n\r\n")
    with pytest.raises(StreamTruncated):
        connection.next_reply()


def test_the_end_of_input_counts_after_the_bytes_before_it() -> None:
    """A malformed reply and the close read together are still malformed, and a
    complete reply read together with the close is still the reply."""
    malformed = CommandConnection(HTTP)
    malformed.request(THREAD, 1, b"{}")
    malformed.receive_data(b"hello\r\n\r\n")
    malformed.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="malformed HTTP response") as info:
        malformed.next_reply()
    assert not isinstance(info.value, StreamTruncated)
    complete = CommandConnection(HTTP)
    complete.request(THREAD, 1, b"{}")
    complete.receive_data(reply(200, b'{"type":"success","id":1,"result":{}}'))
    complete.receive_data(b"")
    assert complete.next_reply() == CommandSuccess(id=1, result={})
    assert complete.closed and not complete.idle
    with pytest.raises(LocalProtocolError, match="closed"):
        complete.request(THREAD, 2, b"{}")


def test_command_connection_http10_reply_closes() -> None:
    outcome = feed_commands(reply(200, SUCCESS, framing="close", version="1.0"))
    assert outcome.binding.closed


# -- the server role, table-driven --------------------------------------------------------


def request_bytes(
    method: str = "POST",
    target: str = "/threads/t/commands",
    body: bytes = b"",
    *,
    headers: Any = (("host", "a"),),
    framing: str = "length",
    version: str = "1.1",
) -> bytes:
    lines = [f"{method} {target} HTTP/{version}", *(f"{k}: {v}" for k, v in headers)]
    if framing == "length" and (body or method == "POST"):
        lines.append(f"content-length: {len(body)}")
    elif framing == "chunked":
        lines.append("transfer-encoding: chunked")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


UPGRADE_HEADERS = (
    ("host", "a"),
    ("connection", "Upgrade"),
    ("upgrade", "WebSocket"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
    ("sec-websocket-version", "13"),
)

SERVER_CASES: list[Case] = [
    (
        "POST with a length",
        request_bytes(body=b"hello"),
        True,
        ["POST /threads/t/commands"],
        None,
        _L,
    ),
    (
        "POST, chunked",
        request_bytes(body=chunked(b"hel", b"lo"), framing="chunked"),
        True,
        ["POST /threads/t/commands"],
        None,
        _L,
    ),
    (
        "pipelined requests",
        request_bytes(body=b"1") + request_bytes("GET", "/ok") + request_bytes(body=b"3"),
        True,
        ["POST /threads/t/commands", "GET /ok", "POST /threads/t/commands"],
        None,
        _L,
    ),
    (
        "a query",
        request_bytes("GET", "/threads/t?x=1&y=%20"),
        True,
        ["GET /threads/t?x=1&y=%20"],
        None,
        _L,
    ),
    (
        "repeated headers",
        request_bytes("GET", "/", headers=[("host", "a"), ("X-A", "1"), ("x-a", "2")]),
        True,
        ["GET /"],
        None,
        _L,
    ),
    (
        "an upgrade",
        request_bytes("GET", "/threads/t/stream/events", headers=UPGRADE_HEADERS) + b"\x81\x80abcd",
        False,
        ["GET /threads/t/stream/events"],
        None,
        _L,
    ),
    (
        "connection: upgrade without an upgrade header",
        request_bytes("GET", "/", headers=[("host", "a"), ("connection", "upgrade")]),
        True,
        ["GET /"],
        None,
        _L,
    ),
    (
        "the client leaves between requests",
        request_bytes(body=b"x"),
        True,
        ["POST /threads/t/commands"],
        None,
        _L,
    ),
    ("the client leaves at once", b"", True, [], None, _L),
    (
        "a declared length over max_body_size",
        request_bytes(body=b"x" * 20),
        True,
        [],
        (RemoteProtocolError, "request body of 20 bytes exceeds max_body_size=8"),
        Limits(max_body_size=8),
    ),
    (
        "a chunked body over max_body_size",
        request_bytes(body=chunked(b"x" * 5, b"y" * 5), framing="chunked"),
        True,
        [],
        (RemoteProtocolError, "request body exceeds max_body_size=8"),
        Limits(max_body_size=8),
    ),
    (
        "not a request line",
        b"HELLO\r\n\r\n",
        True,
        [],
        (RemoteProtocolError, "malformed HTTP request"),
        _L,
    ),
    (
        "a bad content-length",
        request_bytes(headers=[("host", "a"), ("content-length", "abc")], framing="none"),
        True,
        [],
        (RemoteProtocolError, "malformed HTTP request"),
        _L,
    ),
    (
        "an unsupported transfer-encoding",
        request_bytes(headers=[("host", "a"), ("transfer-encoding", "gzip")], framing="none"),
        True,
        [],
        (RemoteProtocolError, "Only Transfer-Encoding: chunked"),
        _L,
    ),
    (
        "closed in the middle of a body",
        request_bytes(body=b"hello")[:-2],
        True,
        [],
        (RemoteProtocolError, "malformed HTTP request"),
        _L,
    ),
]

HINTS = {
    "a declared length over max_body_size": "413",
    "a chunked body over max_body_size": "413",
    "not a request line": "400",
    "a bad content-length": "400",
    "an unsupported transfer-encoding": "501",
    "closed in the middle of a body": "400",
}


@pytest.mark.parametrize(
    ("name", "data", "eof", "items", "error", "limits"),
    SERVER_CASES,
    ids=[case[0] for case in SERVER_CASES],
)
def test_server_requests(
    name: str,
    data: bytes,
    eof: bool,
    items: list[str],
    error: tuple[type[BaseException], str] | None,
    limits: Limits,
) -> None:
    expected = run_table_case(feed_server, data, eof, items, error, limits)
    if error is not None:
        assert isinstance(expected.error, RemoteProtocolError)
        assert expected.error.hint == HINTS[name]
        answer = expected.binding.error_response(expected.error)
        response = parse_response(answer)
        assert response[0] == int(HINTS[name])
        assert orjson.loads(response[2]) == {"detail": expected.error.message}
        assert response[1]["connection"] == "close"
        assert not expected.binding.keep_alive


def parse_response(data: bytes, method: bytes = b"GET") -> tuple[int, dict[str, str], bytes]:
    client = h11.Connection(h11.CLIENT)
    client.send(h11.Request(method=method, target="/", headers=[("host", "a")]))
    client.send(h11.EndOfMessage())
    client.receive_data(data)
    head = client.next_event()
    assert isinstance(head, h11.Response)
    body = b""
    while True:
        event = client.next_event()
        if isinstance(event, h11.Data):
            body += event.data
        else:
            assert isinstance(event, h11.EndOfMessage), event
            break
    headers = {k.decode(): v.decode() for k, v in head.headers}
    return head.status_code, headers, body


def test_a_head_over_max_header_size() -> None:
    """h11 bounds what it buffers of an incomplete head: a head that arrives in
    pieces is refused once its buffered part passes the limit. (A head that
    arrives whole in one read is already in memory and is parsed: the limit
    bounds buffering, so only a split shows it.)"""
    limits = Limits(max_header_size=128)
    pad = ("x-pad", "p" * 300)
    response = http_response(
        200, chunked(EV1), headers=[("content-type", "text/event-stream"), pad]
    )
    error = feed_exchange(response, bytewise, limits=limits).error
    assert isinstance(error, RemoteProtocolError) and "Receive buffer too long" in str(error)
    assert feed_exchange(response, whole, limits=limits).kinds == ["head:200", "event:values:1"]
    late = feed_commands(reply(200, SUCCESS, headers=[*JSON, pad]), bytewise, limits=limits).error
    assert isinstance(late, RemoteProtocolError) and "Receive buffer too long" in str(late)
    outcome = feed_server(
        request_bytes("GET", "/", headers=[("host", "a"), pad]), bytewise, limits=limits
    )
    assert isinstance(outcome.error, RemoteProtocolError) and outcome.error.hint == "431"
    status, _headers, body = parse_response(outcome.binding.error_response(outcome.error))
    assert status == 431 and b"Receive buffer too long" in body


def test_server_request_details() -> None:
    (request,) = feed_server(
        request_bytes("GET", "/threads/t?x=1", headers=[("host", "a"), ("X-A", "1"), ("x-a", "2")])
    ).items
    assert (request.method, request.path, request.query) == ("GET", "/threads/t", "x=1")
    assert request.headers == {"host": "a", "x-a": "1, 2"}
    assert request.raw_headers == ((b"host", b"a"), (b"x-a", b"1"), (b"x-a", b"2"))
    (chunked_request,) = feed_server(
        request_bytes(body=chunked(b"hel", b"lo"), framing="chunked")
    ).items
    assert chunked_request.body == b"hello"
    assert HTTPRequest(
        method="POST", target="/", path="/", query="", headers={}, body=b'{"a":1}'
    ).json() == {"a": 1}
    with pytest.raises(RemoteProtocolError, match="Invalid JSON body") as info:
        chunked_request.json()
    assert info.value.hint == "400"


def test_the_upgrade_request_and_its_trailing_data() -> None:
    frame = b"\x81\x80abcd"
    outcome = feed_server(
        request_bytes("GET", "/threads/t/stream/events", headers=UPGRADE_HEADERS) + frame, eof=False
    )
    (request,) = outcome.items
    assert request.upgrade == "websocket"
    assert outcome.binding.trailing_data == frame
    assert outcome.written == b""  # nothing answered: the WebSocket binding takes over
    both = feed_server(
        request_bytes(
            "GET",
            "/",
            headers=[("host", "a"), ("Connection", "keep-alive, Upgrade"), ("Upgrade", "h2c")],
        ),
        eof=False,
    )
    assert both.items[0].upgrade == "h2c"
    plain = feed_server(
        request_bytes("GET", "/", headers=[("host", "a"), ("connection", "upgrade")])
    )
    assert plain.items[0].upgrade is None


@split_param
def test_keep_alive_cycles(split: Splitter) -> None:
    server = ServerConnection()
    requests = [request_bytes(body=b"%d" % n) for n in range(3)]
    written = []
    for data in requests:
        for piece in split(data):
            server.receive_data(piece)
        request = server.next_request()
        assert isinstance(request, HTTPRequest)
        assert server.next_request() is NEED_DATA  # nothing more until we answer
        written.append(server.respond_json(200, {"n": request.body.decode()}))
        assert server.keep_alive
    assert [orjson.loads(parse_response(w)[2]) for w in written] == [
        {"n": "0"},
        {"n": "1"},
        {"n": "2"},
    ]
    server.receive_data(b"")
    assert server.next_request() is None and not server.keep_alive
    with pytest.raises(LocalProtocolError, match="cannot receive more data"):
        server.receive_data(b"GET / HTTP/1.1\r\n")


@pytest.mark.parametrize(
    "data",
    [
        request_bytes(headers=[("host", "a"), ("Connection", "close")]),
        request_bytes("GET", "/", headers=(), version="1.0"),
    ],
    ids=["connection: close", "HTTP/1.0"],
)
def test_requests_that_end_the_connection(data: bytes) -> None:
    outcome = feed_server(data, eof=False)
    assert len(outcome.items) == 1 and outcome.error is None
    assert not outcome.binding.keep_alive


def test_a_pipelined_request_waits_for_the_answer() -> None:
    server = ServerConnection()
    server.receive_data(request_bytes("GET", "/1") + request_bytes("GET", "/2"))
    first = server.next_request()
    assert isinstance(first, HTTPRequest) and first.target == "/1"
    assert server.next_request() is NEED_DATA  # paused until /1 is answered
    server.respond(204)
    second = server.next_request()
    assert isinstance(second, HTTPRequest) and second.target == "/2"


def test_responses() -> None:
    server = ServerConnection()
    server.receive_data(request_bytes("GET", "/"))
    server.next_request()
    status, headers, body = parse_response(server.respond(204, headers={"X-Extra": "1"}))
    assert (status, body) == (204, b"")
    assert headers == {"server": "threadwire", "x-extra": "1", "content-length": "0"}
    server.receive_data(request_bytes("GET", "/"))
    server.next_request()
    status, headers, body = parse_response(server.respond(200, b"<p>", content_type="text/html"))
    assert headers["content-type"] == "text/html" and body == b"<p>"
    server.receive_data(request_bytes("GET", "/"))
    server.next_request()
    status, headers, body = parse_response(
        server.respond_json(409, {"detail": "x"}, headers={"a": "b"})
    )
    assert (status, orjson.loads(body), headers["a"]) == (409, {"detail": "x"}, "b")
    assert headers["content-type"] == "application/json"


def test_event_stream_responses_from_the_server() -> None:
    server = ServerConnection()
    with pytest.raises(LocalProtocolError, match="no stream was started"):
        server.stream_data(b"x")
    with pytest.raises(LocalProtocolError, match="no stream was started"):
        server.end_stream()
    server.receive_data(request_bytes(body=b"{}"))
    server.next_request()
    out = server.start_stream(headers={"X-Stream": "1"})
    assert server.stream_data(b"") == b""
    out += server.stream_data(EV1) + server.stream_data(HB)
    # An error answer can no longer be sent in the middle of a stream.
    assert server.error_response(RemoteProtocolError("late", hint="400")) == b""
    out += server.end_stream()
    outcome = feed_exchange(out, bytewise)
    assert outcome.kinds == ["head:200", "event:values:1", "comment:heartbeat"]
    head = outcome.items[0]
    assert head.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert head.headers["cache-control"] == "no-store"
    assert head.headers["x-accel-buffering"] == "no"
    assert head.headers["x-stream"] == "1"
    assert server.keep_alive
    with pytest.raises(LocalProtocolError, match="no stream was started"):
        server.stream_data(b"x")
    # A complete response cannot start in the middle of a stream.
    server.receive_data(request_bytes(body=b"{}"))
    server.next_request()
    server.start_stream()
    with pytest.raises(LocalProtocolError, match="cannot send that response now"):
        server.respond(200)


def test_error_response_forms() -> None:
    server = ServerConnection()
    answer = server.error_response(RemoteProtocolError("bad thing", hint="invalid_argument"))
    status, headers, body = parse_response(answer)
    assert (status, orjson.loads(body)) == (400, {"detail": "bad thing"})
    assert headers["connection"] == "close" and not server.keep_alive
    # A HEAD request gets no body, so the answer cannot be built: nothing is written.
    head = ServerConnection(limits=Limits(max_body_size=8))
    head.receive_data(b"HEAD / HTTP/1.1\r\nhost: a\r\ncontent-length: 100\r\n\r\n")
    with pytest.raises(RemoteProtocolError) as info:
        head.next_request()
    assert info.value.hint == "413"
    assert head.error_response(info.value) == b""
