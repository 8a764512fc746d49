"""/metrics in the Prometheus text format, written by prometheus_client.

What a key sees: the worker's state (what /healthz shows anyone) for every key; the job
counts cover every key's jobs, so only an admin key (SHOTSMITH_ADMIN_KEYS) sees them,
or anyone when auth is off (then there is one owner). A fresh registry per scrape: the
numbers are read from the backend's health, not kept in process-wide counters, so several
server processes on one database all report the same counts.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from shotsmith.jobs import STATUSES


class BackendCollector(Collector):
    """One scrape's worth of gauges from `JobBackend.health()`."""

    def __init__(self, state: dict, *, every_key: bool):
        self.state = state
        self.every_key = every_key

    def collect(self):
        state = self.state
        if self.every_key:
            counts = state.get("jobs", {})
            jobs = GaugeMetricFamily("shotsmith_jobs", "Jobs by status (all keys).", labels=["status"])
            for status in STATUSES:
                jobs.add_metric([status], counts.get(status, 0))
            yield jobs
        worker = state.get("worker", {})
        yield GaugeMetricFamily("shotsmith_worker_ready", "1 when the local worker can run jobs.",
                                value=int(bool(worker.get("ready"))))
        yield GaugeMetricFamily("shotsmith_models_loaded", "Pipelines kept in memory.",
                                value=len(state.get("models_loaded", [])))
        if "remote" in worker:  # serve --queue: the workers on other processes/machines
            remote = worker["remote"]
            yield GaugeMetricFamily("shotsmith_queue_workers", "Queue workers answering the server.",
                                    value=len(remote))
            served: dict[str, int] = {}
            for models in remote.values():
                for model in models:
                    served[model] = served.get(model, 0) + 1
            per_model = GaugeMetricFamily("shotsmith_queue_model_workers", "Queue workers serving each model.",
                                          labels=["model"])
            for model, count in sorted(served.items()):
                per_model.add_metric([model], count)
            yield per_model


def render(state: dict, *, every_key: bool) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BackendCollector(state, every_key=every_key))
    return generate_latest(registry), CONTENT_TYPE_LATEST
