"""The control API and the dashboard, as one FastAPI application.

Routes (the OpenAPI document at ``/openapi.json`` has them all): ``GET /`` the dashboard;
``GET /api/status``; ``GET /api/events?since=N&limit=M``; ``GET /api/stream`` (server-sent
events: ``status`` with the whole status, ``log`` with each new event-log entry);
``GET/POST /api/faults``, ``DELETE /api/faults/{name}``; ``POST /api/clock``;
``POST /api/power-cycle``; ``POST /api/reset``; ``GET/POST/DELETE /api/scenario``.

With a ``token`` every route but the dashboard page needs ``Authorization: Bearer TOKEN`` (or
``?token=TOKEN``, for the browser's EventSource). Refusals are JSON ``{"detail": message}``
with a 4xx status; nothing changes then.
"""
from __future__ import annotations

import asyncio
import json
import logging
import secrets
import threading
from importlib import resources
from typing import Any, AsyncIterator

import anyio
from fastapi import Body, FastAPI, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict

from .controller import Controller
from .errors import ControlError
from .scenario import ScenarioError, parse_scenario
from .scenario_runner import ScenarioManager

log = logging.getLogger(__name__)

PUBLIC_PATHS = ("/", "/favicon.ico")
STREAM_INTERVAL_S = 0.5


class FaultRequest(BaseModel):
    """Switch a fault on: its name (GET /api/faults) and parameters (defaults if left out)."""

    model_config = ConfigDict(extra="forbid")
    name: Any = None
    params: Any = None


class ClockRequest(BaseModel):
    """advance (with ms), pause, resume, or warp (with warp: simulated s per real s)."""

    model_config = ConfigDict(extra="forbid")
    action: Any = None
    ms: Any = None
    warp: Any = None


def dashboard_html() -> str:
    """The dashboard page (one static file, no build step)."""
    return resources.files("host_tools.control").joinpath("static/dashboard.html") \
        .read_text(encoding="utf-8")


def _authorised(request: Request, token: str) -> bool:
    header = request.headers.get("authorization", "")
    given = header[7:] if header.lower().startswith("bearer ") else \
        request.query_params.get("token", "")
    return secrets.compare_digest(given.encode(), token.encode())


def create_app(controller: Controller, *, token: str | None = None,
               scenarios: ScenarioManager | None = None,
               closing: threading.Event | None = None) -> FastAPI:
    """The application for ``controller``; ``closing`` ends live streams when set."""
    app = FastAPI(title="intrapump control", version="1",
                  description="Drive a running virtual pump: faults, clock, power, scenarios.")
    scenarios = scenarios or ScenarioManager(controller)
    closing = closing or threading.Event()
    app.state.controller = controller
    app.state.scenarios = scenarios

    @app.middleware("http")
    async def check_token(request: Request, call_next: Any) -> Response:
        if token and request.url.path not in PUBLIC_PATHS and not _authorised(request, token):
            return JSONResponse({"detail": "a bearer token is needed (Authorization: Bearer "
                                           "TOKEN); the one printed by pumpsim serve"},
                                status_code=401)
        return await call_next(request)

    @app.exception_handler(ControlError)
    async def control_error(request: Request, exc: ControlError) -> JSONResponse:
        log.warning("control refused %s %s (%d): %s", request.method, request.url.path,
                    exc.status, exc.message)
        return JSONResponse({"detail": exc.message}, status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = jsonable_encoder(exc.errors())
        log.warning("control refused %s %s (422): %s", request.method, request.url.path, detail)
        return JSONResponse({"detail": detail}, status_code=422)

    _read_routes(app, controller, closing)
    _action_routes(app, controller, scenarios)
    _scenario_routes(app, scenarios)
    return app


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


async def _stream(request: Request, controller: Controller, since: int, interval_s: float,
                  closing: threading.Event) -> AsyncIterator[str]:
    """Status whenever it changed and each new log entry, every ``interval_s`` seconds."""
    last = ""
    generation = None
    while not closing.is_set() and not await request.is_disconnected():
        status = await anyio.to_thread.run_sync(controller.status)
        if generation is not None and status["generation"] != generation:
            since = 0  # a reset: the log starts again
            yield _sse("reset", {"generation": status["generation"]})
        generation = status["generation"]
        text = json.dumps(status, separators=(",", ":"), sort_keys=True)
        if text != last:
            last = text
            yield f"event: status\ndata: {text}\n\n"
        page = await anyio.to_thread.run_sync(controller.events, since, 200)
        for item in page["events"]:
            yield _sse("log", item)
        since = page["next"]
        if len(page["events"]) < 200:
            await asyncio.sleep(interval_s)


def _read_routes(app: FastAPI, controller: Controller, closing: threading.Event) -> None:
    """The dashboard page, status, events and the live stream."""
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def dashboard() -> str:
        return dashboard_html()

    @app.get("/api/status", summary="Pump status, truth ledger, link statistics, clock")
    def status() -> dict[str, Any]:
        return controller.status()

    @app.get("/api/events", summary="The pump's event log from index `since` on")
    def events(since: int = Query(0, ge=0), limit: int = Query(200, ge=1, le=1000)) \
            -> dict[str, Any]:
        return controller.events(since, limit)

    @app.get("/api/stream", summary="Live status and event log (server-sent events)")
    async def stream(request: Request, since: int = Query(0, ge=0),
                     interval_ms: int = Query(500, ge=100, le=60_000)) -> StreamingResponse:
        return StreamingResponse(_stream(request, controller, since, interval_ms / 1000,
                                         closing), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"})


def _action_routes(app: FastAPI, controller: Controller, scenarios: ScenarioManager) -> None:
    """Faults, clock, power cycle and reset."""
    @app.get("/api/faults", summary="Every model and link fault, with parameters and state")
    def faults() -> dict[str, Any]:
        return controller.faults()

    @app.post("/api/faults", summary="Switch a fault on")
    def add_fault(request: FaultRequest) -> dict[str, Any]:
        return controller.add_fault(request.name, request.params)

    @app.delete("/api/faults/{name}", summary="Switch a fault off")
    def clear_fault(name: str) -> dict[str, Any]:
        return controller.clear_fault(name)

    @app.post("/api/clock", summary="Advance pump time by ms, pause, resume, or set the warp")
    def clock(request: ClockRequest) -> dict[str, Any]:
        return controller.clock(request.action, request.ms, request.warp)

    @app.post("/api/power-cycle", summary="Power loss and restart from the state file")
    def power_cycle() -> dict[str, Any]:
        return controller.power_cycle()

    @app.post("/api/reset", summary="A fresh pump (needs pumpsim serve --allow-reset)")
    def reset() -> dict[str, Any]:
        scenarios.cancel()
        return controller.reset()


def _scenario_routes(app: FastAPI, scenarios: ScenarioManager) -> None:
    """Start, follow and cancel scenarios."""
    @app.get("/api/scenario", summary="The running (or last) scenario's progress")
    def scenario_report() -> dict[str, Any]:
        return {"scenario": scenarios.report()}

    @app.post("/api/scenario", summary="Run a scenario (its YAML text as the body)")
    def scenario_start(text: str = Body(..., media_type="text/plain")) -> dict[str, Any]:
        try:
            parsed = parse_scenario(text)
        except ScenarioError as exc:
            raise ControlError(400, f"scenario: {exc}") from None
        return {"scenario": scenarios.start(parsed).report()}

    @app.delete("/api/scenario", summary="Cancel the running scenario")
    def scenario_cancel() -> dict[str, Any]:
        scenarios.cancel()
        return {"scenario": scenarios.report()}
