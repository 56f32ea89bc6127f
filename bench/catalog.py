"""Catalog figures with 1,000 registered documents: registration time against validating the same
document alone (``mesh validate``'s loader), and search latency for typical queries.

``python -m bench.catalog [--documents N]`` generates the documents (AsyncAPI 3.0, 5 channels each,
varied protocols, tags and owners) in a temporary catalog.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from mesh.catalog.store import Catalog, Query, load_text

__all__ = ["main"]

PROTOCOLS = ("kafka", "mqtt", "amqp", "nats")
DOMAINS = ("orders", "payments", "shipping", "inventory", "devices", "billing", "users", "search")


def document(index: int) -> str:
    domain = DOMAINS[index % len(DOMAINS)]
    protocol = PROTOCOLS[index % len(PROTOCOLS)]
    channels = "\n".join(
        f"  c{n}:\n    address: {domain}.{index}.event{n}\n"
        f"    messages:\n      m{n}:\n        name: {domain}Event{n}\n"
        "        payload: {type: object, required: [id], properties: {id: {type: string}}}"
        for n in range(5)
    )
    actions = ("receive", "send")
    operations = "\n".join(
        f"  op{n}: {{action: {actions[n % 2]}, channel: {{$ref: '#/channels/c{n}'}}}}"
        for n in range(5)
    )
    return f"""asyncapi: 3.0.0
id: urn:bench:{domain}:{index}
info:
  title: {domain.title()} service {index}
  version: 1.0.0
  description: Events of the {domain} domain, service number {index}.
  contact: {{name: team-{index % 25}}}
  tags: [{{name: {domain}}}, {{name: tier-{index % 3}}}]
servers:
  main: {{host: 'broker-{index % 7}:1234', protocol: {protocol}}}
channels:
{channels}
operations:
{operations}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--documents", type=int, default=1_000)
    args = parser.parse_args()
    texts = [document(i) for i in range(args.documents)]
    with tempfile.TemporaryDirectory() as tmp:
        catalog = Catalog(Path(tmp) / "catalog.sqlite")
        validating, registering = [], []
        for text in texts:
            started = time.perf_counter()
            load_text(text)
            validating.append(time.perf_counter() - started)
            started = time.perf_counter()
            catalog.register(text)
            registering.append(time.perf_counter() - started)
        queries = {
            "free text 'payments'": Query(text="payments"),
            "channel 'orders.*'": Query(channel="orders.*"),
            "message 'devicesEvent3'": Query(message="devicesEvent3"),
            "protocol mqtt + tag tier-1": Query(protocol="mqtt", tag="tier-1"),
            "owner team-7, page 2": Query(owner="team-7", limit=10, offset=10),
        }
        print(f"{args.documents} documents, 5 channels each, SQLite")
        validate_ms = statistics.median(validating) * 1000
        register_ms = statistics.median(registering) * 1000
        print(
            f"registration: median {register_ms:.2f} ms a document, total "
            f"{sum(registering):.1f} s; validating alone: median {validate_ms:.2f} ms "
            f"(registration / validation = {register_ms / validate_ms:.2f}x)"
        )
        for name, query in queries.items():
            timings = []
            for _ in range(20):
                started = time.perf_counter()
                total, _ = catalog.search(query)
                timings.append((time.perf_counter() - started) * 1000)
            timings.sort()
            print(
                f"search {name:<30} {total:>5} hits  median {statistics.median(timings):6.2f} ms"
                f"  max {timings[-1]:6.2f} ms"
            )
        timings = []
        for _ in range(20):
            started = time.perf_counter()
            catalog.lineage("orders.*.event1")
            timings.append((time.perf_counter() - started) * 1000)
        print(f"lineage 'orders.*.event1'  median {statistics.median(timings):.2f} ms")


if __name__ == "__main__":
    main()
