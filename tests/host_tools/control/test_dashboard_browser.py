"""The dashboard in a real headless Chromium (Debian's chromium package, driven by playwright).

Skipped with the reason when playwright or the browser is missing. A screenshot of the page is
kept in test-artifacts/dashboard.png.
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from host_tools.control.address import bind
from host_tools.control.server import ControlServer
from tests.host_tools.control.conftest import Controlled, close_controlled, make_controlled, \
    program

ARTIFACTS = Path(__file__).resolve().parents[3] / "test-artifacts"


def _chromium() -> str | None:
    for candidate in (os.environ.get("INTRAPUMP_CHROMIUM"), "chromium", "chromium-browser"):
        if candidate and (path := shutil.which(candidate)):
            return path
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install -e .[test])")
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium: install Debian's chromium package (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def served() -> Iterator[tuple[Controlled, ControlServer]]:
    c = make_controlled()
    program(c, rate_nl_per_day=2_000_000)
    server = ControlServer(c.controller, bind("127.0.0.1:0")).start()
    yield c, server
    server.stop()
    close_controlled(c)


@pytest.fixture
def page(browser, served):  # type: ignore[no-untyped-def]
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.set_default_timeout(10_000)
    page.goto(served[1].url)
    page.get_by_test_id("fault-motor_stall").wait_for()
    page.wait_for_function("document.querySelector('[data-testid=state]').textContent !== '–'")
    yield page
    page.close()


def test_clicking_a_fault_switch_raises_its_alarm(page, served) -> None:
    c, _ = served
    page.get_by_test_id("fault-motor_stall").check()
    page.locator("[data-alarm=MOTOR_STALL]").wait_for()
    assert "two-tone" in page.locator("[data-alarm=MOTOR_STALL]").inner_text()
    assert page.get_by_test_id("state").inner_text() == "FAULT"
    assert c.host.pump.state.name == "FAULT"
    page.get_by_test_id("fault-motor_stall").uncheck()
    page.locator("[data-alarm=MOTOR_STALL]").wait_for(state="detached")
    assert c.host.pump.state.name == "STOPPED"


def test_advancing_the_clock_drains_the_reservoir(page, served) -> None:
    assert page.get_by_test_id("reservoir").inner_text() == "20.000 mL"
    page.get_by_test_id("advance-1d").click()
    page.wait_for_function(
        "document.querySelector('[data-testid=reservoir]').textContent === '18.000 mL'")
    assert served[0].host.pump.reservoir_nl == 18_000_000
    page.get_by_test_id("log").get_by_text("STATE").first.wait_for()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000


def test_a_refused_action_shows_the_servers_message(page, served) -> None:
    before = served[0].host.clock.state()
    page.locator("#warp").fill("0")
    page.locator("#set-warp").click()
    page.get_by_test_id("message").get_by_text("warp must be a number in").wait_for()
    assert served[0].host.clock.state() == before  # refused: nothing changed
