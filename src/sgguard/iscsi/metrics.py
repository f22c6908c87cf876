"""Prometheus metrics of the iSCSI server (prometheus_client).

Owns the metric families an operator scrapes: commands, bytes moved, errors
(non-GOOD status) and latency histograms per target and LUN, refused commands,
logins and login failures, live sessions and connections. Each server gets its
own `CollectorRegistry`, so several servers (tests) never collide.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

__all__ = ["ServerMetrics"]

_LATENCY_BUCKETS = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


class ServerMetrics:
    """The metric families; `observe_command` is called once per finished command."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("target", "lun")
        self.commands = Counter(
            "sgguard_iscsi_commands", "SCSI commands completed", labels, registry=self.registry
        )
        self.errors = Counter(
            "sgguard_iscsi_command_errors",
            "SCSI commands completed with a status other than GOOD",
            labels,
            registry=self.registry,
        )
        self.read_bytes = Counter(
            "sgguard_iscsi_read_bytes", "Bytes sent in Data-In", labels, registry=self.registry
        )
        self.write_bytes = Counter(
            "sgguard_iscsi_write_bytes",
            "Bytes received as data-out",
            labels,
            registry=self.registry,
        )
        self.latency = Histogram(
            "sgguard_iscsi_command_latency_seconds",
            "Time from a command's data being complete to its status",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.refused = Counter(
            "sgguard_iscsi_refused_commands",
            "Commands a logical unit refused by policy",
            labels,
            registry=self.registry,
        )
        self.logins = Counter(
            "sgguard_iscsi_logins", "Successful logins", ("kind",), registry=self.registry
        )
        self.login_failures = Counter(
            "sgguard_iscsi_login_failures", "Failed logins", registry=self.registry
        )
        self.sessions = Gauge("sgguard_iscsi_sessions", "Live sessions", registry=self.registry)
        self.connections = Gauge(
            "sgguard_iscsi_connections", "Open TCP connections", registry=self.registry
        )
        self.protocol_errors = Counter(
            "sgguard_iscsi_protocol_errors",
            "Connections closed for a protocol violation",
            registry=self.registry,
        )
        self._children: dict[tuple[str, int], tuple[Any, Any, Any, Any, Any]] = {}
        self._server: Any = None

    def _lun(self, target: str, lun: int) -> tuple[Any, Any, Any, Any, Any]:
        key = (target, lun)
        c = self._children.get(key)
        if c is None:
            lab = (target, str(lun))
            c = (
                self.commands.labels(*lab),
                self.errors.labels(*lab),
                self.read_bytes.labels(*lab),
                self.write_bytes.labels(*lab),
                self.latency.labels(*lab),
            )
            self._children[key] = c
        return c

    def observe_command(
        self, target: str, lun: int, *, seconds: float, read: int, written: int, error: bool
    ) -> None:
        commands, errors, rb, wb, latency = self._lun(target, lun)
        commands.inc()
        if error:
            errors.inc()
        if read:
            rb.inc(read)
        if written:
            wb.inc(written)
        latency.observe(seconds)

    def serve(self, host: str, port: int) -> tuple[str, int]:
        """Start the HTTP endpoint (a daemon thread); returns the bound address."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        addr = server.server_address
        return str(addr[0]), int(addr[1])

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
