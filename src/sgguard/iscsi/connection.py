"""The sans-IO iSCSI target: login, sessions and the full feature phase (RFC 7143).

Owns the protocol state of a target portal group: `PortalGroup` (targets,
sessions by ISID/initiator/target and by TSIH, session reinstatement), `Session`
(the CmdSN window of RFC 7143 4.2.2.1, negotiated parameters, tasks) and
`Connection`, one TCP connection's protocol engine in the style of h11: the
caller feeds received bytes (`receive_data`), takes events (`next_event`) and
bytes to send (`data_to_send`), reports command results (`complete`) and the
passage of time (`tick`). No sockets, threads or clocks in here.

Covered: login with security (CHAP, mutual CHAP) and operational negotiation
(RFC 7143 6, 12, 13), discovery (SendTargets, RFC 7143 13.3), SCSI commands with
immediate, unsolicited and R2T-solicited data (RFC 7143 4.2.5, 11.3, 11.7, 11.8),
Data-In within MaxRecvDataSegmentLength/MaxBurstLength with phase collapse and
residuals (RFC 7143 11.4.5, 11.7.4), NOP-Out/NOP-In both ways (11.18, 11.19),
task management (11.5, 11.6), text (11.10), logout (11.14), Reject (11.17),
asynchronous logout requests (11.9), error recovery level 0 (RFC 7143 7).
"""

from __future__ import annotations

import enum
import secrets
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from sgguard.iscsi.chap import ChapError, ChapTarget
from sgguard.iscsi.keys import NegotiationError, Negotiator, SessionParams, TargetPreferences
from sgguard.iscsi.pdu import (
    ALL_ONES,
    BHS_LENGTH,
    R2T,
    AsyncEvent,
    AsyncMessage,
    Buffer,
    DataOut,
    LoginRequest,
    LoginResponse,
    LoginStatus,
    LogoutReason,
    LogoutRequest,
    LogoutResponse,
    LogoutResult,
    NopIn,
    NopOut,
    Opcode,
    Pdu,
    PduError,
    PduFramer,
    Reject,
    RejectReason,
    ScsiCommand,
    Snack,
    TaskManagementRequest,
    TaskManagementResponse,
    TextRequest,
    TextResponse,
    TmfFunction,
    TmfResponse,
    crc32c,
    data_in_header,
    decode_lun,
    decode_pdu,
    encode_pdu,
    scsi_response_header,
)
from sgguard.iscsi.target import Target
from sgguard.iscsi.text import TextError, decode_text, encode_text
from sgguard.scsi.sense import Asc, FieldPointer, SenseKey, build_fixed
from sgguard.target.api import LogicalUnitProtocol, Nexus, Response, Status, TaskManagement
from sgguard.target.lu import no_unit_response

__all__ = [
    "CommandReady",
    "Connection",
    "ConnectionClosed",
    "ConnectionState",
    "PortalGroup",
    "Session",
    "SessionEvent",
    "Task",
    "sn_le",
    "sn_lt",
]

# A SCSI Command BHS (RFC 7143 11.3): flags, LUN, ITT, EDTL, CmdSN for the fast path.
_FAST_COMMAND = struct.Struct(">xB6xQIII")
LOGIN_MAX_DATA = 8192  # RFC 7143 13.12: MaxRecvDataSegmentLength during login
REPORT_LUNS = 0xA0


def sn_lt(a: int, b: int) -> bool:
    """RFC 1982 serial number arithmetic (32 bits), as RFC 7143 4.2.2.1 requires."""
    return a != b and ((b - a) & 0xFFFFFFFF) < 0x80000000


def sn_le(a: int, b: int) -> bool:
    return a == b or sn_lt(a, b)


def _fixed_sense(key: SenseKey, asc: Asc, field_pointer: int | None = None) -> bytes:
    """Fixed format sense data (SPC-5 4.4.3) for the few answers the transport
    gives itself (data phase errors, transfers beyond its limit)."""
    fp = FieldPointer(c_d=True, field_pointer=field_pointer) if field_pointer is not None else None
    return build_fixed(key, asc, field_pointer=fp)


# --- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CommandReady:
    """A SCSI command whose data is complete: run `task.lu.execute` and call
    `Connection.complete(task, response)`."""

    task: Task


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One line of the session log: login, login-failed, logout, reinstated, closed."""

    kind: str
    initiator: str
    target: str
    peer: str
    detail: str = ""
    isid: str = ""
    tsih: int = 0


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The connection is finished: flush `data_to_send` and close the socket."""

    reason: str


Event = CommandReady | SessionEvent | ConnectionClosed


class ConnectionState(enum.Enum):
    LOGIN = "login"
    FULL_FEATURE = "full-feature"
    CLOSING = "closing"  # final PDUs queued, the caller closes after sending them
    CLOSED = "closed"


# Which initiator opcodes each state accepts (h11-style transition table); the rest
# are protocol errors.
_ALLOWED: dict[tuple[ConnectionState, bool], frozenset[int]] = {
    (ConnectionState.LOGIN, False): frozenset({Opcode.LOGIN_REQUEST}),
    (ConnectionState.LOGIN, True): frozenset({Opcode.LOGIN_REQUEST}),
    (ConnectionState.FULL_FEATURE, False): frozenset(
        {
            Opcode.NOP_OUT,
            Opcode.SCSI_COMMAND,
            Opcode.TASK_MANAGEMENT_REQUEST,
            Opcode.TEXT_REQUEST,
            Opcode.DATA_OUT,
            Opcode.LOGOUT_REQUEST,
            Opcode.SNACK_REQUEST,
        }
    ),
    # discovery sessions: text, logout and pings only (RFC 7143 4.3)
    (ConnectionState.FULL_FEATURE, True): frozenset(
        {Opcode.NOP_OUT, Opcode.TEXT_REQUEST, Opcode.LOGOUT_REQUEST}
    ),
}


# --- tasks -------------------------------------------------------------------------------


@dataclass(slots=True)
class _R2TState:
    offset: int
    length: int
    next_offset: int
    next_datasn: int = 0


@dataclass(slots=True, eq=False)
class Task:
    """One SCSI task (command) from arrival to status."""

    connection: Connection
    itt: int
    cmdsn: int
    lun: int
    lu: LogicalUnitProtocol | None
    cdb: bytes
    nexus: Nexus
    read: bool
    write: bool
    expected_length: int
    bidi_read_length: int | None
    immediate: bool
    needed: int = 0  # data-out bytes we solicit: min(EDTL, what the CDB asks for)
    keep: int = 0  # data-out bytes we pass on: all received, up to EDTL (RFC 7143 11.3.4)
    spdtl_out: int = 0  # what the CDB asks for (SCSI data-out length)
    buffer: bytearray | None = None
    direct: Buffer | None = None  # the command's immediate data when it is all the data
    segments: list[tuple[int, bytes]] = field(default_factory=list)  # data-out received so far
    held: int = 0  # bytes of the connection's write budget this task holds
    waiting_r2t: bool = False
    unsolicited_done: bool = True
    unsolicited_next: int = 0
    unsolicited_datasn: int = 0
    solicit_next: int = 0
    r2ts: dict[int, _R2TState] = field(default_factory=dict)
    r2tsn: int = 0
    ordered: bool = False
    executing: bool = False
    done: bool = False
    aborted: bool = False
    failed: tuple[Status, bytes] | None = None  # terminated by a transport error
    tmf_waiters: list[_PendingTmf] = field(default_factory=list)
    user: object = None  # free for the caller (metrics start time)

    @property
    def data_out(self) -> memoryview:
        if self.direct is not None:
            return memoryview(self.direct)[: self.keep]
        if self.buffer is None:
            return memoryview(b"")
        return memoryview(self.buffer)

    def _data_complete(self) -> bool:
        return self.unsolicited_done and not self.r2ts and self.solicit_next >= self.needed


@dataclass(slots=True, eq=False)
class _PendingTmf:
    connection: Connection
    itt: int
    remaining: int
    response: TmfResponse = TmfResponse.FUNCTION_COMPLETE
    then_close_target: Target | None = None


# --- sessions and the portal group ----------------------------------------------------------


@dataclass(slots=True, eq=False)
class Session:
    """An iSCSI session (RFC 7143 4.3): I_T nexus, CmdSN window, tasks."""

    group: PortalGroup
    tsih: int
    isid: bytes
    initiator_name: str
    target: Target | None  # None for discovery sessions
    params: SessionParams
    depth: int
    exp_cmdsn: int
    max_cmdsn: int = 0
    connection: Connection | None = None
    tasks: dict[int, Task] = field(default_factory=dict)
    pending: dict[int, tuple[Pdu, bytes] | None] = field(default_factory=dict)  # out of order
    active: int = 0
    closed: bool = False
    nexuses: dict[int, Nexus] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.max_cmdsn = (self.exp_cmdsn + self.depth - 1) & 0xFFFFFFFF

    @property
    def discovery(self) -> bool:
        return self.target is None

    @property
    def target_name(self) -> str:
        return self.target.name if self.target is not None else ""

    @property
    def initiator_port(self) -> str:
        return f"{self.initiator_name},i,0x{self.isid.hex()}"

    def nexus(self, lun: int) -> Nexus:
        """The I_T_L nexus of `lun` (one object per LUN, so a logical unit can
        recognise a nexus by identity)."""
        cached = self.nexuses.get(lun)
        if cached is not None:
            return cached
        tpgt = self.target.portal_group_tag if self.target else 0
        made = self.nexuses[lun] = Nexus(
            initiator=self.initiator_port,
            target=f"{self.target_name},t,0x{tpgt:04x}",
            lun=lun,
            initiator_name=self.initiator_name,
        )
        return made

    def window(self) -> tuple[int, int]:
        """(ExpCmdSN, MaxCmdSN) to advertise; MaxCmdSN never moves backwards and
        closes as tasks pile up (flow control, RFC 7143 4.2.2.1)."""
        candidate = (self.exp_cmdsn + self.depth - 1 - self.active) & 0xFFFFFFFF
        if sn_lt(self.max_cmdsn, candidate):
            self.max_cmdsn = candidate
        return self.exp_cmdsn, self.max_cmdsn

    def in_window(self, cmdsn: int) -> bool:
        return sn_le(self.exp_cmdsn, cmdsn) and sn_le(cmdsn, self.max_cmdsn)


class PortalGroup:
    """Targets reachable through one set of portals, and their live sessions."""

    def __init__(
        self,
        targets: Iterable[Target],
        *,
        portals: Iterable[str] = ("127.0.0.1:3260",),
        preferences: TargetPreferences | None = None,
        queue_depth: int = 64,
        discovery_chap: Target | None = None,
        random_bytes: Callable[[int], bytes] = secrets.token_bytes,
        login_timeout: float = 15.0,
        nop_interval: float = 30.0,
        nop_timeout: float = 15.0,
        max_transfer: int = 32 << 20,
        write_buffer_budget: int = 64 << 20,
    ) -> None:
        self.targets = {t.name: t for t in targets}
        self.portals = list(portals)
        self.preferences = preferences or TargetPreferences()
        self.queue_depth = queue_depth
        self.discovery_auth = discovery_chap
        self.random_bytes = random_bytes
        self.login_timeout = login_timeout
        self.nop_interval = nop_interval
        self.nop_timeout = nop_timeout
        self.max_transfer = max_transfer
        self.write_buffer_budget = write_buffer_budget
        self.sessions: dict[tuple[str, bytes, str], Session] = {}
        self.by_tsih: dict[int, Session] = {}
        self.connections: set[Connection] = set()
        self._next_tsih = 1

    def new_tsih(self) -> int:
        for _ in range(65536):
            tsih = self._next_tsih
            self._next_tsih = self._next_tsih % 65535 + 1
            if tsih not in self.by_tsih:
                return tsih
        raise RuntimeError("no free TSIH")

    def drop_session(self, session: Session, reason: str) -> None:
        """End a session: forget it, abort its tasks, tell its LUs the nexus is gone."""
        if session.closed:
            return
        session.closed = True
        key = (session.initiator_name, session.isid, session.target_name)
        if self.sessions.get(key) is session:
            del self.sessions[key]
        if self.by_tsih.get(session.tsih) is session:
            del self.by_tsih[session.tsih]
        for task in list(session.tasks.values()):
            _abort_task(task)
        session.tasks.clear()
        session.pending.clear()
        if session.target is not None:
            for lun, lu in session.target.luns.items():
                lu.nexus_lost(session.nexus(lun))
        conn = session.connection
        if conn is not None and conn.state not in (ConnectionState.CLOSED, ConnectionState.CLOSING):
            conn._close(reason)

    def abort_nexus_tasks(self, nexuses: Iterable[tuple[str, str]], lun: int | None = None) -> None:
        """Abort the tasks of the given (initiator port, target port) nexuses, e.g. for
        PERSISTENT RESERVE OUT PREEMPT AND ABORT (SPC-5 5.14.11.2.5); no responses."""
        wanted = set(nexuses)
        for session in list(self.sessions.values()):
            for task in list(session.tasks.values()):
                n = task.nexus
                if (n.initiator, n.target) in wanted and (lun is None or task.lun == lun):
                    if not task.executing:
                        session.tasks.pop(task.itt, None)
                    _abort_task(task)

    def sessions_of(self, target: Target) -> list[Session]:
        return [s for s in self.sessions.values() if s.target is target]

    def request_logout(self, seconds: int = 5) -> None:
        """Ask every logged-in initiator to log out (RFC 7143 11.9.1, event 1)."""
        for conn in list(self.connections):
            conn.request_logout(seconds)


def _abort_task(task: Task) -> None:
    """Terminate a task: it never answers; a TMF waiting on it is told when it stops."""
    if task.done or task.aborted:
        return
    task.aborted = True
    if not task.executing:
        task.done = True
        sess = task.connection.session
        if sess is not None:
            sess.active -= 1
        task.connection._release(task)
        _release_waiters(task)


def _release_waiters(task: Task) -> None:
    for tmf in task.tmf_waiters:
        tmf.remaining -= 1
        if tmf.remaining == 0:
            tmf.connection._send_tmf_response(tmf)
    task.tmf_waiters.clear()


# --- login bookkeeping ------------------------------------------------------------------------


@dataclass(slots=True)
class _Login:
    stage: int = 0  # current stage: 0 security, 1 operational
    first: bool = True
    initiator_name: str = ""
    target: Target | None = None
    discovery: bool = False
    isid: bytes = b""
    tsih: int = 0
    cid: int = 0
    auth_required: bool = False
    auth_method: str = ""
    chap: ChapTarget | None = None
    authenticated: bool = False
    negotiator: Negotiator | None = None
    pending_text: bytearray = field(default_factory=bytearray)
    declared: bool = False
    existing: Session | None = None  # TSIH != 0: the session this connection joins


class _LoginFailed(Exception):
    def __init__(self, status: LoginStatus, why: str) -> None:
        super().__init__(why)
        self.status = status


# --- the connection ------------------------------------------------------------------------


class Connection:
    """One connection's protocol engine (sans-IO)."""

    def __init__(
        self,
        group: PortalGroup,
        *,
        peer: str = "",
        local_address: str = "",
        now: float = 0.0,
        wakeup: Callable[[], None] | None = None,
        fast_path: bool = True,
    ) -> None:
        self.group = group
        # Shortcuts for in-order SCSI commands and single-PDU read answers; off, every
        # PDU takes the general path (the differential tests compare the two).
        self.fast_path = fast_path
        self.peer = peer
        self.local_address = local_address
        self.state = ConnectionState.LOGIN
        self.session: Session | None = None
        self.params = SessionParams()
        self.cid = 0
        self.statsn = 0
        self.wakeup = wakeup
        self._framer = PduFramer(max_data_segment=LOGIN_MAX_DATA)
        self._out: list[Buffer] = []
        self._events: deque[Event] = deque()
        self._login = _Login()
        self._login_deadline = now + group.login_timeout
        self._last_rx = now
        self._ping_ttt: int | None = None
        self._ping_sent = 0.0
        self._next_ttt = 1
        self._text_pending: dict[int, tuple[int, bytes]] = {}  # ttt -> (itt, remaining text)
        self._text_request: bytearray = bytearray()
        self._close_reason = ""
        self._header = b""  # the header of the PDU being handled (for a Reject)
        self._held = 0  # data-out bytes received or solicited and not yet released
        self._r2t_wait: deque[Task] = deque()  # writes waiting for budget to solicit
        group.connections.add(self)

    # ---- caller API ----

    def receive_data(self, data: Buffer, now: float = 0.0) -> None:
        """Feed bytes from the socket (b"" means the peer closed)."""
        if self.state is ConnectionState.CLOSED:
            return
        if not data:
            self._close("peer closed the connection")
            return
        self._last_rx = now
        if self.state is ConnectionState.CLOSING:
            return
        self._framer.feed(data)
        while self.state in (ConnectionState.LOGIN, ConnectionState.FULL_FEATURE):
            try:
                frame = self._framer.next_frame()
            except PduError as exc:
                self._reject_raw(self._framer.pending_header(), exc.reason)
                self._close(f"malformed PDU: {exc}")
                return
            if frame is None:
                return
            header = frame.header
            if (
                self.fast_path
                and header[0] == Opcode.SCSI_COMMAND
                and len(header) == BHS_LENGTH
                and frame.data_digest_ok
                and self.state is ConnectionState.FULL_FEATURE
                and self._fast_command(header, frame.data)
            ):
                continue
            try:
                pdu = decode_pdu(frame.header, frame.data)
            except PduError as exc:
                self._reject_raw(frame.header[:48], exc.reason)
                if exc.reason is RejectReason.COMMAND_NOT_SUPPORTED and (
                    self.state is ConnectionState.FULL_FEATURE
                ):
                    continue  # unknown opcode: rejected, the stream is still in sync
                self._close(f"malformed PDU: {exc}")
                return
            if not frame.data_digest_ok:
                self._reject_raw(frame.header[:48], RejectReason.DATA_DIGEST_ERROR)
                self._close("data digest error (error recovery level 0)")
                return
            self._dispatch(pdu, frame.header)

    def next_event(self) -> Event | None:
        return self._events.popleft() if self._events else None

    def events(self) -> list[Event]:
        out = list(self._events)
        self._events.clear()
        return out

    def data_to_send(self) -> list[Buffer]:
        out = self._out
        self._out = []
        return out

    @property
    def buffered(self) -> int:
        return self._framer.buffered

    def tick(self, now: float) -> None:
        """Time has passed: login timeout, NOP-In pings and their timeout."""
        if self.state is ConnectionState.LOGIN:
            if now >= self._login_deadline:
                self._session_event("login-failed", "login timeout")
                self._close("login timeout")
            return
        if self.state is not ConnectionState.FULL_FEATURE or self.session is None:
            return
        if self._ping_ttt is not None:
            if now - self._ping_sent >= self.group.nop_timeout:
                self._close("NOP-In ping timed out")
            return
        if now - self._last_rx >= self.group.nop_interval:
            self._ping_ttt = self._new_ttt()
            self._ping_sent = now
            exp, mx = self.session.window()
            self._send(
                NopIn(
                    itt=ALL_ONES,
                    ttt=self._ping_ttt,
                    statsn=self.statsn,
                    exp_cmdsn=exp,
                    max_cmdsn=mx,
                )
            )

    def request_logout(self, seconds: int = 5) -> None:
        if self.state is not ConnectionState.FULL_FEATURE or self.session is None:
            self._close("shutting down")
            return
        exp, mx = self.session.window()
        self._send(
            AsyncMessage(
                event=AsyncEvent.LOGOUT_REQUEST,
                statsn=self._next_statsn(),
                exp_cmdsn=exp,
                max_cmdsn=mx,
                parameter3=seconds,
            )
        )
        self._poke()

    def close(self, reason: str) -> None:
        """The transport is gone (or the caller ends it)."""
        self._close(reason)

    def in_flight(self, at_least: int = 0) -> int:
        """Commands executing on this connection. With `at_least`, a count that
        cannot reach it may be returned as 0 without counting (a cheap check)."""
        if self.session is None or len(self.session.tasks) < at_least:
            return 0
        return sum(1 for t in self.session.tasks.values() if t.executing and not t.done)

    def complete(self, task: Task, response: Response) -> None:
        """A CommandReady task's result."""
        if task.done:
            return
        task.done = True
        task.executing = False
        self._release(task)
        session = self.session
        if session is not None and session.tasks.get(task.itt) is task:
            del session.tasks[task.itt]
        if session is not None:
            session.active -= 1
        if task.aborted:
            _release_waiters(task)
            self._poke()
            return
        if self.state is not ConnectionState.FULL_FEATURE or session is None:
            return
        self._send_status(task, response)

    # ---- internals: output ----

    def _poke(self) -> None:
        if self.wakeup is not None:
            self.wakeup()

    def _new_ttt(self) -> int:
        ttt = self._next_ttt
        self._next_ttt = (self._next_ttt + 1) & 0x7FFFFFFF or 1
        return ttt

    def _next_statsn(self) -> int:
        sn = self.statsn
        self.statsn = (sn + 1) & 0xFFFFFFFF
        return sn

    def _send(self, pdu: Pdu) -> None:
        self._out.extend(
            encode_pdu(
                pdu, header_digest=self.params.header_digest, data_digest=self.params.data_digest
            )
        )

    def _send_plain(self, pdu: Pdu) -> None:
        self._out.extend(encode_pdu(pdu))

    def _window(self) -> tuple[int, int]:
        if self.session is not None:
            return self.session.window()
        return 0, 0

    def _reject_raw(self, header: Buffer, reason: RejectReason) -> None:
        if self.state is ConnectionState.LOGIN:
            return  # no Reject during login: the login response says it
        exp, mx = self._window()
        self._send(
            Reject(
                reason=reason,
                statsn=self._next_statsn(),
                exp_cmdsn=exp,
                max_cmdsn=mx,
                data=bytes(header[:48]).ljust(48, b"\0"),
            )
        )

    def _close(self, reason: str) -> None:
        if self.state in (ConnectionState.CLOSED, ConnectionState.CLOSING):
            return
        was_ffp = self.state is ConnectionState.FULL_FEATURE
        self.state = ConnectionState.CLOSING
        self._close_reason = reason
        self.group.connections.discard(self)
        session = self.session
        if session is not None and session.connection is self:
            session.connection = None
            if was_ffp:
                self._session_event("closed", reason)
            self.group.drop_session(session, reason)
        self._events.append(ConnectionClosed(reason))
        self._poke()

    def _session_event(self, kind: str, detail: str = "") -> None:
        s = self.session
        lg = self._login
        self._events.append(
            SessionEvent(
                kind=kind,
                initiator=s.initiator_name if s else lg.initiator_name,
                target=(s.target_name if s else (lg.target.name if lg.target else "")),
                peer=self.peer,
                detail=detail,
                isid=(s.isid if s else lg.isid).hex(),
                tsih=s.tsih if s else 0,
            )
        )

    # ---- dispatch ----

    def _dispatch(self, pdu: Pdu, header: bytes) -> None:
        self._header = header
        discovery = self.session is not None and self.session.discovery
        opcode = pdu.opcode
        if opcode not in _ALLOWED[(self.state, discovery)]:
            if self.state is ConnectionState.LOGIN:
                self._login_fail_raw(
                    LoginStatus.INVALID_DURING_LOGIN, f"{opcode.name} during login"
                )
                return
            self._reject_raw(header, RejectReason.PROTOCOL_ERROR)
            if opcode in (Opcode.LOGIN_REQUEST,) or opcode >= 0x20:
                self._close(f"{opcode.name} in full feature phase")
            return
        if isinstance(pdu, LoginRequest):
            self._on_login(pdu)
            return
        session = self.session
        assert session is not None
        if isinstance(pdu, DataOut):
            self._on_data_out(pdu, header)
            return
        if isinstance(pdu, Snack):
            self._reject_raw(header, RejectReason.SNACK_REJECT)  # ERL 0: no SNACK
            return
        # Everything else is a command carrying CmdSN (RFC 7143 4.2.2.1).
        assert isinstance(
            pdu, NopOut | ScsiCommand | TaskManagementRequest | TextRequest | LogoutRequest
        )
        if isinstance(pdu, NopOut) and pdu.itt == ALL_ONES:
            # A reply to our ping (or a one-way ping): carries no CmdSN of its own.
            if pdu.ttt != ALL_ONES and pdu.ttt == self._ping_ttt:
                self._ping_ttt = None
            return
        if pdu.immediate:
            self._execute_ordered(pdu, header, immediate=True)
            return
        if not session.in_window(pdu.cmdsn):
            return  # RFC 7143 4.2.2.1: silently ignore commands outside the window
        if isinstance(pdu, ScsiCommand) and not self._accept_scsi(pdu, header):
            # Refused before ordering: the CmdSN is still consumed.
            self._consume(pdu.cmdsn, None)
            return
        if pdu.cmdsn in session.pending:
            return  # a duplicate of a command already waiting
        self._consume(pdu.cmdsn, (pdu, header))

    def _consume(self, cmdsn: int, pdu: tuple[Pdu, bytes] | None) -> None:
        """Place a non-immediate command in CmdSN order and run what is ready."""
        session = self.session
        assert session is not None
        session.pending[cmdsn] = pdu
        while session.exp_cmdsn in session.pending and not session.closed:
            ready = session.pending.pop(session.exp_cmdsn)
            session.exp_cmdsn = (session.exp_cmdsn + 1) & 0xFFFFFFFF
            if ready is not None:
                self._header = ready[1]
                self._execute_ordered(ready[0], ready[1], immediate=False)
            if self.state is not ConnectionState.FULL_FEATURE:
                return

    def _execute_ordered(self, pdu: Pdu, header: bytes, *, immediate: bool) -> None:
        if isinstance(pdu, ScsiCommand):
            if immediate and not self._accept_scsi(pdu, header):
                return
            session = self.session
            assert session is not None
            task = session.tasks.get(pdu.itt)
            if task is not None and task.cmdsn == pdu.cmdsn and not task.ordered:
                task.ordered = True
                self._maybe_ready(task)
        elif isinstance(pdu, NopOut):
            self._on_nop_out(pdu)
        elif isinstance(pdu, TaskManagementRequest):
            self._on_tmf(pdu)
        elif isinstance(pdu, TextRequest):
            self._on_text(pdu)
        elif isinstance(pdu, LogoutRequest):
            self._on_logout(pdu)

    # ---- SCSI commands and data ----

    def _fast_command(self, header: bytes, data: Buffer) -> bool:
        """The common case of a SCSI Command PDU, handled without a `ScsiCommand`
        object or the ordering queue: non-immediate, no AHS, and carrying the
        CmdSN the session expects next with nothing queued out of order. Does
        exactly what `_dispatch` -> `_accept_scsi` -> `_consume` ->
        `_execute_ordered` do for such a PDU (same checks, same order, same
        output); False (nothing done) for anything else, which then takes the
        general path."""
        session = self.session
        if session is None or session.target is None or session.pending or session.closed:
            return False
        flags, lun_field, itt, edtl, cmdsn = _FAST_COMMAND.unpack_from(header)
        if cmdsn != session.exp_cmdsn or not sn_le(cmdsn, session.max_cmdsn):
            return False
        self._header = header
        accepted = self._accept(
            itt, cmdsn, decode_lun(lun_field), header[32:48], bool(flags & 0x40),
            bool(flags & 0x20), bool(flags & 0x80), edtl, None, False, data, header,
        )  # fmt: skip
        session.exp_cmdsn = (cmdsn + 1) & 0xFFFFFFFF
        if accepted:
            task = session.tasks.get(itt)
            if task is not None and task.cmdsn == cmdsn and not task.ordered:
                task.ordered = True
                self._maybe_ready(task)
        return True

    def _accept_scsi(self, cmd: ScsiCommand, header: bytes) -> bool:
        """Create the task of a SCSI Command PDU; False if refused outright."""
        return self._accept(
            cmd.itt, cmd.cmdsn, cmd.lun, cmd.cdb, cmd.read, cmd.write, cmd.final,
            cmd.expected_length, cmd.bidi_read_length, cmd.immediate, cmd.data, header,
        )  # fmt: skip

    def _accept(
        self,
        itt: int,
        cmdsn: int,
        lun: int,
        cdb: bytes,
        read: bool,
        write: bool,
        final: bool,
        expected_length: int,
        bidi_read_length: int | None,
        immediate: bool,
        data: Buffer,
        header: bytes,
    ) -> bool:
        session = self.session
        assert session is not None and session.target is not None
        if itt == ALL_ONES:
            self._reject_raw(header, RejectReason.INVALID_PDU_FIELD)
            return False
        if itt in session.tasks:
            self._reject_raw(header, RejectReason.TASK_IN_PROGRESS)
            return False
        if expected_length and not (read or write):
            self._reject_raw(header, RejectReason.INVALID_PDU_FIELD)
            return False
        if len(data) and not write:
            self._reject_raw(header, RejectReason.PROTOCOL_ERROR)
            return False
        params = self.params
        if len(data) > (params.first_burst_length if params.immediate_data else 0) or (
            len(data) > expected_length
        ):
            self._reject_raw(header, RejectReason.PROTOCOL_ERROR)
            return False
        lu = session.target.luns.get(lun)
        task = Task(
            connection=self,
            itt=itt,
            cmdsn=cmdsn,
            lun=lun,
            lu=lu,
            cdb=cdb,
            nexus=session.nexus(lun),
            read=read,
            write=write,
            expected_length=expected_length,
            bidi_read_length=bidi_read_length,
            immediate=immediate,
        )
        session.tasks[itt] = task
        session.active += 1
        if write:
            spdtl = 0
            if lu is not None and cdb[0] != REPORT_LUNS:
                try:
                    spdtl = lu.expected_data_out(cdb)
                except Exception:  # a CDB the LU cannot size: it refuses it in execute
                    spdtl = 0
            task.spdtl_out = spdtl
            task.needed = min(expected_length, spdtl)
            if task.needed > self.group.max_transfer:
                task.failed = (
                    Status.CHECK_CONDITION,
                    _fixed_sense(SenseKey.ILLEGAL_REQUEST, Asc.INVALID_FIELD_IN_CDB, 7),
                )
                task.needed = 0
            elif lu is not None:
                refusal = getattr(lu, "data_out_refusal", None)
                refused = None
                if refusal is not None:
                    try:
                        refused = refusal(cdb, expected_length, task.nexus)
                    except Exception:  # a CDB the LU cannot judge: execute answers it
                        refused = None
                if refused is not None:
                    # The unit refuses this data-out length: no R2T; immediate and
                    # unsolicited data still arrive and are discarded (`_store` keeps
                    # nothing of a failed task), then the status goes out (RFC 7143 11.3).
                    task.failed = (refused.status, refused.sense)
                    task.needed = 0
            imm = len(data)
            task.keep = min(expected_length, self.group.max_transfer)
            if imm >= task.needed and task.failed is None and (task.needed or final):
                task.direct = data  # all of it came as immediate data: no copy
            elif imm:
                self._store(task, 0, data, reserved=False)
            task.unsolicited_next = imm
            unsolicited_limit = imm
            if not params.initial_r2t:
                unsolicited_limit = min(params.first_burst_length, expected_length)
            task.unsolicited_done = final or imm >= unsolicited_limit
            if not final and params.initial_r2t:
                # No unsolicited Data-Out is allowed: F must be set.
                task.unsolicited_done = True
            task.solicit_next = imm
            if task.unsolicited_done:
                self._issue_r2ts(task)
        elif not final:
            self._reject_raw(header, RejectReason.PROTOCOL_ERROR)
            del session.tasks[itt]
            session.active -= 1
            return False
        if immediate:
            task.ordered = True
            self._maybe_ready(task)
        return True

    def _issue_r2ts(self, task: Task) -> None:
        session = self.session
        assert session is not None
        params = self.params
        while (
            task.solicit_next < task.needed
            and len(task.r2ts) < params.max_outstanding_r2t
            and not task.aborted
        ):
            length = min(params.max_burst_length, task.needed - task.solicit_next)
            if self._held + length > self.group.write_buffer_budget and self._held - task.held > 0:
                # Bounded memory: solicit more once other writes release theirs.
                if not task.waiting_r2t:
                    task.waiting_r2t = True
                    self._r2t_wait.append(task)
                return
            self._held += length
            task.held += length
            ttt = self._new_ttt()
            task.r2ts[ttt] = _R2TState(task.solicit_next, length, task.solicit_next)
            exp, mx = session.window()
            self._send(
                R2T(
                    itt=task.itt,
                    ttt=ttt,
                    lun=task.lun,
                    statsn=self.statsn,
                    exp_cmdsn=exp,
                    max_cmdsn=mx,
                    r2tsn=task.r2tsn,
                    buffer_offset=task.solicit_next,
                    desired_length=length,
                )
            )
            task.r2tsn += 1
            task.solicit_next += length

    def _on_data_out(self, pdu: DataOut, header: bytes) -> None:
        session = self.session
        assert session is not None
        task = session.tasks.get(pdu.itt)
        if task is None or not task.write or task.done:
            # Data for a task that ended (aborted, refused): dropped silently;
            # data for a task that never existed is a protocol error.
            if task is None and pdu.ttt != ALL_ONES:
                self._reject_raw(header, RejectReason.INVALID_PDU_FIELD)
            return
        n = len(pdu.data)
        if pdu.ttt == ALL_ONES:
            if task.unsolicited_done or self.params.initial_r2t:
                self._fail_task(task, "unsolicited Data-Out not allowed")
                task.unsolicited_done = True
            else:
                if (
                    pdu.datasn != task.unsolicited_datasn
                    or pdu.buffer_offset != task.unsolicited_next
                ):
                    self._fail_task(task, "unsolicited Data-Out out of sequence")
                task.unsolicited_datasn += 1
                self._store(task, pdu.buffer_offset, pdu.data, reserved=False)
                task.unsolicited_next = pdu.buffer_offset + n
                if task.unsolicited_next > min(
                    self.params.first_burst_length, task.expected_length
                ):
                    self._fail_task(task, "unsolicited data beyond FirstBurstLength")
                if pdu.final:
                    task.unsolicited_done = True
                    # solicited data starts where the unsolicited burst ended
                    task.solicit_next = max(task.solicit_next, task.unsolicited_next)
                    self._issue_r2ts(task)
        else:
            r2t = task.r2ts.get(pdu.ttt)
            if r2t is None:
                self._reject_raw(header, RejectReason.INVALID_PDU_FIELD)
                return
            if pdu.datasn != r2t.next_datasn or pdu.buffer_offset != r2t.next_offset:
                self._fail_task(task, "Data-Out DataSN or offset out of sequence")
            r2t.next_datasn += 1
            end = pdu.buffer_offset + n
            if pdu.buffer_offset < r2t.offset or end > r2t.offset + r2t.length:
                self._fail_task(task, "Data-Out outside its R2T")
            else:
                self._store(task, pdu.buffer_offset, pdu.data, reserved=True)
            r2t.next_offset = max(r2t.next_offset, end)
            if pdu.final or r2t.next_offset >= r2t.offset + r2t.length:
                if r2t.next_offset < r2t.offset + r2t.length:
                    self._fail_task(task, "R2T sequence ended short")
                del task.r2ts[pdu.ttt]
                self._issue_r2ts(task)
        self._maybe_ready(task)

    def _store(self, task: Task, offset: int, data: Buffer, *, reserved: bool) -> None:
        """Keep a piece of data-out (`reserved`: solicited by an R2T, already counted
        against the write budget; immediate and unsolicited data are counted here)."""
        if task.failed is not None:
            return
        end = min(offset + len(data), task.keep)
        if end > offset:
            piece = bytes(memoryview(data)[: end - offset])
            task.segments.append((offset, piece))
            if not reserved:
                self._held += len(piece)
                task.held += len(piece)

    def _release(self, task: Task) -> None:
        """A write is finished with its data: give its budget back, solicit waiters."""
        task.segments.clear()
        if task.held:
            self._held -= task.held
            task.held = 0
        while self._r2t_wait:
            waiting = self._r2t_wait[0]
            if waiting.done or waiting.aborted:
                self._r2t_wait.popleft()
                continue
            waiting.waiting_r2t = False
            self._r2t_wait.popleft()
            self._issue_r2ts(waiting)
            if waiting.waiting_r2t:
                break

    def _fail_task(self, task: Task, why: str) -> None:
        if task.failed is None:
            # SPC-5: ABORTED COMMAND, DATA PHASE ERROR (4B/00); data is not used.
            task.failed = (
                Status.CHECK_CONDITION,
                _fixed_sense(SenseKey.ABORTED_COMMAND, Asc.DATA_PHASE_ERROR),
            )

    def _maybe_ready(self, task: Task) -> None:
        if task.executing or task.done or task.aborted or not task.ordered:
            return
        if task.write and not task._data_complete():
            return
        if task.failed is not None:
            status, sense = task.failed
            task.executing = True
            self.complete(task, Response(status=status, sense=sense, data_length=task.spdtl_out))
            return
        if task.segments:
            # assemble the data-out once, when all of it is here
            buf = bytearray(max(off + len(piece) for off, piece in task.segments))
            for off, piece in task.segments:
                buf[off : off + len(piece)] = piece
            task.buffer = buf
            task.segments.clear()
        internal = self._internal_response(task)
        task.executing = True
        if internal is not None:
            self.complete(task, internal)
            return
        self._events.append(CommandReady(task))

    def _internal_response(self, task: Task) -> Response | None:
        """The answer for a LUN this target does not serve (SPC-5 4.6.2): INQUIRY with
        peripheral qualifier 011b, REPORT LUNS from the target's LUN map, REQUEST
        SENSE and everything else LOGICAL UNIT NOT SUPPORTED. A served LUN's unit
        answers REPORT LUNS itself from the same map (its `report_luns` seam)."""
        if task.lu is not None:
            return None
        session = self.session
        assert session is not None and session.target is not None
        return no_unit_response(task.cdb, sorted(session.target.luns))

    def _send_status(self, task: Task, response: Response) -> None:
        session = self.session
        assert session is not None
        params = self.params
        data = response.data_in
        edtl = task.expected_length
        n = len(data)
        if (
            self.fast_path
            and n
            and task.read
            and not task.write
            and response.status == Status.GOOD
            and not response.sense
            and n <= edtl
            and n <= params.initiator_mrdsl
            and n <= params.max_burst_length
            and not params.header_digest
            and not params.data_digest
        ):
            # One Data-In PDU with the status collapsed into it: what the loop
            # below produces for this case, in one pack (the hot path of reads).
            spdtl = max(response.data_length, n)
            flags, residual = 0x81, 0
            if spdtl > edtl:
                flags, residual = 0x85, spdtl - edtl
            elif spdtl < edtl:
                flags, residual = 0x83, edtl - spdtl
            exp, mx = session.window()
            out = self._out
            header = data_in_header(
                flags, 0, n, 0, task.itt, ALL_ONES, self._next_statsn(), exp, mx, 0, 0, residual
            )
            out.append(header)
            out.append(data)
            if n & 3:
                out.append(b"\0" * (-n & 3))
            return
        if (
            self.fast_path
            and task.write
            and not task.read
            and response.status == Status.GOOD
            and not response.sense
            and not params.header_digest
        ):
            # A write's GOOD status: one SCSI Response PDU, no data segment (as below).
            spdtl = task.spdtl_out
            flags, residual = 0x80, 0
            if spdtl > edtl:
                flags, residual = 0x84, spdtl - edtl
            elif spdtl < edtl:
                flags, residual = 0x82, edtl - spdtl
            exp, mx = session.window()
            header = scsi_response_header(
                flags, 0, 0, 0, task.itt, 0, self._next_statsn(), exp, mx, task.r2tsn, 0, residual
            )
            self._out.append(header)
            return
        status = int(response.status)
        sense = response.sense
        # Residuals (RFC 7143 11.4.5.1): SCSI's own transfer length against EDTL.
        if task.write and not task.read:
            spdtl = task.spdtl_out
        else:
            spdtl = max(response.data_length, len(data))
        read_limit = edtl
        bidi_over = bidi_under = False
        bidi_residual = 0
        if task.read and task.write and task.bidi_read_length is not None:
            read_limit = task.bidi_read_length
            spdtl = task.spdtl_out
            if len(data) > read_limit:
                bidi_over, bidi_residual = True, len(data) - read_limit
            elif len(data) < read_limit:
                bidi_under, bidi_residual = True, read_limit - len(data)
        overflow = underflow = False
        residual = 0
        if spdtl > edtl:
            overflow, residual = True, spdtl - edtl
        elif spdtl < edtl:
            underflow, residual = True, edtl - spdtl
        if not task.read:
            data = b""
        n = min(len(data), read_limit)
        view = memoryview(data)[:n] if n else memoryview(b"")
        collapse = bool(n) and not sense and status == Status.GOOD and not (bidi_over or bidi_under)
        mrdsl = params.initiator_mrdsl
        burst = params.max_burst_length
        datasn = 0
        offset = 0
        hd, dd = params.header_digest, params.data_digest
        out = self._out
        exp, mx = session.window()
        while offset < n:
            end = min(offset + mrdsl, n, (offset // burst + 1) * burst)
            last = end >= n
            chunk = view[offset:end]
            flags = 0x80 if (last or end % burst == 0) else 0
            if last and collapse:
                flags |= 0x01 | (0x04 if overflow else 0) | (0x02 if underflow else 0)
                header = data_in_header(
                    flags, status, end - offset, 0, task.itt, ALL_ONES, self._next_statsn(),
                    exp, mx, datasn, offset, residual,
                )  # fmt: skip
            else:
                header = data_in_header(
                    flags, 0, end - offset, 0, task.itt, ALL_ONES, 0, exp, mx, datasn, offset, 0
                )
            if hd:
                header += crc32c(header).to_bytes(4, "little")
            out.append(header)
            out.append(chunk)
            pad = -(end - offset) & 3
            if dd:
                crc = crc32c(chunk)
                if pad:
                    crc = crc32c(b"\0" * pad, crc)
                out.append(b"\0" * pad + crc.to_bytes(4, "little"))
            elif pad:
                out.append(b"\0" * pad)
            datasn += 1
            offset = end
        if collapse:
            return
        exp, mx = session.window()
        flags = (
            0x80
            | (0x10 if bidi_over else 0)
            | (0x08 if bidi_under else 0)
            | (0x04 if overflow else 0)
            | (0x02 if underflow else 0)
        )
        header = scsi_response_header(
            flags, 0, status, len(sense) + 2 if sense else 0, task.itt, 0, self._next_statsn(),
            exp, mx, datasn + task.r2tsn, bidi_residual, residual,
        )  # fmt: skip
        if hd:
            header += crc32c(header).to_bytes(4, "little")
        out.append(header)
        if sense:
            segment = struct.pack(">H", len(sense)) + sense
            segment += b"\0" * (-len(segment) & 3)
            out.append(segment)
            if dd:
                out.append(crc32c(segment).to_bytes(4, "little"))

    # ---- NOP, TMF, text, logout ----

    def _on_nop_out(self, pdu: NopOut) -> None:
        if pdu.ttt != ALL_ONES and pdu.ttt == self._ping_ttt:
            self._ping_ttt = None
        exp, mx = self._window()
        self._send(
            NopIn(
                itt=pdu.itt,
                ttt=ALL_ONES,
                lun=pdu.lun if pdu.lun >= 0 else 0,
                statsn=self._next_statsn(),
                exp_cmdsn=exp,
                max_cmdsn=mx,
                data=memoryview(pdu.data)[: self.params.initiator_mrdsl],
            )
        )

    def _on_tmf(self, pdu: TaskManagementRequest) -> None:
        session = self.session
        assert session is not None and session.target is not None
        target = session.target
        fn = pdu.function
        tmf = _PendingTmf(self, pdu.itt, 0)
        lu = target.luns.get(pdu.lun)
        lun_scoped = fn in (
            TmfFunction.ABORT_TASK,
            TmfFunction.ABORT_TASK_SET,
            TmfFunction.CLEAR_TASK_SET,
            TmfFunction.LOGICAL_UNIT_RESET,
            TmfFunction.CLEAR_ACA,
        )
        victims: list[Task] = []
        if lun_scoped and lu is None:
            tmf.response = TmfResponse.LUN_DOES_NOT_EXIST
        elif fn == TmfFunction.ABORT_TASK:
            task = session.tasks.get(pdu.referenced_task_tag)
            if task is not None and task.lun == pdu.lun and not task.done:
                victims = [task]
            elif (
                task is None
                and session.in_window(pdu.ref_cmdsn)
                and (pdu.immediate or sn_lt(pdu.ref_cmdsn, pdu.cmdsn))
                and pdu.ref_cmdsn not in session.pending
            ):
                # Not received yet: consider it received (RFC 7143 11.5.1) so it never runs.
                self._consume(pdu.ref_cmdsn, None)
            else:
                tmf.response = TmfResponse.TASK_DOES_NOT_EXIST
        elif fn == TmfFunction.ABORT_TASK_SET:
            victims = [t for t in session.tasks.values() if t.lun == pdu.lun]
            assert lu is not None
            lu.task_management(TaskManagement.ABORT_TASK_SET, session.nexus(pdu.lun))
        elif fn in (TmfFunction.CLEAR_TASK_SET, TmfFunction.LOGICAL_UNIT_RESET):
            for s in self.group.sessions_of(target):
                victims += [t for t in s.tasks.values() if t.lun == pdu.lun]
            assert lu is not None
            lu.task_management(
                TaskManagement.CLEAR_TASK_SET
                if fn == TmfFunction.CLEAR_TASK_SET
                else TaskManagement.LOGICAL_UNIT_RESET,
                session.nexus(pdu.lun),
            )
        elif fn in (TmfFunction.TARGET_WARM_RESET, TmfFunction.TARGET_COLD_RESET):
            for s in self.group.sessions_of(target):
                victims += list(s.tasks.values())
            what = (
                TaskManagement.TARGET_WARM_RESET
                if fn == TmfFunction.TARGET_WARM_RESET
                else TaskManagement.TARGET_COLD_RESET
            )
            for lun, unit in target.luns.items():
                unit.task_management(what, session.nexus(lun))
            if fn == TmfFunction.TARGET_COLD_RESET:
                tmf.then_close_target = target
        elif fn == TmfFunction.I_T_NEXUS_RESET:
            # RFC 7144 4.1 / SAM-5 7.7: this session's tasks on every LU end
            victims = list(session.tasks.values())
            for lun, unit in target.luns.items():
                unit.task_management(TaskManagement.I_T_NEXUS_RESET, session.nexus(lun))
        elif fn == TmfFunction.TASK_REASSIGN:
            tmf.response = TmfResponse.TASK_ALLEGIANCE_REASSIGNMENT_NOT_SUPPORTED
        else:
            tmf.response = TmfResponse.FUNCTION_NOT_SUPPORTED
        for task in victims:
            if task.done or task.aborted:
                continue
            running = task.executing
            owner = task.connection.session
            _abort_task(task)
            if owner is not None and owner.tasks.get(task.itt) is task and not running:
                del owner.tasks[task.itt]
            if running:
                task.tmf_waiters.append(tmf)
                tmf.remaining += 1
        if tmf.remaining == 0:
            self._send_tmf_response(tmf)

    def _send_tmf_response(self, tmf: _PendingTmf) -> None:
        if self.state is not ConnectionState.FULL_FEATURE:
            return
        exp, mx = self._window()
        self._send(
            TaskManagementResponse(
                itt=tmf.itt,
                response=tmf.response,
                statsn=self._next_statsn(),
                exp_cmdsn=exp,
                max_cmdsn=mx,
            )
        )
        if tmf.then_close_target is not None:
            # TARGET COLD RESET: the response goes out, then every connection drops.
            for s in self.group.sessions_of(tmf.then_close_target):
                self.group.drop_session(s, "target cold reset")
        self._poke()

    def _on_text(self, pdu: TextRequest) -> None:
        session = self.session
        assert session is not None
        if pdu.ttt != ALL_ONES:
            pending = self._text_pending.pop(pdu.ttt, None)
            if pending is None:
                self._reject_raw(self._header, RejectReason.INVALID_PDU_FIELD)
                return
            self._send_text(pdu.itt, pending[1])
            return
        self._text_request += pdu.data
        if pdu.cont:
            if len(self._text_request) > 65536:
                self._text_request.clear()
                self._reject_raw(self._header, RejectReason.PROTOCOL_ERROR)
                return
            exp, mx = self._window()
            self._send(
                TextResponse(
                    itt=pdu.itt,
                    final=False,
                    ttt=self._new_ttt(),
                    statsn=self._next_statsn(),
                    exp_cmdsn=exp,
                    max_cmdsn=mx,
                )
            )
            return
        raw = bytes(self._text_request)
        self._text_request.clear()
        try:
            pairs = decode_text(raw)
        except TextError:
            self._reject_raw(self._header, RejectReason.PROTOCOL_ERROR)
            return
        reply: list[tuple[str, str]] = []
        other: list[tuple[str, str]] = []
        for key, value in pairs:
            if key == "SendTargets":
                reply += self._send_targets(value)
            else:
                other.append((key, value))
        if other:
            neg = Negotiator(self.group.preferences, discovery=session.discovery)
            reply += neg.respond(other, full_feature=True)
            if "MaxRecvDataSegmentLength" in neg.values:
                self.params = neg.params(self.params)
        self._send_text(pdu.itt, encode_text(reply))

    def _send_text(self, itt: int, text: bytes) -> None:
        limit = self.params.initiator_mrdsl
        chunk, rest = text[:limit], text[limit:]
        ttt = ALL_ONES
        if rest:
            ttt = self._new_ttt()
            self._text_pending[ttt] = (itt, rest)
        exp, mx = self._window()
        self._send(
            TextResponse(
                itt=itt,
                final=not rest,
                cont=bool(rest),
                ttt=ttt,
                statsn=self._next_statsn(),
                exp_cmdsn=exp,
                max_cmdsn=mx,
                data=chunk,
            )
        )

    def _addresses(self) -> list[str]:
        out = []
        for portal in self.group.portals:
            host, _, port = portal.rpartition(":")
            if host in ("0.0.0.0", "[::]", "::", "") and self.local_address:
                lhost, _, _ = self.local_address.rpartition(":")
                host = lhost
            out.append(f"{host}:{port}")
        return out

    def _send_targets(self, value: str) -> list[tuple[str, str]]:
        """RFC 7143 13.3 / Appendix C SendTargets."""
        session = self.session
        assert session is not None
        if session.discovery:
            if value == "All":
                chosen = [
                    t for t in self.group.targets.values() if t.admits(session.initiator_name)
                ]
            else:
                t = self.group.targets.get(value)
                chosen = [t] if t is not None and t.admits(session.initiator_name) else []
        else:
            assert session.target is not None
            if value in ("", session.target.name) or value == "All":
                chosen = [session.target]
            else:
                chosen = []
        out: list[tuple[str, str]] = []
        for t in chosen:
            out.append(("TargetName", t.name))
            for addr in self._addresses():
                out.append(("TargetAddress", f"{addr},{t.portal_group_tag}"))
        return out

    def _on_logout(self, pdu: LogoutRequest) -> None:
        session = self.session
        assert session is not None
        result = LogoutResult.CLOSED_SUCCESSFULLY
        if pdu.reason == LogoutReason.REMOVE_CONNECTION_FOR_RECOVERY:
            result = LogoutResult.CONNECTION_RECOVERY_NOT_SUPPORTED
        elif pdu.reason == LogoutReason.CLOSE_CONNECTION and pdu.cid != self.cid:
            result = LogoutResult.CID_NOT_FOUND
        elif pdu.reason not in (LogoutReason.CLOSE_SESSION, LogoutReason.CLOSE_CONNECTION):
            self._reject_raw(self._header, RejectReason.INVALID_PDU_FIELD)
            return
        exp, mx = session.window()
        self._send(
            LogoutResponse(
                itt=pdu.itt,
                response=result,
                statsn=self._next_statsn(),
                exp_cmdsn=exp,
                max_cmdsn=mx,
                time2wait=self.params.default_time2wait,
                time2retain=0,
            )
        )
        if result is LogoutResult.CLOSED_SUCCESSFULLY:
            self._session_event("logout", f"reason {LogoutReason(pdu.reason).name.lower()}")
            session.connection = None
            self.state = ConnectionState.CLOSING
            self.group.connections.discard(self)
            self.group.drop_session(session, "logout")
            self._events.append(ConnectionClosed("logout"))
            self._poke()

    # ---- login ----

    def _login_fail_raw(self, status: LoginStatus, why: str) -> None:
        lg = self._login
        self._send(
            LoginResponse(
                itt=0,
                isid=lg.isid or bytes(6),
                statsn=self._next_statsn(),
                status_class=status >> 8,
                status_detail=status & 0xFF,
            )
        )
        self._session_event("login-failed", why)
        self._close(f"login failed: {why}")

    def _on_login(self, pdu: LoginRequest) -> None:
        lg = self._login
        try:
            self._login_step(pdu)
        except _LoginFailed as exc:
            if lg.first:
                self.statsn = pdu.exp_statsn
            self._send(
                LoginResponse(
                    itt=pdu.itt,
                    isid=pdu.isid,
                    tsih=0,
                    csg=pdu.csg,
                    statsn=self._next_statsn(),
                    exp_cmdsn=pdu.cmdsn,
                    max_cmdsn=pdu.cmdsn,
                    status_class=exc.status >> 8,
                    status_detail=exc.status & 0xFF,
                )
            )
            self._session_event("login-failed", f"{exc.status.name.lower()}: {exc}")
            self._close(f"login failed: {exc}")

    def _login_step(self, pdu: LoginRequest) -> None:
        lg = self._login
        if pdu.version_min > 0:
            raise _LoginFailed(LoginStatus.UNSUPPORTED_VERSION, f"version {pdu.version_min}")
        if pdu.transit and pdu.cont:
            raise _LoginFailed(LoginStatus.INITIATOR_ERROR, "T and C both set")
        if lg.first:
            lg.isid = pdu.isid
            lg.tsih = pdu.tsih
            lg.cid = pdu.cid
            lg.stage = pdu.csg  # an initiator may skip the security stage
            self.cid = pdu.cid
            self.statsn = pdu.exp_statsn  # connection's first StatSN (RFC 7143 11.13.4)
        elif pdu.isid != lg.isid or pdu.tsih != lg.tsih or pdu.cid != lg.cid:
            raise _LoginFailed(
                LoginStatus.INITIATOR_ERROR, "ISID, TSIH or CID changed during login"
            )
        if pdu.csg != lg.stage:
            raise _LoginFailed(
                LoginStatus.INVALID_DURING_LOGIN, f"CSG {pdu.csg} while in stage {lg.stage}"
            )
        if pdu.csg not in (0, 1):
            raise _LoginFailed(LoginStatus.INITIATOR_ERROR, f"CSG {pdu.csg}")
        if pdu.transit and (pdu.nsg not in (1, 3) or pdu.nsg <= pdu.csg):
            raise _LoginFailed(LoginStatus.INITIATOR_ERROR, f"NSG {pdu.nsg} from CSG {pdu.csg}")
        lg.pending_text += pdu.data
        if len(lg.pending_text) > 65536:
            raise _LoginFailed(LoginStatus.INITIATOR_ERROR, "login text too long")
        if pdu.cont:
            # More text follows: acknowledge with an empty response (RFC 7143 6.3).
            self._send(
                LoginResponse(
                    itt=pdu.itt,
                    isid=pdu.isid,
                    csg=pdu.csg,
                    version_max=0,
                    version_active=0,
                    statsn=self._next_statsn(),
                    exp_cmdsn=pdu.cmdsn,
                    max_cmdsn=pdu.cmdsn,
                )
            )
            return
        try:
            pairs = decode_text(bytes(lg.pending_text))
        except TextError as exc:
            raise _LoginFailed(LoginStatus.INITIATOR_ERROR, str(exc)) from exc
        lg.pending_text.clear()
        keys: dict[str, str] = {}
        for k, v in pairs:
            if k in keys:
                raise _LoginFailed(LoginStatus.INITIATOR_ERROR, f"key {k} sent twice")
            keys[k] = v
        reply: list[tuple[str, str]] = []
        if lg.first:
            reply += self._login_first(keys)
        elif "InitiatorName" in keys and keys["InitiatorName"] != lg.initiator_name:
            raise _LoginFailed(LoginStatus.INITIATOR_ERROR, "InitiatorName changed")
        assert lg.negotiator is not None
        transit = pdu.transit
        rest = [
            (k, v)
            for k, v in pairs
            if k not in ("InitiatorName", "TargetName", "SessionType", "InitiatorAlias")
        ]
        if pdu.csg == 0:
            security = [(k, v) for k, v in rest if k == "AuthMethod" or k.startswith("CHAP_")]
            rest = [(k, v) for k, v in rest if not (k == "AuthMethod" or k.startswith("CHAP_"))]
            sec_reply, auth_done = self._security(dict(security))
            reply += sec_reply
            if transit and not auth_done:
                transit = False
        else:
            if lg.auth_required and not lg.authenticated:
                raise _LoginFailed(
                    LoginStatus.AUTHENTICATION_FAILURE, "operational stage before authentication"
                )
            bad = [k for k, _ in rest if k == "AuthMethod" or k.startswith("CHAP_")]
            if bad:
                raise _LoginFailed(
                    LoginStatus.INITIATOR_ERROR, f"{bad[0]} in the operational stage"
                )
        try:
            reply += lg.negotiator.respond(rest)
        except NegotiationError as exc:
            raise _LoginFailed(LoginStatus.INITIATOR_ERROR, str(exc)) from exc
        if pdu.csg == 1 or (transit and pdu.nsg == 3):
            reply += lg.negotiator.declarations()
        lg.first = False
        final = transit and pdu.nsg == 3
        nsg = pdu.nsg if transit else 0
        tsih = 0
        if final:
            tsih = self._login_complete(pdu)
        elif transit:
            lg.stage = pdu.nsg
        exp = pdu.cmdsn
        mx = pdu.cmdsn
        if final and self.session is not None:
            exp, mx = self.session.window()
        # Login PDUs never carry digests, even the final response (RFC 7143 13.1).
        self._send_plain(
            LoginResponse(
                itt=pdu.itt,
                isid=pdu.isid,
                transit=transit,
                csg=pdu.csg,
                nsg=nsg,
                version_max=0,
                version_active=0,
                tsih=tsih,
                statsn=self._next_statsn(),
                exp_cmdsn=exp,
                max_cmdsn=mx,
                data=encode_text(reply),
            )
        )
        if final:
            # Digests apply from the first PDU after the login phase (RFC 7143 13.1).
            self._framer.header_digest = self.params.header_digest
            self._framer.data_digest = self.params.data_digest
            self._framer.max_data_segment = self.params.target_mrdsl
            self.state = ConnectionState.FULL_FEATURE
            self._session_event("login", self._describe_params())
            self._poke()

    def _describe_params(self) -> str:
        p = self.params
        s = self.session
        kind = "discovery" if s is not None and s.discovery else "normal"
        return (
            f"{kind} session, digests {'CRC32C' if p.header_digest else 'None'}/"
            f"{'CRC32C' if p.data_digest else 'None'}, MaxRecvDataSegmentLength "
            f"{p.initiator_mrdsl}, MaxBurstLength {p.max_burst_length}, "
            f"ImmediateData {'Yes' if p.immediate_data else 'No'}, "
            f"InitialR2T {'Yes' if p.initial_r2t else 'No'}"
        )

    def _login_first(self, keys: dict[str, str]) -> list[tuple[str, str]]:
        lg = self._login
        group = self.group
        name = keys.get("InitiatorName")
        if not name:
            raise _LoginFailed(LoginStatus.MISSING_PARAMETER, "InitiatorName missing")
        lg.initiator_name = name
        session_type = keys.get("SessionType", "Normal")
        if session_type not in ("Normal", "Discovery"):
            raise _LoginFailed(
                LoginStatus.SESSION_TYPE_NOT_SUPPORTED, f"SessionType {session_type}"
            )
        lg.discovery = session_type == "Discovery"
        reply: list[tuple[str, str]] = []
        if lg.discovery:
            auth = group.discovery_auth
            lg.auth_required = auth is not None and auth.chap is not None
            if auth is not None and not auth.admits(name):
                raise _LoginFailed(
                    LoginStatus.AUTHORIZATION_FAILURE, f"initiator {name} not admitted to discovery"
                )
        else:
            tname = keys.get("TargetName")
            if not tname:
                raise _LoginFailed(LoginStatus.MISSING_PARAMETER, "TargetName missing")
            target = group.targets.get(tname)
            if target is None:
                raise _LoginFailed(LoginStatus.NOT_FOUND, f"no target {tname}")
            lg.target = target
            if not target.admits(name):
                raise _LoginFailed(
                    LoginStatus.AUTHORIZATION_FAILURE, f"initiator {name} not in the ACL of {tname}"
                )
            lg.auth_required = target.chap is not None
            reply.append(("TargetPortalGroupTag", str(target.portal_group_tag)))
            if target.alias:
                reply.append(("TargetAlias", target.alias))
        if lg.tsih:
            existing = group.by_tsih.get(lg.tsih)
            if (
                existing is None
                or existing.isid != lg.isid
                or existing.initiator_name != name
                or existing.target is not lg.target
            ):
                raise _LoginFailed(
                    LoginStatus.SESSION_DOES_NOT_EXIST, f"no session with TSIH {lg.tsih}"
                )
            old = existing.connection
            if old is not None and old.cid != lg.cid:
                raise _LoginFailed(LoginStatus.TOO_MANY_CONNECTIONS, "MaxConnections is 1")
            lg.existing = existing
        lg.negotiator = Negotiator(group.preferences, discovery=lg.discovery)
        return reply

    def _security(self, keys: dict[str, str]) -> tuple[list[tuple[str, str]], bool]:
        """Security stage keys (RFC 7143 12): returns the reply and whether
        authentication is complete."""
        lg = self._login
        reply: list[tuple[str, str]] = []
        creds = lg.target if not lg.discovery else self.group.discovery_auth
        if "AuthMethod" in keys:
            offered = keys["AuthMethod"].split(",")
            if lg.auth_required:
                if "CHAP" not in offered:
                    raise _LoginFailed(
                        LoginStatus.AUTHENTICATION_FAILURE,
                        "CHAP required, initiator offers " + keys["AuthMethod"],
                    )
                lg.auth_method = "CHAP"
                assert creds is not None and creds.chap is not None
                lg.chap = ChapTarget(creds.chap, creds.mutual_chap, self.group.random_bytes)
            elif "None" in offered:
                lg.auth_method = "None"
                lg.authenticated = True
            else:
                raise _LoginFailed(
                    LoginStatus.AUTHENTICATION_FAILURE,
                    "no acceptable AuthMethod in " + keys["AuthMethod"],
                )
            reply.append(("AuthMethod", lg.auth_method))
        elif lg.auth_method == "" and not lg.auth_required:
            lg.authenticated = True  # RFC 7143 12: AuthMethod omitted means None
        try:
            if "CHAP_A" in keys:
                if lg.chap is None:
                    raise _LoginFailed(
                        LoginStatus.INITIATOR_ERROR, "CHAP_A without AuthMethod=CHAP"
                    )
                reply += lg.chap.select_algorithm(keys["CHAP_A"])
            if "CHAP_N" in keys or "CHAP_R" in keys:
                if lg.chap is None:
                    raise _LoginFailed(
                        LoginStatus.INITIATOR_ERROR, "CHAP_R without AuthMethod=CHAP"
                    )
                reply += lg.chap.verify(keys)
                lg.authenticated = True
        except ChapError as exc:
            raise _LoginFailed(LoginStatus.AUTHENTICATION_FAILURE, str(exc)) from exc
        if (
            lg.auth_required
            and not lg.authenticated
            and "AuthMethod" not in keys
            and lg.chap is None
        ):
            raise _LoginFailed(
                LoginStatus.AUTHENTICATION_FAILURE, "authentication required, no AuthMethod"
            )
        return reply, lg.authenticated

    def _login_complete(self, pdu: LoginRequest) -> int:
        lg = self._login
        group = self.group
        assert lg.negotiator is not None
        if lg.auth_required and not lg.authenticated:
            raise _LoginFailed(LoginStatus.AUTHENTICATION_FAILURE, "not authenticated")
        if lg.existing is not None:
            session = lg.existing
            if session.closed:
                raise _LoginFailed(LoginStatus.SESSION_DOES_NOT_EXIST, "session ended during login")
            old = session.connection
            self.params = lg.negotiator.params(session.params)
            if old is not None:
                # Connection reinstatement (RFC 7143 6.3.4): the old connection's tasks end.
                session.connection = None
                for task in list(session.tasks.values()):
                    _abort_task(task)
                session.tasks.clear()
                old._close("connection reinstated")
            session.connection = self
            self.session = session
            return session.tsih
        params = lg.negotiator.params()
        target_name = lg.target.name if lg.target else ""
        key = (lg.initiator_name, lg.isid, target_name)
        old_session = group.sessions.get(key)
        reinstated = False
        if old_session is not None and not lg.discovery:
            group.drop_session(old_session, "session reinstated")  # RFC 7143 6.3.5
            reinstated = True
        tsih = group.new_tsih()
        session = Session(
            group=group,
            tsih=tsih,
            isid=lg.isid,
            initiator_name=lg.initiator_name,
            target=lg.target,
            params=params,
            depth=group.queue_depth,
            exp_cmdsn=pdu.cmdsn,
            connection=self,
        )
        if not lg.discovery:
            group.sessions[key] = session
        group.by_tsih[tsih] = session
        self.session = session
        self.params = params
        if reinstated:
            self._session_event("reinstated", "an existing session with this ISID was closed")
        return tsih
