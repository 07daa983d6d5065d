"""threadwire.adapters: anyio bindings of the sans-IO core (asyncio and trio)."""

__all__: list[str] = []
