"""HTTP proxy figures: the gateway proxying an OpenAPI operation to an aiohttp hello-world, against
calling that upstream directly and against nginx (Debian) proxying the same upstream, all driven
by wrk in the same run (goal: at least 0.5x nginx's rate). ``python -m bench.proxy --help``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from bench.run import HERE, Wrk, process, wrk
from mesh.broker import free_port

__all__ = ["main"]

NGINX = """
worker_processes 1;
error_log {dir}/error.log warn;
pid {dir}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir};
  proxy_temp_path {dir};
  upstream hello {{ server 127.0.0.1:{upstream}; keepalive 64; }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://hello;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_set_header X-Forwarded-Proto $scheme;
    }}
  }}
}}
"""


def gateway_config(directory: Path, port: int, upstream: int) -> Path:
    config = directory / "mesh.yaml"
    config.write_text(
        json.dumps(
            {
                "listen": {"port": port},
                "grpc": {"enabled": False},
                "specs": [
                    {
                        "path": str(HERE / "proxy.yaml"),
                        "upstreams": [f"http://127.0.0.1:{upstream}"],
                    }
                ],
            }
        )
    )
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    upstream, gateway, nginx = free_port(), free_port(), free_port()
    results: dict[str, list[Wrk]] = {"direct": [], "nginx": [], "gateway": []}
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "nginx.conf").write_text(
            NGINX.format(dir=directory, port=nginx, upstream=upstream)
        )
        hello = [sys.executable, "-m", "bench.hello", str(upstream)]
        mesh = [sys.executable, "-m", "mesh", "run", "--config"]
        mesh.append(str(gateway_config(directory, gateway, upstream)))
        nginx_command = ["nginx", "-c", str(directory / "nginx.conf"), "-g", "daemon off;"]
        with (
            process(hello, f"http://127.0.0.1:{upstream}/"),
            process(mesh, f"http://127.0.0.1:{gateway}/readyz"),
            process(nginx_command, f"http://127.0.0.1:{nginx}/"),
        ):
            for _ in range(args.runs):
                for name, port in (("direct", upstream), ("nginx", nginx), ("gateway", gateway)):
                    result = wrk(f"http://127.0.0.1:{port}/", args.seconds, args.connections)
                    results[name].append(result)
                    print(
                        f"run: {name} {result.rate:.0f} req/s, p50 {result.p50_ms:.2f} ms, "
                        f"p99 {result.p99_ms:.2f} ms, errors {result.errors}",
                        flush=True,
                    )
    median = {
        name: (
            statistics.median(r.rate for r in runs),
            statistics.median(r.p50_ms for r in runs),
            statistics.median(r.p99_ms for r in runs),
        )
        for name, runs in results.items()
    }
    direct = median["direct"]
    print(
        f"\n{'(median of runs)':<22} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'added p50/p99':>16}"
    )
    for name, (rate, p50, p99) in median.items():
        added = "" if name == "direct" else f"{p50 - direct[1]:+.2f}/{p99 - direct[2]:+.2f}"
        print(f"{name:<22} {rate:>8.0f} {p50:>8.2f} {p99:>8.2f} {added:>16}")
    ratio = median["gateway"][0] / median["nginx"][0]
    verdict = "met" if ratio >= 0.5 else "MISSED"
    print(f"gateway proxy rate vs nginx: {ratio:.2f}x (goal >= 0.5x: {verdict})")


if __name__ == "__main__":
    main()
