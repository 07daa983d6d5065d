"""Reconnection and liveness decisions, as pure functions of their inputs.

Nothing here sleeps or reads a clock: the adapter passes the attempt number, a
jitter sample drawn from its own random source, and the current time from its
own clock, and gets back a decision to carry out. Tests therefore control time
and chance completely.

Defaults follow the official SDK's shared stream (PROTOCOL.md section 10): 5
attempts, delay ``min(cap, base * 2**n)`` plus up to 25 % jitter, base 0.1 s,
cap 2 s.
"""

from __future__ import annotations

import attrs

from ._errors import LocalProtocolError

__all__ = [
    "Failure",
    "Retry",
    "GiveUp",
    "Backoff",
    "classify_http_status",
    "classify_ws_close",
    "IdleWatchdog",
]


@attrs.frozen(kw_only=True)
class Failure:
    """Why a stream connection ended. Build it with one of the class methods."""

    kind: str
    """``network``, ``http_status``, ``ws_close``, ``clean_end`` or ``idle``."""
    retryable: bool
    detail: str

    @classmethod
    def network(cls, detail: str) -> Failure:
        """A socket or TLS error, or a refused connection: always worth a retry."""
        return cls(kind="network", retryable=True, detail=detail)

    @classmethod
    def http_status(cls, status: int, detail: str = "") -> Failure:
        return cls(
            kind="http_status",
            retryable=classify_http_status(status),
            detail=f"HTTP {status}" + (f": {detail}" if detail else ""),
        )

    @classmethod
    def ws_close(cls, code: int, reason: str = "") -> Failure:
        return cls(
            kind="ws_close",
            retryable=classify_ws_close(code),
            detail=f"WebSocket closed with {code}" + (f" ({reason})" if reason else ""),
        )

    @classmethod
    def clean_end(cls, *, run_finished: bool) -> Failure:
        """The server ended the stream normally.

        Before the run's terminal event that is a drop to recover from; after
        it there is nothing left to wait for.
        """
        return cls(
            kind="clean_end",
            retryable=not run_finished,
            detail="stream ended after the run's terminal event"
            if run_finished
            else "stream ended before the run's terminal event",
        )

    @classmethod
    def idle(cls, seconds: float) -> Failure:
        """No bytes at all (heartbeats included) for ``seconds``."""
        return cls(kind="idle", retryable=True, detail=f"no data for {seconds:.1f} s")


def classify_http_status(status: int) -> bool:
    """Whether an HTTP status is worth a retry: 5xx, 408 and 429 are, other 4xx are not."""
    if status in (408, 429) or status >= 500:
        return True
    return not 400 <= status < 500


def classify_ws_close(code: int) -> bool:
    """Whether a WebSocket close code is worth a retry.

    ``4000 + status`` carries an HTTP status (the SDK's convention) and follows
    :func:`classify_http_status`; 1000 (normal), 1008 (policy) and 1003
    (unsupported data) are final; 1001, 1006, 1011 ("thread stream ended"),
    1012-1014 and other codes are retryable.
    """
    if 4000 <= code < 5000:
        return classify_http_status(code - 4000)
    return code not in (1000, 1002, 1003, 1007, 1008, 1009, 1010)


@attrs.frozen(kw_only=True)
class Retry:
    """Reconnect after ``delay`` seconds; ``attempt`` counts from 0."""

    delay: float
    attempt: int


@attrs.frozen(kw_only=True)
class GiveUp:
    """Stop retrying; raise ``failure`` (with ``reason``) to the caller."""

    failure: Failure
    reason: str


def _check_unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise LocalProtocolError(f"{name} must be in [0, 1], got {value!r}")


@attrs.frozen(kw_only=True)
class Backoff:
    """Exponential backoff with bounded jitter and an attempt budget."""

    base: float = 0.1
    cap: float = 2.0
    jitter: float = 0.25
    """Largest extra delay, as a fraction of the computed delay."""
    max_attempts: int = 5

    def delay(self, attempt: int, jitter_sample: float) -> float:
        """The delay before attempt ``attempt`` (0-based), ``jitter_sample`` in [0, 1]."""
        if attempt < 0:
            raise LocalProtocolError(f"attempt must be >= 0, got {attempt}")
        _check_unit("jitter_sample", jitter_sample)
        exponent = min(attempt, 62)  # keep 2**n finite; the cap applies long before
        delay = min(self.cap, self.base * 2.0**exponent)
        return delay + delay * self.jitter * jitter_sample

    def decide(self, failure: Failure, attempt: int, jitter_sample: float) -> Retry | GiveUp:
        """What to do after ``failure`` when ``attempt`` retries were already made."""
        if not failure.retryable:
            return GiveUp(failure=failure, reason=f"not retryable: {failure.detail}")
        if attempt >= self.max_attempts:
            return GiveUp(
                failure=failure,
                reason=f"gave up after {attempt} attempts; last failure: {failure.detail}",
            )
        return Retry(delay=self.delay(attempt, jitter_sample), attempt=attempt)


@attrs.frozen(kw_only=True)
class IdleWatchdog:
    """Decides when a stream that sent nothing for too long counts as dead.

    Any bytes count as life, the server's ``: heartbeat`` comments (every 5 s)
    included, so the default of 20 s survives three lost heartbeats.
    """

    timeout: float = 20.0

    def remaining(self, now: float, last_activity: float) -> float:
        """Seconds left before the stream is idle (<= 0 means it is idle now)."""
        return self.timeout - (now - last_activity)

    def is_idle(self, now: float, last_activity: float) -> bool:
        return self.remaining(now, last_activity) <= 0
