"""A gRPC server on 127.0.0.1:0 that the test owning it starts and stops (the stub gateway and
the scripted ext_authz server share this lifecycle)."""

from __future__ import annotations

from collections.abc import Callable
from concurrent import futures

import grpc


class LoopbackGrpcServer:
    _server: grpc.Server | None = None
    port: int = 0

    def _start_server(
        self, register: Callable[[grpc.Server], None], workers: int, listen: str = "127.0.0.1:0"
    ) -> None:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
        register(server)
        self.port = server.add_insecure_port(listen)
        if self.port == 0:
            raise RuntimeError(f"{type(self).__name__} could not bind {listen}")
        server.start()
        self._server = server

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None).wait(timeout=5)
            self._server = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"
