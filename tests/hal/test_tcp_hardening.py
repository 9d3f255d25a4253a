"""The TCP pump end cannot be held by a client: writes time out, idle clients are dropped, a
second client is refused clearly, an empty host means loopback."""
from __future__ import annotations

import socket
import threading
import time

import hal
from hal.tcp import BUSY_LINE, TcpListenLink


def _connect(link: TcpListenLink) -> socket.socket:
    sock = socket.create_connection(link.bound_address)
    sock.settimeout(5)
    return sock


def _serve_until(link: TcpListenLink, done: threading.Event) -> threading.Thread:
    def loop() -> None:
        try:
            while not done.is_set() and not link.closed:
                link.read(4096)
        except hal.LinkClosed:
            pass
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def test_write_to_a_client_that_never_reads_times_out_and_drops_it() -> None:
    with TcpListenLink("127.0.0.1", 0, timeout=0.05, write_timeout=0.2) as link:
        sock = _connect(link)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"x")
        link.read(1)  # accepted and heard from
        finished = threading.Event()

        def write_a_lot() -> None:
            for _ in range(200):
                link.write(b"\x00" * 65536)
            finished.set()
        threading.Thread(target=write_a_lot, daemon=True).start()
        assert finished.wait(10), "a write blocked on a client that does not read"
        assert not link.connected and link.bytes_discarded > 0
        sock.close()


def test_second_client_is_refused_with_a_busy_line() -> None:
    done = threading.Event()
    with TcpListenLink("127.0.0.1", 0, timeout=0.05) as link:
        _serve_until(link, done)
        first = _connect(link)
        first.sendall(b"hello")
        time.sleep(0.2)
        second = _connect(link)
        got = b""
        while chunk := second.recv(100):
            got += chunk
        assert got == BUSY_LINE and link.refused_clients == 1 and link.connected
        first.close()
        second.close()
        done.set()


def test_a_client_that_left_does_not_block_the_next_one() -> None:
    done = threading.Event()
    with TcpListenLink("127.0.0.1", 0, timeout=0.05) as link:
        _serve_until(link, done)
        for _ in range(5):
            sock = _connect(link)
            sock.sendall(b"x")
            time.sleep(0.05)
            sock.close()
        assert link.refused_clients == 0
        done.set()


def test_idle_client_is_dropped_and_gives_way() -> None:
    done = threading.Event()
    with TcpListenLink("127.0.0.1", 0, timeout=0.05, idle_timeout=0.5, yield_after=0.2) as link:
        _serve_until(link, done)
        silent = _connect(link)
        time.sleep(0.3)  # silent longer than yield_after: a new client takes over
        newcomer = _connect(link)
        assert silent.recv(100) == b""  # closed by the pump end
        newcomer.sendall(b"x")
        assert link.refused_clients == 0
        time.sleep(1.0)  # the newcomer is now idle past idle_timeout
        assert newcomer.recv(100) == b"" and not link.connected
        done.set()


def test_empty_host_listens_on_loopback() -> None:
    with hal.open("tcp-listen://:0", end="pump") as link:
        assert link.bound_address[0] == "127.0.0.1"


def _chatter(sock: socket.socket, stop: threading.Event) -> None:
    """Keep sending junk (never silent long enough for yield_after)."""
    try:
        while not stop.is_set():
            sock.sendall(b"junk")
            time.sleep(0.02)
    except OSError:
        pass


def test_a_client_that_proves_no_key_gives_way_however_much_it_sends() -> None:
    done, stop = threading.Event(), threading.Event()
    with TcpListenLink("127.0.0.1", 0, timeout=0.05, yield_after=10, prove_within=0.3) as link:
        _serve_until(link, done)
        guesser = _connect(link)
        threading.Thread(target=_chatter, args=(guesser, stop), daemon=True).start()
        time.sleep(0.5)  # busy sending, but unproven past prove_within
        holder = _connect(link)
        holder.sendall(b"x")
        time.sleep(0.1)
        assert link.refused_clients == 0 and link.connections == 2
        stop.set()
        done.set()


def test_a_client_the_pump_vouched_for_keeps_the_connection() -> None:
    done, stop = threading.Event(), threading.Event()
    with TcpListenLink("127.0.0.1", 0, timeout=0.05, yield_after=10, prove_within=0.3) as link:
        _serve_until(link, done)
        holder = _connect(link)
        threading.Thread(target=_chatter, args=(holder, stop), daemon=True).start()
        time.sleep(0.1)
        link.vouch()  # the device saw it prove a key
        time.sleep(0.4)
        other = _connect(link)
        assert other.recv(100) == BUSY_LINE and link.refused_clients == 1
        stop.set()
        done.set()
