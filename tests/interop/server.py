"""Start/stop a real LangGraph Agent Server (``langgraph dev``) for interop tests.

Standard library only. Usage (with ``tests/interop`` on ``sys.path``, which
``conftest.py`` and ``capture.py`` arrange)::

    from server import start_langgraph_dev

    with start_langgraph_dev(".venv-interop", "tests/interop/graphs") as srv:
        print(srv.url)          # e.g. http://127.0.0.1:43817
        ...                     # talk to the server
    # server (and every child process) is gone here

or ``srv = start_langgraph_dev(...); ...; srv.stop()``.

The server runs in its own process group/session so ``stop()`` can signal
the whole tree (SIGTERM, then SIGKILL after a grace period). It binds to
127.0.0.1 only and is kept offline (no tracing, no analytics, no version
check, no browser, no file persistence).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = [
    "DEFAULT_GRAPHS_DIR",
    "DEFAULT_VENV_DIR",
    "LangGraphDevServer",
    "ServerStartError",
    "free_port",
    "start_langgraph_dev",
]

_HERE = Path(__file__).resolve().parent
DEFAULT_GRAPHS_DIR = _HERE / "graphs"
DEFAULT_VENV_DIR = _HERE.parent.parent / ".venv-interop"

# Environment that keeps `langgraph dev` hermetic and quiet.
OFFLINE_ENV = {
    # langgraph-cli: skip the anonymous usage beacon (analytics.log_command).
    "LANGGRAPH_CLI_NO_ANALYTICS": "1",
    # langgraph-api: skip the PyPI "newer version available" check.
    "LANGGRAPH_NO_VERSION_CHECK": "true",
    # LangSmith tracing off (both spellings).
    "LANGSMITH_TRACING": "false",
    "LANGSMITH_TRACING_V2": "false",
    "LANGCHAIN_TRACING_V2": "false",
    "LANGCHAIN_TRACING": "false",
    # No on-disk .langgraph_api/ state in the graphs directory.
    "LANGGRAPH_DISABLE_FILE_PERSISTENCE": "true",
    # Never try to open a browser even if --no-browser were dropped.
    "BROWSER": "true",
    # Plain-text server log (structlog colours off).
    "LOG_COLOR": "false",
    "PYTHONUNBUFFERED": "1",
    "PYTHONDONTWRITEBYTECODE": "1",
}
# Variables that could make the server reach out (license beacons, remote
# tracing, proxies for loopback traffic) are removed from the child env.
_DROP_ENV = (
    "LANGSMITH_API_KEY",
    "LANGCHAIN_API_KEY",
    "LANGGRAPH_CLOUD_LICENSE_KEY",
    "LANGSMITH_CONTROL_PLANE_API_KEY",
    "LANGSMITH_ENDPOINT",
    "LANGCHAIN_ENDPOINT",
    "REDIS_URI",
    "DATABASE_URI",
)


_PORT_MOVED = re.compile(r"Port (\d+) is already in use, using port (\d+) instead")


class ServerStartError(RuntimeError):
    """The server did not become healthy in time (message includes its log)."""


def free_port(host: str = "127.0.0.1") -> int:
    """Ask the OS for a currently free TCP port on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _http_ok(url: str, timeout: float = 2.0) -> bool:
    # Bypass any proxy configured in the environment: loopback only.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class LangGraphDevServer:
    """Handle on a running ``langgraph dev`` process.

    Attributes: ``url`` (``http://127.0.0.1:<port>``), ``host``, ``port``,
    ``pid`` (also the process-group id), ``log_path`` (combined
    stdout/stderr), ``workdir`` (private cwd of the server),
    ``startup_seconds`` (time until ``GET /ok`` answered).
    """

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        host: str,
        port: int,
        log_path: Path,
        log_file,
        workdir: Path,
    ) -> None:
        self._proc = proc
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"
        self.pid = proc.pid
        self.log_path = log_path
        self._log_file = log_file
        self.workdir = workdir
        self.startup_seconds: float | None = None

    def _set_port(self, port: int) -> None:
        self.port = port
        self.url = f"http://{self.host}:{port}"

    # -- status ---------------------------------------------------------
    def poll(self) -> int | None:
        """Return the exit code if the server process has exited, else None."""
        return self._proc.poll()

    @property
    def running(self) -> bool:
        return self._proc.poll() is None

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- shutdown -------------------------------------------------------
    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def stop(self, grace: float = 10.0, *, keep_log: bool = True) -> int | None:
        """Terminate the server and all its children.

        Sends SIGTERM to the process group, waits up to ``grace`` seconds,
        then SIGKILLs the group. Idempotent. Returns the exit code.
        The server's state directory is removed; the log is kept unless
        ``keep_log=False`` (then the whole private working dir goes).
        """
        if self._proc.poll() is None or self._group_alive():
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if self._proc.poll() is not None and not self._group_alive():
                    break
                time.sleep(0.05)
            if self._proc.poll() is None or self._group_alive():
                self._signal_group(signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self._proc.wait(timeout=5)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._proc.wait(timeout=1)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        shutil.rmtree(self.workdir / ".langgraph_api", ignore_errors=True)
        if not keep_log:
            shutil.rmtree(self.workdir, ignore_errors=True)
        return self._proc.returncode

    def __enter__(self) -> LangGraphDevServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<LangGraphDevServer {self.url} pid={self.pid} running={self.running}>"


def _langgraph_exe(venv_dir: Path) -> Path:
    for name in ("bin/langgraph", "Scripts/langgraph.exe"):
        p = venv_dir / name
        if p.exists():
            return p
    raise FileNotFoundError(
        f"no langgraph executable in {venv_dir}; run scripts/setup-interop-server.sh {venv_dir}"
    )


def _write_private_config(graphs: Path, workdir: Path) -> Path:
    """Copy ``graphs/langgraph.json`` into ``workdir`` with absolute paths."""
    cfg = json.loads((graphs / "langgraph.json").read_text())

    def absolutize(ref: str) -> str:
        path, sep, var = ref.partition(":")
        if path.endswith(".py") and not os.path.isabs(path):
            path = str((graphs / path).resolve())
        return path + sep + var

    new_graphs = {}
    for gid, ref in (cfg.get("graphs") or {}).items():
        if isinstance(ref, str):
            new_graphs[gid] = absolutize(ref)
        elif isinstance(ref, dict) and isinstance(ref.get("path"), str):
            new_graphs[gid] = {**ref, "path": absolutize(ref["path"])}
        else:
            new_graphs[gid] = ref
    cfg["graphs"] = new_graphs
    deps = cfg.get("dependencies") or ["."]
    cfg["dependencies"] = [
        str((graphs / d).resolve())
        if not os.path.isabs(d) and not d.startswith(("git+", "http")) and (graphs / d).exists()
        else d
        for d in deps
    ]
    out = workdir / "langgraph.json"
    out.write_text(json.dumps(cfg, indent=2))
    return out


def start_langgraph_dev(
    venv_dir: str | os.PathLike[str] = DEFAULT_VENV_DIR,
    graphs_dir: str | os.PathLike[str] = DEFAULT_GRAPHS_DIR,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    timeout: float = 120.0,
    log_path: str | os.PathLike[str] | None = None,
    extra_env: dict[str, str] | None = None,
    server_log_level: str = "WARNING",
    n_jobs_per_worker: int = 10,
) -> LangGraphDevServer:
    """Start ``langgraph dev`` from ``venv_dir`` serving ``graphs_dir``.

    Waits until ``GET /ok`` returns 200 (at most ``timeout`` seconds). On
    failure the process group is killed and ``ServerStartError`` is raised
    with the tail of the server log. The returned handle is also a context
    manager.

    ``n_jobs_per_worker`` defaults to 10 (the CLI's default is 1, which
    serialises runs of *different* threads). The in-memory queue polls for
    pending runs every 0.5 s, so a run starts ~0.5-1 s after ``run.start``.
    """
    venv = Path(venv_dir).resolve()
    graphs = Path(graphs_dir).resolve()
    exe = _langgraph_exe(venv)
    if not (graphs / "langgraph.json").exists():
        raise FileNotFoundError(f"{graphs}/langgraph.json not found")

    # Run in a private working directory: the in-memory runtime writes its
    # pickles to ./.langgraph_api (even with persistence disabled) and loads
    # them again on the next start, so sharing cwd=graphs_dir would leak
    # threads between sessions, pollute the repo and race between parallel
    # servers. The config is copied there with absolute graph paths.
    workdir = Path(tempfile.mkdtemp(prefix="threadwire-lgdev-"))
    config_path = _write_private_config(graphs, workdir)
    if log_path is None:
        log = workdir / "server.log"
    else:
        log = Path(log_path).resolve()
        log.parent.mkdir(parents=True, exist_ok=True)

    env = {k: v for k, v in os.environ.items() if k not in _DROP_ENV}
    env.update(OFFLINE_ENV)
    # The venv's own bin first; no activation needed.
    env["PATH"] = str(exe.parent) + os.pathsep + env.get("PATH", "")
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    no_proxy = "127.0.0.1,localhost"
    env["NO_PROXY"] = env["no_proxy"] = no_proxy
    if extra_env:
        env.update(extra_env)

    # Port selection races with other processes; retry a few times if the
    # server dies early because the port got taken.
    attempts = 1 if port is not None else 3
    last_err: Exception | None = None
    for _attempt in range(attempts):
        chosen = port if port is not None else free_port(host)
        log_file = open(log, "ab")  # noqa: SIM115 - closed by stop()
        cmd = [
            str(exe),
            "dev",
            "--no-browser",
            "--no-reload",
            "--host",
            host,
            "--port",
            str(chosen),
            "--server-log-level",
            server_log_level,
            "--n-jobs-per-worker",
            str(n_jobs_per_worker),
            "--config",
            str(config_path),
        ]
        t0 = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            cwd=str(workdir),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # own session + process group (pgid == pid)
        )
        handle = LangGraphDevServer(proc, host, chosen, log, log_file, workdir)
        deadline = t0 + timeout
        ok_url = f"{handle.url}/ok"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            # `langgraph dev` silently moves to another port when the
            # requested one is taken (port race): follow it.
            moved = _PORT_MOVED.search(handle.read_log())
            if moved and int(moved.group(1)) == handle.port:
                handle._set_port(int(moved.group(2)))
                ok_url = f"{handle.url}/ok"
            if _http_ok(ok_url, timeout=1.0) and proc.poll() is None:
                handle.startup_seconds = time.monotonic() - t0
                return handle
            time.sleep(0.1)
        exited = proc.poll()
        handle.stop(grace=3.0)
        tail = handle.read_log()[-8000:]
        if exited is None:
            last_err = ServerStartError(
                f"langgraph dev did not answer {ok_url} within {timeout:.0f}s (log {log}):\n{tail}"
            )
            break  # a timeout is not a port race; do not retry
        last_err = ServerStartError(
            f"langgraph dev exited with code {exited} before becoming healthy (log {log}):\n{tail}"
        )
        if "address already in use" not in tail.lower():
            break
    assert last_err is not None
    print(str(last_err), file=sys.stderr)
    raise last_err


def _main(argv: list[str]) -> int:
    """``python tests/interop/server.py [VENV] [GRAPHS]``: run until Ctrl-C."""
    venv = argv[1] if len(argv) > 1 else str(DEFAULT_VENV_DIR)
    graphs = argv[2] if len(argv) > 2 else str(DEFAULT_GRAPHS_DIR)
    srv = start_langgraph_dev(venv, graphs)
    print(
        f"langgraph dev ready at {srv.url} (pid {srv.pid}, log {srv.log_path}, "
        f"{srv.startup_seconds:.1f}s)",
        flush=True,
    )
    try:
        while srv.running:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        srv.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv))
