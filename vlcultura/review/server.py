"""A real Argilla server on loopback for users without a Hugging Face Space, and for the tests.

Three processes under one home directory: redis-server (on a unix socket, nothing persisted),
osmem-server (an in-memory OpenSearch emulator) and argilla-server 2.8 started by
`argilla_launcher.py` inside its OWN virtual environment (it pins old libraries). The SQLite
database is the only state; the launcher rebuilds the search index from it at every start, so
the server can be killed at any point and started again on the same home.

Secrets: the owner's API key is ARGILLA_API_KEY when that is set at the first start (nothing is
written then), otherwise a random one kept in `<home>/owner.key`; the UI password is random, in
`<home>/owner.password`. Both files are 0600 in a 0700 home (which already holds the database,
where argilla-server keeps every API key anyway). Neither is ever printed or logged: read them
with `cat`.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import httpx

SERVER_REQUIREMENTS = ("argilla-server==2.8.0", "click<8.2", "osmem-server==0.1.6")
OWNER_USERNAME = "argilla"  # argilla-server's default owner
LAUNCHER = Path(__file__).with_name("argilla_launcher.py")


class LocalServerError(RuntimeError):
    """The local server cannot be set up or started; the message says what to do."""


def default_home() -> Path:
    """Where `vlcultura review serve` keeps its database unless told otherwise."""
    return Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share")) / "vlcultura" / "argilla"


def venv_python(venv: Path) -> Path:
    return venv / "bin" / "python"


def venv_ready(venv: Path) -> bool:
    """True when `venv` holds argilla-server and osmem-server (cheap: looks at files only)."""
    site = list(venv.glob("lib/python3*/site-packages"))
    return venv_python(venv).exists() and bool(site) and all(
        (site[0] / pkg).is_dir() for pkg in ("argilla_server", "osmem_server"))


def ensure_venv(venv: Path) -> Path:
    """Create the server's own environment on demand (~30 s, ~600 MB) and return its python."""
    if venv_ready(venv):
        return venv_python(venv)
    python = shutil.which("python3") or sys.executable
    steps = ([python, "-m", "venv", str(venv)],
             [str(venv_python(venv)), "-m", "pip", "install", "--quiet", *SERVER_REQUIREMENTS])
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True)
        if done.returncode != 0:
            raise LocalServerError(f"could not prepare the Argilla server environment at {venv}: "
                                   f"`{' '.join(step)}` failed:\n{done.stderr[-2000:]}")
    return venv_python(venv)


def redis_binary() -> str | None:
    return shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _write_private(path: Path, text: str) -> None:
    """Create a file only its owner can read, without a window where it is world-readable."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


@dataclass
class LocalArgilla:
    """The three processes of a loopback Argilla server; `start` is idempotent per process."""

    home: Path
    venv: Path
    port: int = 6900
    host: str = "127.0.0.1"
    startup_timeout_s: float = 90.0
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict, repr=False)
    _osmem_port: int = field(default=0, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def key_file(self) -> Path:
        return self.home / "owner.key"

    @property
    def password_file(self) -> Path:
        return self.home / "owner.password"

    def owner_api_key(self) -> str:
        """The owner's key: the generated one when there is one, else ARGILLA_API_KEY."""
        if self.key_file.exists():
            return self.key_file.read_text(encoding="utf-8").strip()
        if os.environ.get("ARGILLA_API_KEY"):
            return os.environ["ARGILLA_API_KEY"]
        raise LocalServerError(f"no owner key in {self.home}: set ARGILLA_API_KEY to the key the owner was created "
                               "with, or start with a new --home")

    def _owner_env(self) -> dict[str, str]:
        """Owner credentials for the launcher; generated (and kept 0600) on the first start."""
        first_start = not (self.home / "argilla.db").exists()
        if first_start and not self.key_file.exists() and not os.environ.get("ARGILLA_API_KEY"):
            _write_private(self.key_file, "argilla.apikey." + secrets.token_urlsafe(32))
        if not self.password_file.exists():
            _write_private(self.password_file, secrets.token_urlsafe(18))
        return {"VLCULTURA_ARGILLA_OWNER_API_KEY": self.owner_api_key(),
                "VLCULTURA_ARGILLA_OWNER_PASSWORD": self.password_file.read_text(encoding="utf-8").strip()}

    def _alive(self, name: str) -> bool:
        proc = self._procs.get(name)
        return proc is not None and proc.poll() is None

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.home / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - lives as long as the process
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                env=env, start_new_session=True)
        log.close()
        self._procs[name] = proc
        return proc

    def _start_redis(self) -> None:
        binary = redis_binary()
        if binary is None:
            raise LocalServerError("redis-server not found: install it (`apt-get install -y redis-server`, "
                                   "`brew install redis`) and start again")
        self._spawn("redis", [binary, "--port", "0", "--unixsocket", str(self.home / "redis.sock"),
                              "--unixsocketperm", "700", "--save", "", "--appendonly", "no"])

    def _start_osmem(self) -> str:
        binary = next(self.venv.glob("lib/python3*/site-packages/osmem_server/bin/osmem-server"))
        self._osmem_port = free_port()
        self._spawn("osmem", [str(binary), "-addr", f"127.0.0.1:{self._osmem_port}", "-no-stdin-watch", "-no-ja",
                              "-parent-pid", str(os.getpid())])
        return f"http://127.0.0.1:{self._osmem_port}"

    def _start_argilla(self) -> None:
        env = {**os.environ, **self._owner_env(),
               "ARGILLA_HOME_PATH": str(self.home),
               "ARGILLA_SEARCH_ENGINE": "opensearch",
               "ARGILLA_ELASTICSEARCH": f"http://127.0.0.1:{self._osmem_port}",
               "ARGILLA_REDIS_URL": f"unix://{self.home / 'redis.sock'}",
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_OFFLINE": "1"}
        env.pop("ARGILLA_API_KEY", None)  # the server has no use for a client key
        self._spawn("argilla", [str(venv_python(self.venv)), str(LAUNCHER), "--host", self.host,
                                "--port", str(self.port), "--parent-pid", str(os.getpid())], env=env)

    def start(self) -> None:
        """Start whatever is not running and wait until the API answers."""
        if not venv_ready(self.venv):
            raise LocalServerError(f"no Argilla server environment at {self.venv}: run `vlcultura review serve "
                                   f"--venv {self.venv}` once (it installs {', '.join(SERVER_REQUIREMENTS)})")
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)
        if not self._alive("redis"):
            self._start_redis()
        if not self._alive("osmem"):
            self._start_osmem()
        if not self._alive("argilla"):
            self._start_argilla()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise LocalServerError(f"{name} exited with code {proc.returncode} while starting: "
                                           f"see {self.home / 'logs' / (name + '.log')}")
            try:
                if httpx.get(f"{self.url}/api/v1/status", timeout=2).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise LocalServerError(f"Argilla did not answer at {self.url} within {self.startup_timeout_s:.0f} s: "
                               f"see {self.home / 'logs' / 'argilla.log'}")

    def running(self) -> bool:
        return all(self._alive(name) for name in ("redis", "osmem", "argilla"))

    def add_reviewer(self, username: str) -> Path:
        """An annotator of the `argilla` workspace; her UI password goes to a 0600 file, returned."""
        import argilla as rg

        owner = rg.Argilla(api_url=self.url, api_key=self.owner_api_key())
        password_file = self.home / "reviewers" / f"{username}.password"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the SDK warns when the user does not exist yet
            missing = owner.users(username) is None
        if missing:
            password_file.parent.mkdir(mode=0o700, exist_ok=True)
            password = secrets.token_urlsafe(18)
            user = rg.User(username=username, password=password, role="annotator", client=owner).create()
            user.add_to_workspace(owner.workspaces(OWNER_USERNAME))
            _write_private(password_file, password)
        return password_file

    def kill_server(self) -> None:
        """SIGKILL argilla-server alone, as a crash would (redis and the index stay up)."""
        proc = self._procs.get("argilla")
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()

    def stop(self) -> None:
        """Stop every process, the server first."""
        for name in ("argilla", "osmem", "redis"):
            proc = self._procs.pop(name, None)
            if proc is None or proc.poll() is not None:
                continue
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> "LocalArgilla":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
