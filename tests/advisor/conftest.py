"""No advisor test reaches the network: a connection to anything but 127.0.0.1 fails the test."""

from __future__ import annotations

import socket

import pytest


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch):
    """Guard ``socket.connect``: only the local stub server (127.0.0.1) may be reached."""
    connect = socket.socket.connect

    def guarded(sock, address):
        assert address[0] == "127.0.0.1", f"a connection to {address} left the machine"
        return connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
