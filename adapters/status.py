"""The health and metrics endpoints of `babeldesk run`, for Docker, Kubernetes and Prometheus.

GET /healthz answers 200 while babeldesk is serving and 503 while it starts or stops, so an
orchestrator sends no traffic to a replica that is going away. GET /metrics is Prometheus'
text format.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.errors import BabeldeskError
from bot.metrics import CONTENT_TYPE
from bot.pipeline import Pipeline

log = logging.getLogger(__name__)


class StatusServer:
    def __init__(self, pipeline: Pipeline, host: str, port: int):
        self.pipeline = pipeline
        self.host, self.port = host, port
        #: starting, serving or stopping
        self.state = "starting"
        #: platform name → connected / the line that says why it is not
        self.platforms: dict[str, str] = {}
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self.healthz)
        app.router.add_get("/metrics", self.metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        try:
            await site.start()
        except OSError as exc:
            await self._runner.cleanup()
            self._runner = None
            raise BabeldeskError(f"server.port: cannot listen on {self.host}:{self.port}: "
                                 f"{exc.strerror}") from None
        self.port = site._server.sockets[0].getsockname()[1]
        log.info("health on http://%s:%d/healthz, metrics on /metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        pipeline = self.pipeline
        body = {"status": self.state, "platforms": self.platforms,
                "answers_in_progress": pipeline.in_progress,
                "queue_length": pipeline.model.waiting}
        return web.json_response(body, status=200 if self.state == "serving" else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        response = web.Response(body=self.pipeline.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response
