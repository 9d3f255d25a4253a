"""A small typed client for the control API of ``pumpsim serve --control``.

    with ControlClient("http://127.0.0.1:8765/") as ctl:
        ctl.add_fault("motor_stall")
        ctl.advance_clock(6 * 3_600_000)
        print(ctl.status()["pump"]["state"])

Every refusal raises :class:`ControlRefused` with the server's status code and message.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import httpx


class ControlRefused(Exception):
    """The control server refused a request (``status`` 4xx) or could not be reached
    (``status`` 0); ``message`` says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class StreamEvent:
    """One server-sent event: ``kind`` (status, log, reset) and its decoded ``data``."""

    kind: str
    data: Any


class ControlClient:
    """Client of one control server at ``url``; ``token`` for a server that needs one;
    ``timeout_s`` per request (seconds)."""

    def __init__(self, url: str, *, token: str | None = None, timeout_s: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.url = url.rstrip("/") + "/"
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout_s)

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ControlRefused(0, f"cannot reach the control server at {self.url}: "
                                    f"{exc}") from None
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text
            raise ControlRefused(response.status_code,
                                 detail if isinstance(detail, str) else json.dumps(detail))
        return response.json()

    # ------------------------------------------------------------------ reading
    def status(self) -> dict[str, Any]:
        """Pump status, truth ledger, link statistics, clock and faults in force."""
        return self._call("GET", "api/status")

    def events(self, since: int = 0, limit: int = 200) -> dict[str, Any]:
        """Event-log entries from index ``since``: {"events": [...], "next": N, ...}."""
        return self._call("GET", "api/events", params={"since": since, "limit": limit})

    def stream(self, since: int = 0, interval_ms: int = 500) -> Iterator[StreamEvent]:
        """The live stream (status whenever it changes, each new log entry), until closed."""
        params = {"since": since, "interval_ms": interval_ms}
        try:
            with self._http.stream("GET", "api/stream", params=params, timeout=None) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    raise ControlRefused(resp.status_code, resp.text)
                kind, data = "", ""
                for line in resp.iter_lines():
                    if line.startswith("event: "):
                        kind = line[7:]
                    elif line.startswith("data: "):
                        data = line[6:]
                    elif not line and kind:
                        yield StreamEvent(kind, json.loads(data))
                        kind, data = "", ""
        except httpx.HTTPError as exc:
            raise ControlRefused(0, f"stream from {self.url} ended: {exc}") from None

    # ------------------------------------------------------------------ faults
    def faults(self) -> list[dict[str, Any]]:
        """Every model and link fault with its parameters and whether it is on."""
        return self._call("GET", "api/faults")["faults"]

    def add_fault(self, name: str, **params: int | float) -> dict[str, Any]:
        """Switch fault ``name`` on with ``params`` (defaults for the others)."""
        return self._call("POST", "api/faults", json={"name": name, "params": params})

    def clear_fault(self, name: str) -> dict[str, Any]:
        """Switch fault ``name`` off."""
        return self._call("DELETE", f"api/faults/{name}")

    # ------------------------------------------------------------------ clock and power
    def advance_clock(self, ms: int) -> dict[str, Any]:
        """Move pump time forward by ``ms`` (the pump runs through it at once)."""
        return self._call("POST", "api/clock", json={"action": "advance", "ms": ms})

    def pause_clock(self) -> dict[str, Any]:
        """Stop pump time."""
        return self._call("POST", "api/clock", json={"action": "pause"})

    def resume_clock(self) -> dict[str, Any]:
        """Let pump time run again."""
        return self._call("POST", "api/clock", json={"action": "resume"})

    def set_warp(self, warp: float) -> dict[str, Any]:
        """Run pump time at ``warp`` simulated seconds per real second."""
        return self._call("POST", "api/clock", json={"action": "warp", "warp": warp})

    def power_cycle(self) -> dict[str, Any]:
        """Power loss and restart from the state file."""
        return self._call("POST", "api/power-cycle")

    def reset(self) -> dict[str, Any]:
        """A fresh pump (the server needs --allow-reset)."""
        return self._call("POST", "api/reset")

    # ------------------------------------------------------------------ scenarios
    def run_scenario(self, yaml_text: str) -> dict[str, Any]:
        """Start a scenario (its YAML text); its first report."""
        return self._call("POST", "api/scenario", content=yaml_text.encode("utf-8"),
                          headers={"Content-Type": "text/plain"})["scenario"]

    def scenario(self) -> dict[str, Any] | None:
        """The running (or last) scenario's report."""
        return self._call("GET", "api/scenario")["scenario"]

    def cancel_scenario(self) -> dict[str, Any] | None:
        """Cancel the running scenario."""
        return self._call("DELETE", "api/scenario")["scenario"]

    def close(self) -> None:
        """Close the HTTP connection."""
        self._http.close()

    def __enter__(self) -> "ControlClient":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
