"""The asyncio shell around the sans-IO iSCSI core: sockets, threads, clocks, logs.

Owns `IscsiServer`: listening portals, one `asyncio.Protocol` per TCP connection
feeding `sgguard.iscsi.connection.Connection`, writes with `writelines` (data
segments go out as memoryviews, never copied), logical unit execution on a
thread pool (inline only when it cannot block: a memory backend, or a read
whose blocks the backend confirms are in the page cache with `try_read_nowait`),
back-pressure (reading pauses while a connection has too many commands in
flight or the socket's write buffer is full), a connection limit, a one-second
tick for login/NOP/partial-PDU timeouts, session and refusal logs (text or
JSON lines), Prometheus metrics, and a graceful shutdown: stop accepting, ask
initiators to log out (RFC 7143 11.9.1), let commands in flight finish within a
timeout, flush every logical unit.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import logging
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sgguard.iscsi.connection import (
    CommandReady,
    Connection,
    ConnectionClosed,
    PortalGroup,
    SessionEvent,
    Task,
)
from sgguard.iscsi.metrics import ServerMetrics
from sgguard.target.api import LogicalUnitProtocol, Response, Status

__all__ = ["IscsiServer", "JsonFormatter", "ServerLimits", "parse_address"]

log = logging.getLogger("sgguard.iscsi")

# SPC-4: HARDWARE ERROR, INTERNAL TARGET FAILURE (44/00), for a logical unit that raised.
_INTERNAL_FAILURE = bytes((0x70, 0, 0x04, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x44, 0, 0, 0, 0, 0))
# READ (10)/(12)/(16) (SBC-4 5.15-5.17): (LOGICAL BLOCK ADDRESS, TRANSFER LENGTH), CDB length
_READ_CDBS = {
    0x28: (struct.Struct(">2xIxH"), 10),
    0xA8: (struct.Struct(">2xII"), 12),
    0x88: (struct.Struct(">2xQI"), 16),
}
_INLINE_MAX = 256 * 1024


def parse_address(text: str, default_port: int = 3260) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or `host` -> (host, port); ValueError names the problem."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"address {text!r} has no host")
    if port_text:
        if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
            raise ValueError(f"address {text!r}: port {port_text!r} is not 0..65535")
        return host, int(port_text)
    return host, default_port


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and event fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            out.update(fields)
        return json.dumps(out, sort_keys=False)


@dataclass(frozen=True, slots=True)
class ServerLimits:
    max_connections: int = 64
    max_in_flight: int = 64  # per connection, before reading pauses
    workers: int = 8
    drain_timeout: float = 10.0
    partial_pdu_timeout: float = 30.0
    inline_writes: bool = True  # small page-cache writes on the loop (see _InlinePolicy)


_WRITES = {0x0A: 1, 0x2A: 1, 0xAA: 1, 0x8A: 1}  # WRITE 6/10/12/16: FUA is byte 1 bit 3
_INLINE_WRITE_SLOW = 0.005  # an inline write slower than this is a strike
_INLINE_WRITE_STRIKES = 3  # this many strikes within _INLINE_WRITE_WINDOW send writes to threads
_INLINE_WRITE_WINDOW = 0.5  # seconds
_INLINE_WRITE_BACKOFF = 1.0  # seconds of writes on threads
_INLINE_WRITE_MEMORY = 10.0  # within this long after a backoff, one strike backs off again


class _InlinePolicy:
    """Decides which commands run on the event loop instead of a worker thread.

    Inline: anything on a backend that never blocks (memory); reads whose blocks
    are in the page cache: offered to the unit's `execute_nowait`, which reads
    them once with RWF_NOWAIT or answers None (then a thread runs `execute`);
    for a unit without `execute_nowait`, reads the backend confirms are cached
    (`try_read_nowait`, a probe read before `execute` reads again);
    small writes without FUA while inline writes stay fast (page-cache writes):
    three taking longer than 5 ms within half a second (dirty-page throttling,
    write-through mode pages) send that unit's writes to threads for 1 s, and
    for 10 s after that a single slow write does. One slow write alone is
    usually the event loop being preempted on a busy machine (it measures
    wall time), not the disk: it must not cost a second of thread-pool writes.
    Everything else (and SYNCHRONIZE CACHE, FUA, large transfers) runs on the
    thread pool.
    """

    def __init__(self, inline_writes: bool = True) -> None:
        self.inline_writes = inline_writes
        self.write_slow_until: dict[int, float] = {}
        self.strikes: dict[int, list[float]] = {}
        self.backed_off: dict[int, float] = {}  # unit -> when its writes last went to threads
        # unit -> (unit, backend, blocking, block_size, execute_nowait): constants, looked up once
        self._units: dict[int, tuple[Any, Any, bool, int, Any]] = {}

    def inline(self, lu: LogicalUnitProtocol, cdb: bytes, data_out: int, now: float) -> Any:
        """What to call on the loop for this command, or None (a worker thread runs it).

        The callable takes (cdb, data_out, nexus) and returns the Response, or None
        when the command would block after all (then a thread runs `execute`).
        """
        try:
            info = self._units.get(id(lu))
            if info is None or info[0] is not lu:
                backend: Any = getattr(lu, "backend", None)
                if backend is None:
                    return None
                nowait = getattr(lu, "execute_nowait", None)
                info = (lu, backend, bool(backend.blocking), int(backend.block_size), nowait)
                self._units[id(lu)] = info
            if not info[2]:
                return lu.execute
            op = cdb[0]
            if op in _WRITES:
                if not self.inline_writes or (op != 0x0A and cdb[1] & 0x08):
                    return None  # FUA: fdatasync
                if 0 < data_out <= _INLINE_MAX and self.write_slow_until.get(id(lu), 0.0) <= now:
                    return lu.execute
                return None
            layout = _READ_CDBS.get(op)
            if layout is None or len(cdb) < layout[1]:
                return None
            lba, blocks = layout[0].unpack_from(cdb)
            if not blocks or blocks * info[3] > _INLINE_MAX:
                return None
            if info[4] is not None:
                return info[4]  # reads the cached blocks once, or answers None
            if info[1].try_read_nowait(lba, blocks) is None:
                return None
            return lu.execute
        except Exception:
            return None

    def observed(self, lu: LogicalUnitProtocol, cdb: bytes, seconds: float, now: float) -> None:
        if seconds <= _INLINE_WRITE_SLOW or cdb[0] not in _WRITES:
            return
        key = id(lu)
        strikes = [t for t in self.strikes.get(key, ()) if now - t < _INLINE_WRITE_WINDOW]
        strikes.append(now)
        last = self.backed_off.get(key)
        if len(strikes) >= _INLINE_WRITE_STRIKES or (
            last is not None and now - last < _INLINE_WRITE_MEMORY
        ):
            self.write_slow_until[key] = now + _INLINE_WRITE_BACKOFF
            self.backed_off[key] = now
            strikes = []
        self.strikes[key] = strikes


class _Protocol(asyncio.Protocol):
    def __init__(self, server: IscsiServer) -> None:
        self.server = server
        self.loop = server.loop
        self.transport: asyncio.Transport | None = None
        self.conn: Connection | None = None
        self.peer = ""
        self.closing = False
        self.write_paused = False
        self.read_paused = False
        self.scheduled = False
        self.partial_since: float | None = None
        self.logged_closed = False

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio's and uvloop's TCP transports both qualify (uvloop's are not subclasses)
        self.transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        local = transport.get_extra_info("sockname")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        srv = self.server
        if len(srv.protocols) >= srv.limits.max_connections or srv.stopping:
            log.warning(
                "connection from %s refused: %s",
                self.peer,
                "shutting down" if srv.stopping else "connection limit reached",
                extra={"fields": {"event": "connection-refused", "peer": self.peer}},
            )
            self.transport.abort()
            return
        srv.protocols.add(self)
        srv.metrics.connections.inc()
        self.conn = Connection(
            srv.group,
            peer=self.peer,
            local_address=f"{local[0]}:{local[1]}" if local else "",
            now=self.loop.time(),
            wakeup=self.wake,
        )

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None or self.closing:
            return
        now = self.loop.time()
        conn.receive_data(data, now)
        self.partial_since = (self.partial_since or now) if conn.buffered else None
        self.process()

    def eof_received(self) -> bool | None:
        if self.conn is not None:
            self.conn.close("peer closed the connection")
            self.process()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        srv = self.server
        if self in srv.protocols:
            srv.protocols.discard(self)
            srv.metrics.connections.dec()
        if self.conn is not None:
            self.conn.close(f"connection lost: {exc}" if exc else "connection closed")
            self.closing = True
            self.drain_events()
        srv.connection_gone.set()

    def pause_writing(self) -> None:
        self.write_paused = True
        self.update_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        self.update_reading()

    # our logic
    def wake(self) -> None:
        if not self.scheduled:
            self.scheduled = True
            self.loop.call_soon(self._woken)

    def _woken(self) -> None:
        self.scheduled = False
        self.process()

    def tick(self, now: float) -> None:
        conn = self.conn
        if conn is None or self.closing:
            return
        if (
            self.partial_since is not None
            and now - self.partial_since > self.server.limits.partial_pdu_timeout
        ):
            conn.close("incomplete PDU for too long (slow sender)")
        else:
            conn.tick(now)
        self.process()

    def update_reading(self) -> None:
        t = self.transport
        if t is None or self.conn is None or self.closing:
            return
        limit = self.server.limits.max_in_flight
        want_pause = self.write_paused or self.conn.in_flight(limit) >= limit
        if want_pause and not self.read_paused:
            t.pause_reading()
            self.read_paused = True
        elif not want_pause and self.read_paused:
            t.resume_reading()
            self.read_paused = False

    def drain_events(self) -> bool:
        """Handle the core's events; True if the connection must close."""
        conn = self.conn
        assert conn is not None
        close = False
        while (ev := conn.next_event()) is not None:
            if isinstance(ev, CommandReady):
                if not self.closing:
                    self.server.run_command(self, ev.task)
            elif isinstance(ev, SessionEvent):
                self.server.log_session(ev)
            elif isinstance(ev, ConnectionClosed):
                close = True
                if not self.logged_closed:
                    self.logged_closed = True
                    self.server.log_closed(self, ev.reason)
        return close

    def process(self) -> None:
        conn = self.conn
        t = self.transport
        if conn is None or t is None:
            return
        close = self.drain_events()
        out = conn.data_to_send()
        if out and not t.is_closing():
            t.writelines(out)
        if close and not self.closing:
            self.closing = True
            t.close()  # sends what is buffered, then closes
            return
        self.update_reading()


class IscsiServer:
    """Serves a `PortalGroup` on TCP portals."""

    def __init__(
        self,
        group: PortalGroup,
        portals: Iterable[tuple[str, int]],
        *,
        limits: ServerLimits | None = None,
        metrics: ServerMetrics | None = None,
    ) -> None:
        self.group = group
        self.portals = list(portals)
        self.limits = limits or ServerLimits()
        self.metrics = metrics or ServerMetrics()
        self.protocols: set[_Protocol] = set()
        self.servers: list[asyncio.Server] = []
        self.executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=self.limits.workers, thread_name_prefix="sgguard-lu"
        )
        self.stopping = False
        # results from worker threads, drained on the loop (deque appends are atomic)
        self._completed: collections.deque[tuple[_Protocol, Task, Response]] = collections.deque()
        self._drain_scheduled = False
        self.inline_policy = _InlinePolicy(self.limits.inline_writes)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connection_gone = asyncio.Event()
        self._ticker: asyncio.Task[None] | None = None
        self.addresses: list[tuple[str, int]] = []
        self._sessions = 0

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the server runs on (set by `start`)."""
        if self._loop is None:
            raise RuntimeError("IscsiServer.start() has not run")
        return self._loop

    async def start(self) -> list[tuple[str, int]]:
        """Bind every portal (OSError if one is taken); returns the bound addresses."""
        self._loop = asyncio.get_running_loop()
        self.connection_gone = asyncio.Event()
        for host, port in self.portals:
            server = await self.loop.create_server(
                lambda: _Protocol(self), host, port, reuse_address=True, backlog=128
            )
            self.servers.append(server)
            for sock in server.sockets:
                addr = sock.getsockname()
                self.addresses.append((str(addr[0]), int(addr[1])))
        # Portals as SendTargets reports them: the bound ports (port 0 resolved).
        self.group.portals = [f"{h}:{p}" for h, p in self.addresses]
        self._ticker = asyncio.create_task(self._tick_loop())
        return self.addresses

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            now = self.loop.time()
            for proto in list(self.protocols):
                proto.tick(now)

    # --- commands ---

    def run_command(self, proto: _Protocol, task: Task) -> None:
        lu = task.lu
        assert lu is not None
        start = time.perf_counter()
        task.user = start
        run = self.inline_policy.inline(lu, task.cdb, task.needed, start)
        if run is not None:
            response: Response | None
            try:
                response = run(task.cdb, task.data_out, task.nexus)
            except Exception:
                log.exception("logical unit failed on %s", task.cdb[:1].hex())
                response = Response(Status.CHECK_CONDITION, sense=_INTERNAL_FAILURE)
            if response is not None:
                took = time.perf_counter() - start
                if took > _INLINE_WRITE_SLOW:
                    self.inline_policy.observed(lu, task.cdb, took, start)
                self._finish(proto, task, response)
                return
        self.executor.submit(self._work, proto, task, lu)

    def _work(self, proto: _Protocol, task: Task, lu: LogicalUnitProtocol) -> None:
        """On a worker thread: execute, queue the result, wake the loop once for
        however many results pile up before it drains them (one
        call_soon_threadsafe, not a pair of futures, per command)."""
        try:
            response = lu.execute(task.cdb, task.data_out, task.nexus)
        except Exception:
            log.exception("logical unit failed on opcode %s", task.cdb[:1].hex())
            response = Response(Status.CHECK_CONDITION, sense=_INTERNAL_FAILURE)
        self._completed.append((proto, task, response))
        if not self._drain_scheduled:  # a spare wakeup is harmless, a missing one is not:
            self._drain_scheduled = True  # the loop clears the flag before it drains
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody left to answer
                self.loop.call_soon_threadsafe(self._drain_completed)

    def _drain_completed(self) -> None:
        self._drain_scheduled = False
        woken: set[_Protocol] = set()
        completed = self._completed
        while completed:
            proto, task, response = completed.popleft()
            self._finish(proto, task, response)
            woken.add(proto)
        # Completions that arrived together leave in one send per connection.
        for proto in woken:
            proto.process()

    def _finish(self, proto: _Protocol, task: Task, response: Response) -> None:
        conn = task.connection
        conn.complete(task, response)
        start = task.user if isinstance(task.user, float) else time.perf_counter()
        session = conn.session
        self.metrics.observe_command(
            session.target_name if session is not None else "",
            task.lun,
            seconds=time.perf_counter() - start,
            read=len(response.data_in) if task.read else 0,
            written=task.needed if task.write else 0,
            error=response.status != Status.GOOD,
        )

    # --- logs ---

    def log_session(self, ev: SessionEvent) -> None:
        fields = {
            "event": ev.kind,
            "initiator": ev.initiator,
            "isid": ev.isid,
            "target": ev.target,
            "peer": ev.peer,
            "tsih": ev.tsih,
            "detail": ev.detail,
        }
        level = logging.WARNING if ev.kind == "login-failed" else logging.INFO
        if ev.kind == "login":
            self.metrics.logins.labels("discovery" if not ev.target else "normal").inc()
            self._sessions += 1
            self.metrics.sessions.set(len(self.group.by_tsih))
        elif ev.kind == "login-failed":
            self.metrics.login_failures.inc()
        else:
            self.metrics.sessions.set(len(self.group.by_tsih))
        who = ev.initiator or "?"
        what = f" target {ev.target}" if ev.target else ""
        log.log(
            level,
            "%s: %s (isid %s) from %s%s%s",
            ev.kind,
            who,
            ev.isid or "-",
            ev.peer,
            what,
            f": {ev.detail}" if ev.detail else "",
            extra={"fields": fields},
        )

    def log_closed(self, proto: _Protocol, reason: str) -> None:
        """One line for a connection the core ended for a protocol reason (the
        session events already cover logins, logouts and peers going away)."""
        quiet = ("logout", "peer closed the connection", "connection closed", "login failed")
        if reason.startswith(quiet) or reason.startswith("connection lost"):
            return
        if reason.startswith(("malformed PDU", "data digest", "incomplete PDU")):
            self.metrics.protocol_errors.inc()
        log.warning(
            "connection from %s closed: %s",
            proto.peer,
            reason,
            extra={"fields": {"event": "connection-closed", "peer": proto.peer, "detail": reason}},
        )

    # --- shutdown ---

    async def shutdown(self, timeout: float | None = None) -> None:
        """Stop accepting, ask initiators to log out, wait for commands in
        flight (at most `timeout`), close connections, flush logical units."""
        timeout = self.limits.drain_timeout if timeout is None else timeout
        self.stopping = True
        for server in self.servers:
            server.close()
        if self._ticker is not None:
            self._ticker.cancel()
        deadline = self.loop.time() + timeout
        for proto in list(self.protocols):
            if proto.conn is not None:
                proto.conn.request_logout(max(1, int(timeout)))
                proto.process()
        while self.protocols and self.loop.time() < deadline:
            busy = any(p.conn is not None and p.conn.in_flight() for p in self.protocols)
            if not busy and all(p.conn is None or p.closing for p in self.protocols):
                break
            self.connection_gone.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.connection_gone.wait(), 0.1)
        for proto in list(self.protocols):
            if proto.conn is not None:
                proto.conn.close("server shutting down")
                proto.drain_events()
            if proto.transport is not None:
                proto.transport.close()
        for server in self.servers:
            await server.wait_closed()
        units: list[LogicalUnitProtocol] = []
        for target in self.group.targets.values():
            for lu in target.luns.values():
                if all(lu is not u for u in units):
                    units.append(lu)
        for lu in units:
            try:
                await self.loop.run_in_executor(self.executor, lu.flush)
            except Exception:
                log.exception("flush failed")
        self.executor.shutdown(wait=True)
        self.metrics.close()
        log.info("server stopped", extra={"fields": {"event": "stopped"}})
