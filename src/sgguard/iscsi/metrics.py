"""Prometheus metrics of the iSCSI server (prometheus_client).

Owns the metric families an operator scrapes: commands, bytes moved, errors
(non-GOOD status) and latency histograms per target and LUN, refused commands,
logins and login failures, live sessions and connections. Each server gets its
own `CollectorRegistry`, so several servers (tests) never collide.
"""

from __future__ import annotations

import bisect
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily

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


def _le(bound: float) -> str:
    """A bucket bound as Prometheus prints it (`+Inf`, `0.0005`, `1.0`)."""
    return "+Inf" if bound == float("inf") else repr(float(bound))


class _LunStats:
    """Plain counters for one (target, LUN), updated on the event loop (cheap: no
    locks, no label lookups) and read by the collector when Prometheus scrapes."""

    __slots__ = ("buckets", "commands", "errors", "latency_sum", "read_bytes", "write_bytes")

    def __init__(self) -> None:
        self.commands = 0
        self.errors = 0
        self.read_bytes = 0
        self.write_bytes = 0
        self.latency_sum = 0.0
        self.buckets = [0] * (len(_LATENCY_BUCKETS) + 1)


class _LunCollector:
    """Exports the per-LUN statistics as Prometheus families."""

    def __init__(self, stats: dict[tuple[str, int], _LunStats]) -> None:
        self.stats = stats

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Any:
        labels = ["target", "lun"]
        commands = CounterMetricFamily(
            "sgguard_iscsi_commands", "SCSI commands completed", labels=labels
        )
        errors = CounterMetricFamily(
            "sgguard_iscsi_command_errors",
            "SCSI commands completed with a status other than GOOD",
            labels=labels,
        )
        rb = CounterMetricFamily("sgguard_iscsi_read_bytes", "Bytes sent in Data-In", labels=labels)
        wb = CounterMetricFamily(
            "sgguard_iscsi_write_bytes", "Bytes received as data-out", labels=labels
        )
        lat = HistogramMetricFamily(
            "sgguard_iscsi_command_latency_seconds",
            "Time from a command's data being complete to its status",
            labels=labels,
        )
        for (target, lun), st in list(self.stats.items()):
            lab = [target, str(lun)]
            commands.add_metric(lab, st.commands)
            errors.add_metric(lab, st.errors)
            rb.add_metric(lab, st.read_bytes)
            wb.add_metric(lab, st.write_bytes)
            acc = 0
            buckets = []
            for bound, n in zip((*_LATENCY_BUCKETS, float("inf")), st.buckets, strict=True):
                acc += n
                buckets.append((_le(bound), acc))
            lat.add_metric(lab, buckets, st.latency_sum)
        yield from (commands, errors, rb, wb, lat)


class ServerMetrics:
    """The metric families; `observe_command` is called once per finished command."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._stats: dict[tuple[str, int], _LunStats] = {}
        self.registry.register(_LunCollector(self._stats))
        self.refused = Counter(
            "sgguard_iscsi_refused_commands",
            "Commands a logical unit refused by policy",
            ("target", "lun"),
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
        self._server: Any = None

    def observe_command(
        self, target: str, lun: int, *, seconds: float, read: int, written: int, error: bool
    ) -> None:
        st = self._stats.get((target, lun))
        if st is None:
            st = self._stats[(target, lun)] = _LunStats()
        st.commands += 1
        if error:
            st.errors += 1
        st.read_bytes += read
        st.write_bytes += written
        st.latency_sum += seconds
        st.buckets[bisect.bisect_left(_LATENCY_BUCKETS, seconds)] += 1

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
