"""The HTTP server: OpenAPI operations, channel routes (REST publish, SSE, long poll, WebSocket),
the admin API and the gateway's own routes.

One catch-all handler resolves the path (operations first, then the current ``RouteTable``),
admits the caller and picks the entrypoint by method and ``Accept``. Every ``MeshError`` becomes
a problem response here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from aiohttp import web

from connectors.entrypoints.admission import admit, admit_session, rate_limit_headers
from connectors.entrypoints.body import read_body
from connectors.entrypoints.caller import CALLER
from connectors.entrypoints.cors import add_cors_headers, preflight
from connectors.entrypoints.problem import (
    PROBLEM_JSON,
    internal_error,
    json_response,
    problem_body,
    problem_response,
)
from connectors.entrypoints.proxy import check_parameters, proxy
from connectors.entrypoints.rest import publish
from connectors.entrypoints.state import GatewayState
from connectors.entrypoints.subscribe import poll, stream
from connectors.entrypoints.websocket import Grant, is_websocket, session
from mesh.core.errors import (
    MeshError,
    MethodNotAllowed,
    NotAcceptable,
    RouteNotFound,
)
from mesh.core.media import media_type
from mesh.core.problems import PROBLEM_TYPES, problem_uri
from mesh.core.proxy import Operation
from mesh.core.routes import Action, RouteMatch

__all__ = ["STATE", "build_app"]

STATE = web.AppKey("mesh_state", GatewayState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def build_app(
    state: GatewayState, extra: Sequence[Callable[[web.Application], None]] = ()
) -> web.Application:
    """An aiohttp application serving ``state``, with ``extra`` routes (the admin API, the
    catalog) added before the catch-all; the caller runs it and owns its lifecycle."""
    app = web.Application(middlewares=[_problems], client_max_size=state.settings.max_body_bytes)
    app[STATE] = state
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/openapi.json", _openapi)
    app.router.add_get("/_mesh/problems", _problem_types)
    app.router.add_get("/_mesh/problems/{code}", _problem_type)
    for add_routes in extra:
        add_routes(app)
    app.router.add_route("*", "/{path:.*}", _channel)
    return app


@web.middleware
async def _problems(request: web.Request, handler: Handler) -> web.StreamResponse:
    state = request.app[STATE]
    try:
        response = await handler(request)
    except MeshError as exc:
        response = problem_response(exc, request.path)
    except web.HTTPException as exc:
        if exc.status == 404:
            response = problem_response(
                RouteNotFound(f"no route at {request.path!r}"), request.path
            )
        elif exc.status == 405:
            allowed = sorted(getattr(exc, "allowed_methods", ()) or ("GET",))
            response = problem_response(
                MethodNotAllowed("method not allowed", allowed), request.path
            )
        else:
            raise
    except Exception as exc:
        response = internal_error(exc, request.path)
    if not response.prepared:
        add_cors_headers(state.settings, request, response)
        caller = request.get(CALLER)
        if caller is not None and caller.decision is not None:
            rate_limit_headers(response, caller.decision)
    return response


async def _channel(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    found = state.operations.resolve(request.path)
    if found is not None:
        return await _operation(state, request, *found)
    match = state.routes.resolve(request.path)
    methods = _methods(match)
    if request.method == "OPTIONS":
        return preflight(state.settings, request, methods)
    if request.method not in methods and not (request.method == "GET" and is_websocket(request)):
        raise MethodNotAllowed(
            f"{request.method} is not allowed on this channel", [*methods, "OPTIONS"]
        )
    return await _serve_channel(state, request, match, publishing=request.method == "POST")


async def _operation(
    state: GatewayState,
    request: web.Request,
    methods: Mapping[str, Operation],
    values: Mapping[str, str],
) -> web.StreamResponse:
    """An OpenAPI operation: proxied upstream, or served by the channel it is linked to."""
    if request.method == "OPTIONS" and "OPTIONS" not in methods:
        return preflight(state.settings, request, list(methods))
    operation = methods.get(request.method)
    if operation is None:
        raise MethodNotAllowed(f"{request.method} is not allowed here", [*methods, "OPTIONS"])
    await admit(state, request, operation.security)
    if operation.channel is None:
        return await proxy(state, request, operation, values)
    check_parameters(operation, values, request)
    match = state.routes.resolve(operation.channel.render(values))
    publishing = request.method in ("POST", "PUT")
    if publishing and operation.body is not None:
        body = await read_body(request, state.settings.max_body_bytes)
        operation.body.validate(media_type(request.headers.get("Content-Type")), body)
    needed = Action.PUBLISH if publishing else Action.SUBSCRIBE
    if needed not in match.route.actions:
        raise MethodNotAllowed(f"the linked channel does not allow {needed.value}", [])
    return await _serve_channel(state, request, match, publishing=publishing)


async def _serve_channel(
    state: GatewayState, request: web.Request, match: RouteMatch, *, publishing: bool
) -> web.StreamResponse:
    action = Action.PUBLISH if publishing else Action.SUBSCRIBE
    topic = state.address(match, action)
    if is_websocket(request) and not publishing:
        refused = await admit_session(state, request, match)
        return await session(state, request, match, topic, Grant(request[CALLER], refused))
    if CALLER not in request:  # a linked operation admitted the caller already
        await admit(state, request, match.route.security.get(action), defer=publishing)
    state.authorize(match, action, request[CALLER])
    if publishing:
        return await publish(state, request, match, topic)
    accept = request.headers.get("Accept", "*/*")
    if "text/event-stream" in accept:
        return await stream(state, request, match, topic)
    if any(kind in accept for kind in ("application/json", "*/*", "application/*")):
        return await poll(state, request, match, topic)
    raise NotAcceptable("ask for text/event-stream (a stream) or application/json (a poll)")


def _methods(match: RouteMatch) -> list[str]:
    methods = []
    if Action.SUBSCRIBE in match.route.actions:
        methods.append("GET")
    if Action.PUBLISH in match.route.actions:
        methods.append("POST")
    return methods


async def _healthz(request: web.Request) -> web.Response:
    return json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    state = request.app[STATE]
    waiting = sorted(name for name, endpoint in state.endpoints.items() if not endpoint.ready)
    if state.closing.is_set():
        return json_response(
            problem_body("not-ready", "the gateway is shutting down"), 503, PROBLEM_JSON
        )
    if waiting:
        body = problem_body("not-ready", "endpoints not connected yet", endpoints=waiting)
        return json_response(body, 503, PROBLEM_JSON)
    return json_response({"status": "ready", "endpoints": sorted(state.endpoints)})


async def _openapi(request: web.Request) -> web.Response:
    state = request.app[STATE]
    return json_response(state.describe(state.routes))


async def _problem_types(request: web.Request) -> web.Response:
    return json_response([_describe(code) for code in PROBLEM_TYPES])


async def _problem_type(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    if code not in PROBLEM_TYPES:
        raise RouteNotFound(f"no problem type {code!r}")
    return json_response(_describe(code))


def _describe(code: str) -> dict[str, object]:
    kind = PROBLEM_TYPES[code]
    return {
        "type": problem_uri(code),
        "code": code,
        "status": kind.status,
        "title": kind.title,
        "description": kind.description,
    }
