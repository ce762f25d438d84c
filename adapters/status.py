"""The health and metrics endpoints of `babeldesk run`, for Docker, Kubernetes and Prometheus.

GET /healthz answers 200 while babeldesk is serving and 503 while it starts or stops, so an
orchestrator sends no traffic to a replica that is going away; its "embedding" field says how
far the knowledge's embedding got ({"done": n, "total": m}, "complete" or "off"), which does
not hold answers back. GET /metrics is Prometheus' text format.
"""

from __future__ import annotations

import logging

from aiohttp import web

from bot.metrics import CONTENT_TYPE
from bot.pipeline import Pipeline

log = logging.getLogger(__name__)


class StatusServer:
    def __init__(self, pipeline: Pipeline | None, host: str, port: int):
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
        from . import listen

        self._runner, self.port = await listen(app, self.host, self.port, "server.port")
        log.info("health on http://%s:%d/healthz, metrics on /metrics", self.host, self.port)

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()
            self._runner = None

    async def healthz(self, request: web.Request) -> web.Response:
        pipeline = self.pipeline
        body = {"status": self.state, "platforms": self.platforms,
                "answers_in_progress": pipeline.in_progress if pipeline else 0,
                "queue_length": pipeline.model.waiting if pipeline else 0,
                # Answers go on while a file is slow to read; edits wait for it.
                "knowledge": (pipeline.knowledge.stale() or "current") if pipeline
                else "loading",
                # Passages are found by their words until they are embedded, then by meaning.
                "embedding": pipeline.knowledge.embedding_status() if pipeline else "loading"}
        return web.json_response(body, status=200 if self.state == "serving" else 503)

    async def metrics(self, request: web.Request) -> web.Response:
        if self.pipeline is None:
            return web.json_response({"status": self.state}, status=503)
        response = web.Response(body=self.pipeline.metrics.render())
        response.headers["Content-Type"] = CONTENT_TYPE
        return response
