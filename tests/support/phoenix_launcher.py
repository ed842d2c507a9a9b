"""Run `phoenix serve` with its OTLP gRPC collector bound to 127.0.0.1 instead of every interface.

Why: Phoenix binds its HTTP server to PHOENIX_HOST but hard-codes `[::]:PHOENIX_GRPC_PORT` for the
gRPC collector (phoenix/server/grpc_server.py, arize-phoenix 20.x). Tests on this machine must only
listen on loopback, so this shim rewrites wildcard gRPC addresses before handing over to Phoenix's
own entry point. Run it with the Phoenix venv's interpreter (it imports Phoenix and grpc from there):

    .phoenix/venv/bin/python tests/support/phoenix_launcher.py serve
"""

from __future__ import annotations

import sys
from pathlib import Path

# Python put this file's directory first on sys.path; our sibling phoenix.py would shadow the real package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import grpc.aio._server as _aio_server  # noqa: E402 - the class behind grpc.aio.server(); private but stable

_WILDCARDS = ("[::]:", "0.0.0.0:", ":")


def _loopback(address: str) -> str:
    for prefix in _WILDCARDS:
        if address.startswith(prefix):
            return "127.0.0.1:" + address[len(prefix) :]
    return address


def _patch() -> None:
    server_cls = _aio_server.Server
    insecure, secure = server_cls.add_insecure_port, server_cls.add_secure_port

    def add_insecure_port(self: object, address: str) -> int:
        return insecure(self, _loopback(address))

    def add_secure_port(self: object, address: str, credentials: object) -> int:
        return secure(self, _loopback(address), credentials)

    server_cls.add_insecure_port = add_insecure_port  # type: ignore[method-assign]
    server_cls.add_secure_port = add_secure_port  # type: ignore[method-assign]


def main() -> int:
    _patch()
    from phoenix.server.main import main as phoenix_main  # imported after the patch, from Phoenix's venv

    sys.argv = ["phoenix", *sys.argv[1:]]
    return phoenix_main() or 0


if __name__ == "__main__":
    sys.exit(main())
