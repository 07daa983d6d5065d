"""Reconnect and liveness policy: pure decisions from explicit attempts, jitter and times.

Charter: Backoff follows the SDK's shared-stream schedule (PROTOCOL.md section 10:
``min(cap, base * 2**n)`` with base 0.1 s, cap 2 s, plus up to 25 % jitter, 5 attempts);
``decide`` retries only retryable failures and gives up, with a reason a person can
read, when the failure is final or the budget is spent. HTTP statuses and WebSocket
close codes are classified as the SDK does (4xx final except 408/429; ``4000 + status``
follows the status). A clean end is a drop only before the run's terminal event. The
idle watchdog works on times passed in, and any bytes (heartbeats included) are life.
No test sleeps or reads a clock.
"""

from __future__ import annotations

import pytest

from threadwire.protocol import (
    Backoff,
    Failure,
    GiveUp,
    IdleWatchdog,
    LocalProtocolError,
    Retry,
    SSEComment,
    SSEParser,
    classify_http_status,
    classify_ws_close,
)

SCHEDULE = [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]


@pytest.mark.parametrize(("attempt", "base_delay"), list(enumerate(SCHEDULE)))
@pytest.mark.parametrize(("jitter_sample", "factor"), [(0.0, 1.0), (0.5, 1.125), (1.0, 1.25)])
def test_backoff_delay(
    attempt: int, base_delay: float, jitter_sample: float, factor: float
) -> None:
    assert Backoff().delay(attempt, jitter_sample) == pytest.approx(base_delay * factor)


def test_backoff_is_capped_for_huge_attempts() -> None:
    assert Backoff().delay(10_000, 0.0) == pytest.approx(2.0)
    assert Backoff().delay(10_000, 1.0) == pytest.approx(2.5)


def test_backoff_parameters() -> None:
    backoff = Backoff(base=1.0, cap=5.0, jitter=0.0, max_attempts=2)
    assert [backoff.delay(n, 1.0) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


@pytest.mark.parametrize(
    ("attempt", "jitter_sample", "message"),
    [
        (-1, 0.0, "attempt must be >= 0, got -1"),
        (0, -0.1, "jitter_sample must be in [0, 1], got -0.1"),
        (0, 1.5, "jitter_sample must be in [0, 1], got 1.5"),
    ],
)
def test_backoff_rejects_bad_arguments(attempt: int, jitter_sample: float, message: str) -> None:
    with pytest.raises(LocalProtocolError) as info:
        Backoff().delay(attempt, jitter_sample)
    assert str(info.value) == message


RETRYABLE = [
    Failure.network("connection reset"),
    Failure.http_status(503),
    Failure.http_status(408),
    Failure.http_status(429),
    Failure.ws_close(1011, "thread stream ended"),
    Failure.clean_end(run_finished=False),
    Failure.idle(20.0),
]
FINAL = [
    Failure.http_status(404, "thread not found"),
    Failure.http_status(400),
    Failure.ws_close(4403),
    Failure.ws_close(1000),
    Failure.clean_end(run_finished=True),
]


@pytest.mark.parametrize("failure", RETRYABLE, ids=lambda f: f.detail)
def test_decide_retries_retryable_failures(failure: Failure) -> None:
    backoff = Backoff()
    assert failure.retryable
    for attempt in range(backoff.max_attempts):
        decision = backoff.decide(failure, attempt, 0.0)
        assert decision == Retry(delay=SCHEDULE[attempt], attempt=attempt)


@pytest.mark.parametrize("failure", RETRYABLE, ids=lambda f: f.detail)
def test_decide_gives_up_when_the_budget_is_spent(failure: Failure) -> None:
    decision = Backoff().decide(failure, 5, 0.0)
    assert decision == GiveUp(
        failure=failure, reason=f"gave up after 5 attempts; last failure: {failure.detail}"
    )
    assert Backoff(max_attempts=0).decide(failure, 0, 0.0) == GiveUp(
        failure=failure, reason=f"gave up after 0 attempts; last failure: {failure.detail}"
    )


@pytest.mark.parametrize("failure", FINAL, ids=lambda f: f.detail)
def test_decide_gives_up_on_final_failures(failure: Failure) -> None:
    assert not failure.retryable
    decision = Backoff().decide(failure, 0, 0.5)
    assert isinstance(decision, GiveUp)
    assert decision.failure is failure
    assert decision.reason == f"not retryable: {failure.detail}"


def test_decide_uses_the_jitter_sample() -> None:
    assert Backoff().decide(Failure.network("x"), 2, 1.0) == Retry(delay=0.5, attempt=2)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
        (408, True),
        (429, True),
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (405, False),
        (409, False),
        (422, False),
        (499, False),
    ],
)
def test_classify_http_status(status: int, retryable: bool) -> None:
    assert classify_http_status(status) is retryable
    assert Failure.http_status(status).retryable is retryable


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        (1011, True),  # "thread stream ended"
        (1001, True),
        (1006, True),
        (1012, True),
        (1013, True),
        (1000, False),
        (1002, False),
        (1003, False),
        (1007, False),
        (1008, False),
        (1009, False),
        (1010, False),
        # 4000 + HTTP status, as the SDK uses it
        (4400, False),
        (4403, False),
        (4404, False),
        (4408, True),
        (4429, True),
        (4500, True),
        (4503, True),
    ],
)
def test_classify_ws_close(code: int, retryable: bool) -> None:
    assert classify_ws_close(code) is retryable
    assert Failure.ws_close(code).retryable is retryable


@pytest.mark.parametrize(
    ("failure", "kind", "retryable", "detail"),
    [
        (Failure.network("refused"), "network", True, "refused"),
        (Failure.http_status(404), "http_status", False, "HTTP 404"),
        (Failure.http_status(503, "busy"), "http_status", True, "HTTP 503: busy"),
        (Failure.ws_close(1011), "ws_close", True, "WebSocket closed with 1011"),
        (
            Failure.ws_close(1011, "thread stream ended"),
            "ws_close",
            True,
            "WebSocket closed with 1011 (thread stream ended)",
        ),
        (
            Failure.clean_end(run_finished=False),
            "clean_end",
            True,
            "stream ended before the run's terminal event",
        ),
        (
            Failure.clean_end(run_finished=True),
            "clean_end",
            False,
            "stream ended after the run's terminal event",
        ),
        (Failure.idle(20), "idle", True, "no data for 20.0 s"),
    ],
)
def test_failure_constructors(failure: Failure, kind: str, retryable: bool, detail: str) -> None:
    assert (failure.kind, failure.retryable, failure.detail) == (kind, retryable, detail)


# -- idle watchdog -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "last_activity", "remaining", "idle"),
    [
        (100.0, 100.0, 20.0, False),
        (110.0, 100.0, 10.0, False),
        (119.5, 100.0, 0.5, False),
        (120.0, 100.0, 0.0, True),
        (130.0, 100.0, -10.0, True),
    ],
)
def test_idle_watchdog(now: float, last_activity: float, remaining: float, idle: bool) -> None:
    watchdog = IdleWatchdog()
    assert watchdog.remaining(now, last_activity) == pytest.approx(remaining)
    assert watchdog.is_idle(now, last_activity) is idle


def test_heartbeats_keep_a_quiet_stream_alive() -> None:
    """The server's ': heartbeat' every 5 s is the only sign of life between runs.

    The adapter updates ``last_activity`` on every parsed item; the parser surfaces
    the comment, so 60 s of heartbeats never trip a 20 s watchdog, and it trips
    exactly 20 s after the last byte.
    """
    watchdog = IdleWatchdog(timeout=20.0)
    parser = SSEParser()
    last_activity = 0.0
    for tick in range(1, 13):
        now = tick * 5.0
        assert not watchdog.is_idle(now, last_activity)
        parser.receive_data(b": heartbeat\r\n\r\n")
        items = parser.events()
        assert items == [SSEComment("heartbeat")]
        last_activity = now
    assert not watchdog.is_idle(last_activity + 19.9, last_activity)
    assert watchdog.is_idle(last_activity + 20.0, last_activity)
    assert Failure.idle(watchdog.timeout).detail == "no data for 20.0 s"
