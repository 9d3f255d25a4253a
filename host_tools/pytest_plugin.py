"""pytest plugin for intrapump (registered through the ``pytest11`` entry point as ``intrapump``).

Fixtures for testing programmer software against a pump, virtual by default::

    def test_my_programmer_sets_the_schedule(pump_client, virtual_pump):
        my_programmer.apply(pump_client, "morning-peak.yaml")
        assert virtual_pump.pump.schedule is not None

* ``virtual_pump`` -- a running virtual pump (model, SQLite state, device thread) on a fresh
  ``virtual://`` link: ``.url``, ``.pump`` (the model), ``.clock`` (a ManualClock: call
  ``.advance(ms)`` to run pump time), ``.device``, ``.keys``, ``.restart()`` (power loss).
  Closed after the test. Configured by the fixtures below or by the marker
  ``@pytest.mark.intrapump(profile="ip40", faults="drop=0.01,seed=3", state_path=...)``.
* ``pump_client`` -- a connected clinician :class:`~host_tools.client.PumpClient` to
  ``pump_url``; ``patient_client`` -- the same for the patient role.
* ``pump_url`` -- ``--pump-url`` when given (a pty, ``tcp://HOST:PORT``, a serial port...),
  else the virtual pump's URL. Tests that need the model (``virtual_pump``) are skipped when
  the option points at another pump.
* ``pump_factory`` -- ``pump_factory(**options)`` starts further virtual pumps (same options as
  :func:`firmware_sim.device.start_virtual_pump`); all are closed after the test.
* ``pump_control`` -- a :class:`~host_tools.control.client.ControlClient` to the pump's
  control API (faults, clock, power cycle, reset). With ``--pump-control URL`` (beside
  ``--pump-url``) it drives that remote ``pumpsim serve --control ... --allow-reset``, and the
  plugin resets the remote pump before every test that uses ``pump_url``, ``pump_client`` or
  ``pump_control``, so tests no longer share its state (token: ``$PUMPSIM_CONTROL_TOKEN``).
  Without it a controlled virtual pump is started for the test, and ``pump_url`` points at it.
* Overridable option fixtures (the way pytest-embedded does it): ``pump_profile`` ("ip20"),
  ``pump_keys`` (None = the public development keys), ``pump_faults`` (None), and
  ``pump_client_options`` (``{"timeout_s": 2.0, "retries": 3}``).

* ``virtual_pumps`` -- a list of ``pump_count`` running virtual pumps (``--pump-count N``, the
  marker's ``count=N``, or override ``pump_count``), each with its own link, state and clock.
* ``pump_strategies`` -- the strategies below bound to the profile under test (the marker's
  ``profile=`` or the overridden ``pump_profile``): ``pump_strategies.valid_steps(drug=...,
  concentration_ug_per_ml=...)``, ``pump_strategies.patient_settings(drug=..., steps=...)``.

Companion plugins: ``host_tools.trace`` (the ``requirement`` marker and ``--trace-dir``) and
``host_tools.log_digest`` (one readable digest of a failed test's long captured log).

Hypothesis strategies for schedules, programs, frames and fault plans are re-exported from
:mod:`host_tools.strategies` (``from host_tools.pytest_plugin import valid_steps``) when
hypothesis is installed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported lazily: pytest loads this plugin in every session
    from firmware_sim.device import VirtualPump
    from host_tools.client import PumpClient
    from host_tools.control.client import ControlClient
    from host_tools.control.local import LocalControlledPump

MARKER = "intrapump"
STRATEGIES = ("drugs", "fault_plans", "frames", "invalid_steps", "message_fields",
              "mutated_frames", "patient_settings", "request_frames", "valid_steps")


def __getattr__(name: str) -> Any:
    """The hypothesis strategies of host_tools.strategies, imported on first use (they need
    hypothesis, a test dependency; the plugin itself loads in every pytest session)."""
    if name in STRATEGIES:
        from host_tools import strategies
        return getattr(strategies, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("intrapump", "intrapump pump under test")
    group.addoption("--pump-url", action="store", default=None, metavar="URL",
                    help="run pump_client tests against this pump (pty path, tcp://HOST:PORT, "
                         "serial port...) instead of a fresh virtual pump per test")
    group.addoption("--pump-count", action="store", type=int, default=1, metavar="N",
                    help="number of virtual pumps the virtual_pumps fixture starts (default 1)")
    group.addoption("--pump-control", action="store", default=None, metavar="URL",
                    help="control URL of the --pump-url pump (pumpsim serve --control ... "
                         "--allow-reset): it is reset before each test that uses it")
    # declared here, not in the conformance kit's conftest: `pytest --pyargs
    # host_tools.conformance --pump-keys FILE` parses options before that conftest is loaded
    group.addoption("--pump-keys", action="store", default=None, metavar="FILE",
                    help="key file of the pump under test (the conformance kit, "
                         "host_tools.conformance); default: the development keys")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{MARKER}(profile=..., faults=..., state_path=..., **options): options of "
                   "the virtual_pump fixture for this test (see start_virtual_pump)")


@pytest.fixture
def pump_profile() -> str:
    """Device profile of the virtual pump ("ip20" or "ip40", or a TOML path)."""
    return "ip20"


@pytest.fixture
def pump_keys() -> Any:
    """Role keys of the virtual pump ({Role: bytes}); None = the public development keys."""
    return None


@pytest.fixture
def pump_faults() -> Any:
    """Faults on what the virtual pump sends (a spec like "drop=0.01,seed=3" or a FaultPlan)."""
    return None


@pytest.fixture
def pump_client_options() -> dict[str, Any]:
    """Keyword options of the PumpClient fixtures (timeout_s, retries, link options)."""
    return {"timeout_s": 2.0, "retries": 3}


@pytest.fixture
def pump_factory(pump_profile: str, pump_keys: Any,
                 pump_faults: Any) -> Iterator[Callable[..., "VirtualPump"]]:
    """Start virtual pumps: ``pump_factory(**options)`` -> VirtualPump; closed after the test."""
    from firmware_sim.device import start_virtual_pump

    started: list[VirtualPump] = []

    def factory(**options: Any) -> "VirtualPump":
        options.setdefault("profile", pump_profile)
        options.setdefault("keys", pump_keys)
        options.setdefault("faults", pump_faults)
        vp = start_virtual_pump(**options)
        started.append(vp)
        return vp

    yield factory
    for vp in reversed(started):
        vp.close()


@pytest.fixture
def virtual_pump(request: pytest.FixtureRequest,
                 pump_factory: Callable[..., "VirtualPump"]) -> "VirtualPump":
    """A running virtual pump on a fresh virtual link (model, clock and device reachable)."""
    if request.config.getoption("--pump-url"):
        pytest.skip("needs the virtual pump's model; --pump-url points at another pump")
    marker = request.node.get_closest_marker(MARKER)
    options = dict(marker.kwargs) if marker is not None else {}
    return pump_factory(**options)


@pytest.fixture
def pump_url(request: pytest.FixtureRequest) -> str:
    """URL of the pump under test: --pump-url (reset first when --pump-control is given),
    else the controlled virtual pump of ``pump_control`` when the test uses it, else a fresh
    virtual pump's URL."""
    url = request.config.getoption("--pump-url")
    if url:
        if request.config.getoption("--pump-control"):
            request.getfixturevalue("pump_control")  # resets the remote pump
        return url
    if "pump_control" in request.fixturenames:
        return request.getfixturevalue("_local_controlled_pump").url
    return request.getfixturevalue("virtual_pump").url


@pytest.fixture
def _local_controlled_pump(pump_profile: str) -> Iterator["LocalControlledPump"]:
    """A controlled virtual pump with its control server, for this test."""
    from host_tools.control.local import LocalControlledPump
    with LocalControlledPump(pump_profile) as pump:
        yield pump


@pytest.fixture
def pump_control(request: pytest.FixtureRequest) -> Iterator["ControlClient"]:
    """A ControlClient to the pump under test: --pump-control's (reset now, before the
    test), else a controlled virtual pump's (the one ``pump_url`` then points at)."""
    import os

    from host_tools.control.client import ControlClient, ControlRefused
    url = request.config.getoption("--pump-control")
    if url:
        if not request.config.getoption("--pump-url"):
            raise pytest.UsageError("--pump-control goes with --pump-url (the same pump)")
        client = ControlClient(url, token=os.environ.get("PUMPSIM_CONTROL_TOKEN"))
        try:
            client.reset()
        except ControlRefused as exc:
            client.close()
            pytest.fail(f"cannot reset the pump under test through {url}: {exc.message}")
    else:
        client = ControlClient(request.getfixturevalue("_local_controlled_pump").control)
    with client:
        yield client


def _client(url: str, role: str, keys: Any, options: dict[str, Any]) -> "PumpClient":
    from host_tools.client import PumpClient
    from protocol import Role

    r = Role[role.upper()]
    key = keys.get(r) if keys else None
    return PumpClient(url, role=r, key=key, **options)


@pytest.fixture
def pump_client(pump_url: str, pump_keys: Any,
                pump_client_options: dict[str, Any]) -> Iterator["PumpClient"]:
    """A connected clinician PumpClient to the pump under test; closed after the test."""
    with _client(pump_url, "clinician", pump_keys, pump_client_options) as client:
        yield client


@pytest.fixture
def patient_client(pump_url: str, pump_keys: Any,
                   pump_client_options: dict[str, Any]) -> Iterator["PumpClient"]:
    """A connected patient PumpClient; usable together with pump_client on the virtual pump
    (each host has its own session, as a clinician programmer and a patient controller)."""
    with _client(pump_url, "patient", pump_keys, pump_client_options) as client:
        yield client


# --- several pumps, and strategies for the profile under test --------------------------------

@pytest.fixture
def pump_count(request: pytest.FixtureRequest) -> int:
    """How many pumps ``virtual_pumps`` starts: ``--pump-count N`` (default 1); override this
    fixture, or mark the test ``@pytest.mark.intrapump(count=N)``, for a fixed number."""
    marker = request.node.get_closest_marker(MARKER)
    if marker is not None and "count" in marker.kwargs:
        return int(marker.kwargs["count"])
    return int(request.config.getoption("--pump-count"))


@pytest.fixture
def virtual_pumps(request: pytest.FixtureRequest, pump_count: int,
                  pump_factory: Callable[..., "VirtualPump"]) -> list["VirtualPump"]:
    """``pump_count`` running virtual pumps, each on its own link with its own state and clock
    (options from the ``intrapump`` marker, as for ``virtual_pump``); closed after the test."""
    if request.config.getoption("--pump-url"):
        pytest.skip("needs virtual pumps' models; --pump-url points at another pump")
    if pump_count < 1:
        raise pytest.UsageError(f"--pump-count must be at least 1, got {pump_count}")
    marker = request.node.get_closest_marker(MARKER)
    options = {k: v for k, v in (marker.kwargs if marker is not None else {}).items()
               if k != "count"}
    return [pump_factory(**options) for _ in range(pump_count)]


class ProfileStrategies:
    """The strategies of :mod:`host_tools.strategies` bound to one device profile (the one the
    test's pumps run), e.g. ``pump_strategies.valid_steps(drug="morphine",
    concentration_ug_per_ml=10_000)``."""

    def __init__(self, profile: Any) -> None:
        from firmware_sim import Profile, load_profile
        self.profile = profile if isinstance(profile, Profile) else load_profile(profile)

    def __getattr__(self, name: str) -> Any:
        if name not in ("drugs", "valid_steps", "invalid_steps", "patient_settings"):
            raise AttributeError(name)
        import functools
        from host_tools import strategies
        return functools.partial(getattr(strategies, name), self.profile)


@pytest.fixture
def pump_strategies(request: pytest.FixtureRequest, pump_profile: Any) -> ProfileStrategies:
    """Strategies drawing within the profile under test: the ``intrapump(profile=...)`` marker's,
    else the (possibly overridden) ``pump_profile`` fixture's."""
    marker = request.node.get_closest_marker(MARKER)
    profile = marker.kwargs.get("profile", pump_profile) if marker is not None else pump_profile
    return ProfileStrategies(profile)
