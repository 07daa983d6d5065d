"""What the client sends: one frozen class per command method.

Each command knows its wire ``method``, builds its ``params`` (snake_case, as
the Python server reads them, with the one camelCase exception the server has:
``multitaskStrategy``), parses its typed result, and can be rebuilt from
received params (:meth:`Command.from_params`) for the producer role, where a
bad argument raises :class:`RemoteProtocolError` with ``hint`` set to the
error code to answer with.

The set covers the server's methods and the spec's: ``run.start``,
``input.respond`` (single and batch), ``input.inject``,
``subscription.subscribe`` / ``unsubscribe`` / ``reconnect``, ``agent.getTree``,
``state.get``, ``state.listCheckpoints`` and ``state.fork``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final

import attrs

from . import _fields as f
from ._errors import LocalProtocolError, RemoteProtocolError

__all__ = [
    "UNSET",
    "MULTITASK_STRATEGIES",
    "Command",
    "RunStart",
    "InterruptResponse",
    "InputRespond",
    "InputRespondBatch",
    "InputInject",
    "SubscriptionSubscribe",
    "SubscriptionUnsubscribe",
    "SubscriptionReconnect",
    "AgentGetTree",
    "StateGet",
    "StateListCheckpoints",
    "StateFork",
    "UnknownCommand",
    "RunStartResult",
    "SubscribeResult",
    "AgentTreeNode",
    "COMMAND_TYPES",
    "command_from_params",
]

UNSET: Final = f.MISSING
"""Default of optional fields: the field is not sent at all (unlike ``None``)."""

MULTITASK_STRATEGIES: Final = ("reject", "rollback", "interrupt", "enqueue")


def _bad(method: str, problem: str) -> RemoteProtocolError:
    text = problem if problem.startswith(method) else f"{method}: {problem}"
    return RemoteProtocolError(text, hint="invalid_argument")


def _wrap(method: str, exc: RemoteProtocolError) -> RemoteProtocolError:
    return RemoteProtocolError(f"{method}: {exc.message}", hint="invalid_argument")


def _ns_tuple(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise LocalProtocolError(f"a namespace must be a sequence of strings, got {value!r}")
    result = tuple(value)
    for segment in result:
        if not isinstance(segment, str):
            raise LocalProtocolError(f"a namespace must be a sequence of strings, got {value!r}")
    return result


def _namespaces(value: Any) -> tuple[tuple[str, ...], ...] | None:
    if value is None:
        return None
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise LocalProtocolError(f"namespaces must be a sequence of namespaces, got {value!r}")
    return tuple(_ns_tuple(ns) for ns in value)


def _channels(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise LocalProtocolError(f"channels must be a non-empty sequence of strings, got {value!r}")
    result = tuple(value)
    for channel in result:
        if not isinstance(channel, str) or not channel:
            raise LocalProtocolError(f"channels must be non-empty strings, got {channel!r}")
    return result


def _depth(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise LocalProtocolError(f"depth must be a non-negative int or None, got {value!r}")
    return int(value)


def _since(value: Any) -> int | None:
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise LocalProtocolError(f"since must be a non-negative int or None, got {value!r}")
    return int(value)


def _put(params: dict[str, Any], name: str, value: Any) -> None:
    if value is not UNSET and value is not None:
        params[name] = value


def _params_namespaces(params: Mapping[str, Any], method: str) -> list[list[str]] | None:
    value = f.get(params, "namespaces")
    if value is f.MISSING or value is None:
        return None
    if type(value) is not list:
        raise _bad(method, "namespaces must be an array of namespaces")
    try:
        return [list(f.namespace(ns, "namespaces[]")) for ns in value]
    except RemoteProtocolError as exc:
        raise _wrap(method, exc) from None


def _params_channels(params: Mapping[str, Any], method: str) -> list[str]:
    value = f.get(params, "channels")
    if type(value) is not list or not value:
        raise _bad(method, "channels is required and must be a non-empty array")
    for channel in value:
        if type(channel) is not str or not channel:
            raise _bad(method, f"channels contains an unsupported entry: {channel!r}")
    return value


def _params_uint(params: Mapping[str, Any], name: str, method: str) -> int | None:
    value = f.get(params, name)
    if value is f.MISSING or value is None:
        return None
    if type(value) is not int or value < 0:
        raise _bad(method, f"{name} must be a non-negative integer, got {value!r}")
    return int(value)


class Command:
    """Base of all commands: ``method`` on the wire and ``params()`` to send."""

    method: ClassVar[str]

    def params(self) -> dict[str, Any]:
        raise NotImplementedError

    def parse_result(self, result: Any) -> Any:
        """Turn the reply's ``result`` into this command's typed result."""
        return result

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Command:
        """Rebuild a received command (producer role); see the module docstring."""
        raise NotImplementedError


# -- run.start ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RunStartResult:
    run_id: str | None


@attrs.frozen(kw_only=True)
class RunStart(Command):
    """Start a run on the thread (or resume it, when it is interrupted and ``input`` is set)."""

    method: ClassVar[str] = "run.start"
    assistant_id: str = attrs.field()
    input: Any = UNSET
    config: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None
    multitask_strategy: str | None = None
    """``reject``, ``rollback``, ``interrupt`` or ``enqueue``; sent as ``multitaskStrategy``."""
    langsmith_tracer: Mapping[str, Any] | None = None

    @assistant_id.validator
    def _check(self, attribute: Any, value: Any) -> None:
        if not isinstance(value, str) or not value:
            raise LocalProtocolError(f"run.start requires a non-empty assistant_id, got {value!r}")
        if self.multitask_strategy is not None and (
            self.multitask_strategy not in MULTITASK_STRATEGIES
        ):
            raise LocalProtocolError(
                f"multitask_strategy must be one of {', '.join(MULTITASK_STRATEGIES)}, "
                f"got {self.multitask_strategy!r}"
            )

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"assistant_id": self.assistant_id}
        if self.input is not UNSET:
            params["input"] = self.input
        _put(params, "config", self.config)
        _put(params, "metadata", self.metadata)
        _put(params, "multitaskStrategy", self.multitask_strategy)
        _put(params, "langsmith_tracer", self.langsmith_tracer)
        return params

    def parse_result(self, result: Any) -> RunStartResult:
        if type(result) is not dict:
            raise RemoteProtocolError("run.start result must be an object")
        return RunStartResult(run_id=f.opt_str(result, "run_id", "result"))

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> RunStart:
        method = cls.method
        assistant_id = f.get(params, "assistant_id")
        if type(assistant_id) is not str or not assistant_id:
            raise _bad(method, "run.start requires an assistant_id.")
        strategy = params.get("multitaskStrategy", params.get("multitask_strategy"))
        if strategy is not None and strategy not in MULTITASK_STRATEGIES:
            raise _bad(method, f"unsupported multitaskStrategy {strategy!r}")
        try:
            config = f.opt_dict(params, "config", "params")
            metadata = f.opt_dict(params, "metadata", "params")
            tracer = f.opt_dict(params, "langsmith_tracer", "params")
        except RemoteProtocolError as exc:
            raise _wrap(method, exc) from None
        return cls(
            assistant_id=assistant_id,
            input=params.get("input", UNSET),
            config=config,
            metadata=metadata,
            multitask_strategy=strategy,
            langsmith_tracer=tracer,
        )


# -- input ---------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class InterruptResponse:
    """One answer in a batch ``input.respond``."""

    interrupt_id: str
    response: Any
    namespace: tuple[str, ...] = attrs.field(default=(), converter=_ns_tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "interrupt_id": self.interrupt_id,
            "namespace": list(self.namespace),
            "response": self.response,
        }


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value)


def _respond_extras(cmd: Any, params: dict[str, Any]) -> dict[str, Any]:
    _put(params, "update", cmd.update)
    _put(params, "goto", cmd.goto)
    _put(params, "config", cmd.config)
    _put(params, "metadata", cmd.metadata)
    return params


def _extras_from(params: Mapping[str, Any], method: str) -> dict[str, Any]:
    try:
        extras: dict[str, Any] = {
            "update": f.opt_dict(params, "update", "params"),
            "config": f.opt_dict(params, "config", "params"),
            "metadata": f.opt_dict(params, "metadata", "params"),
        }
    except RemoteProtocolError as exc:
        raise _wrap(method, exc) from None
    goto = params.get("goto")
    if goto is not None and not isinstance(goto, str | dict | list):
        raise _bad(method, f"goto must be a node name, a send or a list of them, got {goto!r}")
    extras["goto"] = goto
    return extras


def _entry_from(obj: Any, method: str) -> InterruptResponse:
    if type(obj) is not dict:
        raise _bad(method, "each response must be an object")
    interrupt_id = f.get(obj, "interrupt_id")
    if type(interrupt_id) is not str or not interrupt_id:
        raise _bad(method, "input.respond requires an interrupt_id.")
    ns = obj.get("namespace", [])
    try:
        namespace = f.namespace(ns, "namespace")
    except RemoteProtocolError as exc:
        raise _wrap(method, exc) from None
    return InterruptResponse(
        interrupt_id=interrupt_id, response=obj.get("response"), namespace=namespace
    )


@attrs.frozen(kw_only=True)
class InputRespond(Command):
    """Answer one interrupt."""

    method: ClassVar[str] = "input.respond"
    interrupt_id: str
    response: Any
    namespace: tuple[str, ...] = attrs.field(default=(), converter=_ns_tuple)
    update: Mapping[str, Any] | None = None
    goto: Any = None
    config: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        params = {
            "interrupt_id": self.interrupt_id,
            "namespace": list(self.namespace),
            "response": self.response,
        }
        return _respond_extras(self, params)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> InputRespond | InputRespondBatch:
        if "responses" in params:
            return InputRespondBatch.from_params(params)
        entry = _entry_from(params, cls.method)
        return cls(
            interrupt_id=entry.interrupt_id,
            response=entry.response,
            namespace=entry.namespace,
            **_extras_from(params, cls.method),
        )


@attrs.frozen(kw_only=True)
class InputRespondBatch(Command):
    """Answer several interrupts at once (all or nothing on the real server)."""

    method: ClassVar[str] = "input.respond"
    responses: tuple[InterruptResponse, ...] = attrs.field(converter=_as_tuple)
    update: Mapping[str, Any] | None = None
    goto: Any = None
    config: Mapping[str, Any] | None = None
    metadata: Mapping[str, Any] | None = None

    @responses.validator
    def _check(self, attribute: Any, value: tuple[Any, ...]) -> None:
        if not value:
            raise LocalProtocolError("a batch input.respond needs at least one response")
        for item in value:
            if not isinstance(item, InterruptResponse):
                raise LocalProtocolError(f"responses must be InterruptResponse, got {item!r}")

    def params(self) -> dict[str, Any]:
        return _respond_extras(self, {"responses": [r.to_json() for r in self.responses]})

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> InputRespondBatch:
        method = cls.method
        responses = params.get("responses")
        if type(responses) is not list or not responses:
            raise _bad(method, "responses must be a non-empty array")
        return cls(
            responses=tuple(_entry_from(r, method) for r in responses),
            **_extras_from(params, method),
        )


@attrs.frozen(kw_only=True)
class InputInject(Command):
    """Inject a message into a running agent (spec; the Python server does not implement it)."""

    method: ClassVar[str] = "input.inject"
    message: Mapping[str, Any]
    """``{"role": "user" | "system", "content": str, "name"?: str}``."""
    namespace: tuple[str, ...] = attrs.field(default=(), converter=_ns_tuple)

    def params(self) -> dict[str, Any]:
        return {"namespace": list(self.namespace), "message": dict(self.message)}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> InputInject:
        message = params.get("message")
        if type(message) is not dict or type(message.get("content")) is not str:
            raise _bad(cls.method, "message must be an object with a string content")
        try:
            namespace = f.namespace(params.get("namespace", []), "namespace")
        except RemoteProtocolError as exc:
            raise _wrap(cls.method, exc) from None
        return cls(message=message, namespace=namespace)


# -- subscriptions ---------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SubscribeResult:
    subscription_id: str
    replayed_events: int | None = None


def _subscribe_result(result: Any, method: str) -> SubscribeResult:
    if type(result) is not dict:
        raise RemoteProtocolError(f"{method} result must be an object")
    return SubscribeResult(
        subscription_id=f.req_str(result, "subscription_id", "result"),
        replayed_events=f.opt_int(result, "replayed_events", "result"),
    )


def _filter_params(cmd: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"channels": list(cmd.channels)}
    if cmd.namespaces is not None:
        params["namespaces"] = [list(ns) for ns in cmd.namespaces]
    if cmd.depth is not None:
        params["depth"] = cmd.depth
    return params


@attrs.frozen(kw_only=True)
class SubscriptionSubscribe(Command):
    """Add a subscription on this connection (WebSocket).

    ``since`` asks for a replay of ``seq > since`` only; the real server ignores
    it and replays everything it holds (clients drop what they have), a
    threadwire server honours it.
    """

    method: ClassVar[str] = "subscription.subscribe"
    channels: tuple[str, ...] = attrs.field(converter=_channels)
    namespaces: tuple[tuple[str, ...], ...] | None = attrs.field(
        default=None, converter=_namespaces
    )
    depth: int | None = attrs.field(default=None, converter=_depth)
    since: int | None = attrs.field(default=None, converter=_since)

    def params(self) -> dict[str, Any]:
        params = _filter_params(self)
        if self.since is not None:
            params["since"] = self.since
        return params

    def parse_result(self, result: Any) -> SubscribeResult:
        return _subscribe_result(result, self.method)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SubscriptionSubscribe:
        channels = _params_channels(params, cls.method)
        namespaces = _params_namespaces(params, cls.method)
        depth = _params_uint(params, "depth", cls.method)
        since = _params_uint(params, "since", cls.method)
        return cls(channels=channels, namespaces=namespaces, depth=depth, since=since)


@attrs.frozen(kw_only=True)
class SubscriptionUnsubscribe(Command):
    method: ClassVar[str] = "subscription.unsubscribe"
    subscription_id: str

    def params(self) -> dict[str, Any]:
        return {"subscription_id": self.subscription_id}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SubscriptionUnsubscribe:
        sub_id = f.get(params, "subscription_id")
        if type(sub_id) is not str or not sub_id:
            raise _bad(cls.method, "subscription_id is required")
        return cls(subscription_id=sub_id)


@attrs.frozen(kw_only=True)
class SubscriptionReconnect(Command):
    """Re-subscribe after a drop, replaying ``seq > since`` (server shape, not the spec's)."""

    method: ClassVar[str] = "subscription.reconnect"
    channels: tuple[str, ...] = attrs.field(converter=_channels)
    since: int = attrs.field(converter=_since)
    namespaces: tuple[tuple[str, ...], ...] | None = attrs.field(
        default=None, converter=_namespaces
    )
    depth: int | None = attrs.field(default=None, converter=_depth)
    subscription_id: str | None = None

    @since.validator
    def _check(self, attribute: Any, value: Any) -> None:
        if value is None:
            raise LocalProtocolError("subscription.reconnect requires since (an int >= 0)")

    def params(self) -> dict[str, Any]:
        params = _filter_params(self)
        params["since"] = self.since
        _put(params, "subscription_id", self.subscription_id)
        return params

    def parse_result(self, result: Any) -> SubscribeResult:
        return _subscribe_result(result, self.method)

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> SubscriptionReconnect:
        channels = _params_channels(params, cls.method)
        since = _params_uint(params, "since", cls.method)
        if since is None:
            raise _bad(cls.method, "since is required (an integer >= 0)")
        sub_id = f.get(params, "subscription_id")
        return cls(
            channels=channels,
            since=since,
            namespaces=_params_namespaces(params, cls.method),
            depth=_params_uint(params, "depth", cls.method),
            subscription_id=sub_id if type(sub_id) is str and sub_id else None,
        )


# -- agent and state -----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class AgentTreeNode:
    """One node of ``agent.getTree``'s tree."""

    namespace: tuple[str, ...]
    status: str
    graph_name: str | None = None
    children: tuple[AgentTreeNode, ...] = ()
    metadata: Mapping[str, Any] | None = None


def _tree(obj: Any, where: str) -> AgentTreeNode:
    if type(obj) is not dict:
        raise RemoteProtocolError(f"{where} must be an object")
    children = obj.get("children") or []
    if type(children) is not list:
        raise RemoteProtocolError(f"{where}.children must be an array")
    return AgentTreeNode(
        namespace=f.namespace(obj.get("namespace", []), f"{where}.namespace"),
        status=f.req_str(obj, "status", where),
        graph_name=f.opt_str(obj, "graph_name", where),
        children=tuple(_tree(c, f"{where}.children[]") for c in children),
        metadata=f.opt_dict(obj, "metadata", where),
    )


@attrs.frozen(kw_only=True)
class AgentGetTree(Command):
    method: ClassVar[str] = "agent.getTree"
    run_id: str | None = None

    def params(self) -> dict[str, Any]:
        return {} if self.run_id is None else {"run_id": self.run_id}

    def parse_result(self, result: Any) -> AgentTreeNode:
        if type(result) is not dict:
            raise RemoteProtocolError("agent.getTree result must be an object")
        return _tree(result.get("tree"), "result.tree")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> AgentGetTree:
        run_id = f.get(params, "run_id")
        return cls(run_id=run_id if type(run_id) is str else None)


@attrs.frozen(kw_only=True)
class StateGet(Command):
    method: ClassVar[str] = "state.get"
    namespace: tuple[str, ...] = attrs.field(default=(), converter=_ns_tuple)
    keys: tuple[str, ...] | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"namespace": list(self.namespace)}
        if self.keys is not None:
            params["keys"] = list(self.keys)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StateGet:
        keys = params.get("keys")
        if keys is not None and (type(keys) is not list or not all(type(k) is str for k in keys)):
            raise _bad(cls.method, "keys must be an array of strings")
        try:
            namespace = f.namespace(params.get("namespace", []), "namespace")
        except RemoteProtocolError as exc:
            raise _wrap(cls.method, exc) from None
        return cls(namespace=namespace, keys=None if keys is None else tuple(keys))


@attrs.frozen(kw_only=True)
class StateListCheckpoints(Command):
    method: ClassVar[str] = "state.listCheckpoints"
    namespace: tuple[str, ...] | None = None
    limit: int | None = None
    before: str | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.namespace is not None:
            params["namespace"] = list(self.namespace)
        _put(params, "limit", self.limit)
        _put(params, "before", self.before)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StateListCheckpoints:
        try:
            ns = params.get("namespace")
            return cls(
                namespace=None if ns is None else f.namespace(ns, "namespace"),
                limit=f.opt_int(params, "limit", "params"),
                before=f.opt_str(params, "before", "params"),
            )
        except RemoteProtocolError as exc:
            raise _wrap(cls.method, exc) from None


@attrs.frozen(kw_only=True)
class StateFork(Command):
    method: ClassVar[str] = "state.fork"
    checkpoint_id: str
    input: Any = UNSET
    config: Mapping[str, Any] | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {"checkpoint_id": self.checkpoint_id}
        if self.input is not UNSET:
            params["input"] = self.input
        _put(params, "config", self.config)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> StateFork:
        checkpoint_id = f.get(params, "checkpoint_id")
        if type(checkpoint_id) is not str or not checkpoint_id:
            raise _bad(cls.method, "checkpoint_id is required")
        try:
            config = f.opt_dict(params, "config", "params")
        except RemoteProtocolError as exc:
            raise _wrap(cls.method, exc) from None
        return cls(checkpoint_id=checkpoint_id, input=params.get("input", UNSET), config=config)


@attrs.frozen(kw_only=True)
class UnknownCommand(Command):
    """A command whose method this version does not know (sent or received as is)."""

    method: str  # type: ignore[misc]
    raw_params: Mapping[str, Any] = attrs.field(factory=dict)

    def params(self) -> dict[str, Any]:
        return dict(self.raw_params)


COMMAND_TYPES: Final[dict[str, type[Command]]] = {
    cls.method: cls
    for cls in (
        RunStart,
        InputRespond,
        InputInject,
        SubscriptionSubscribe,
        SubscriptionUnsubscribe,
        SubscriptionReconnect,
        AgentGetTree,
        StateGet,
        StateListCheckpoints,
        StateFork,
    )
}
"""Known methods and the class that decodes each (``input.respond`` covers the batch form)."""


def command_from_params(method: str, params: Mapping[str, Any]) -> Command:
    """Rebuild a received command; unknown methods become :class:`UnknownCommand`."""
    cls = COMMAND_TYPES.get(method)
    if cls is None:
        return UnknownCommand(method=method, raw_params=params)
    return cls.from_params(params)
