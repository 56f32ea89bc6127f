"""Test certificates made with openssl: a CA, a server certificate for 127.0.0.1, clients."""

from __future__ import annotations

import subprocess
from pathlib import Path

__all__ = ["certificates"]


def certificates(directory: Path) -> dict[str, Path]:
    """A CA; two server certificates for 127.0.0.1 (CN server, server2); a client (CN client)."""

    directory.mkdir(parents=True, exist_ok=True)

    def openssl(command: str) -> None:
        run = ["openssl", *command.split()]
        subprocess.run(run, cwd=directory, check=True, capture_output=True)

    openssl("req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ca -keyout ca.key -out ca.pem")
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1"),
        ("server2", "subjectAltName=IP:127.0.0.1"),
        ("client", ""),
    ):
        openssl(f"req -newkey rsa:2048 -nodes -subj /CN={name} -keyout {name}.key -out {name}.csr")
        (directory / f"{name}.ext").write_text(extension + "\n")
        openssl(
            f"x509 -req -in {name}.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
            f"-out {name}.pem -extfile {name}.ext"
        )
    names = [f"{n}.{e}" for n in ("server", "server2", "client") for e in ("pem", "key")]
    names.append("ca.pem")
    return {name: directory / name for name in names}
