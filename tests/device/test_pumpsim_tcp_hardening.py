"""pumpsim over TCP: stops on SIGTERM whatever a client does; never serves the public
development keys beyond loopback unless told to."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest

from host_tools.pumpsim import main
from host_tools.simprocess import PumpsimProcess
from protocol import FrameKind, encode_frame
from protocol import MessageType as MT


def _address(device: str) -> tuple[str, int]:
    host, _, port = device.split("://", 1)[1].rpartition(":")
    return ("127.0.0.1" if host == "0.0.0.0" else host), int(port)


def _identify(device: str) -> None:
    """One IDENTIFY round trip: pumpsim is serving (its signal handlers are in place)."""
    with socket.create_connection(_address(device), timeout=10) as sock:
        sock.sendall(encode_frame(MT.IDENTIFY, None, seq=1, flags=FrameKind.REQUEST))
        assert sock.recv(4096)


def test_sigterm_is_honoured_while_a_client_never_reads(tmp_path: Path) -> None:
    sim = PumpsimProcess(["--url", "tcp-listen://127.0.0.1:0"], tmp_path / "sim.log")
    _identify(sim.device)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(_address(sim.device))
    sock.settimeout(1.0)
    request = b"".join(encode_frame(MT.IDENTIFY, None, seq=i, flags=FrameKind.REQUEST)
                       for i in range(2000))
    try:
        for _ in range(200):  # answers pile up unread until the pump's writes block
            sock.sendall(request)
    except OSError:
        pass
    code = sim.stop(timeout_s=5)  # killed (code -9) if it did not stop
    sock.close()
    assert code == 0, sim.log()[-2000:]


def test_remote_address_with_development_keys_is_refused(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["serve", "--url", "tcp-listen://0.0.0.0:0"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--allow-remote-dev-keys" in err and "development keys" in err


def test_remote_address_allowed_when_said_so(tmp_path: Path) -> None:
    with PumpsimProcess(["--url", "tcp-listen://0.0.0.0:0", "--allow-remote-dev-keys"],
                        tmp_path / "sim.log") as sim:
        _identify(sim.device)
        assert sim.stop() == 0


def test_empty_host_means_loopback(tmp_path: Path) -> None:
    with PumpsimProcess(["--url", "tcp-listen://:0"], tmp_path / "sim.log") as sim:
        assert sim.device.startswith("socket://127.0.0.1:")
        _identify(sim.device)
        assert sim.stop() == 0
