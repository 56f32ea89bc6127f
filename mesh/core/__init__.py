"""The sans-I/O core: messages, routes, policies and errors. Imports no network library."""

from __future__ import annotations

from mesh.core.connector import Connector, Endpoint, EndpointSettings, Restart, StartAt
from mesh.core.message import Message, Receipt
from mesh.core.routes import Action, Route, RouteTable

__all__ = [
    "Action",
    "Connector",
    "Endpoint",
    "EndpointSettings",
    "Message",
    "Receipt",
    "Restart",
    "Route",
    "RouteTable",
    "StartAt",
]
