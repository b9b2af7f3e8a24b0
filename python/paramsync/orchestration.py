"""Orchestration: sync groups, syncs, plans, status and the error channel.

Every call is one (or, for status, two) RPCs to the coordinator; nothing is
cached here, so a :class:`Coordinator` is cheap and may be shared by threads.
Results that are protobuf messages come back as dicts in the protobuf JSON
mapping (lowerCamelCase keys, enum values by name, int64 values as strings).
"""

import ctypes
import dataclasses
import json
import queue
import threading

from . import _lib

__all__ = ["Coordinator", "ErrorEvent", "SyncReport"]

_COMM_TYPES = {
    "broadcast": "COMM_TYPE_BROADCAST",
    "p2p": "COMM_TYPE_P2P",
}

_REGROUP_COMM_TYPES = {
    "alltoall": "REGROUP_COMM_TYPE_ALLTOALL",
    "allgather": "REGROUP_COMM_TYPE_ALLGATHER",
}


def _field(message, camel, snake, default=None):
    if camel in message:
        return message[camel]
    return message.get(snake, default)


@dataclasses.dataclass(frozen=True)
class SyncReport:
    """The result of one sync (a paramsync.v1.SyncResponse).

    version: the weights version the inference ranks now hold.
    tensors: destination tensors written; bytes: bytes written into them.
    duration_ms: wall time of the whole sync, as the coordinator saw it.
    stages: list of (name, duration_ms), e.g. [("stage1", 1.2), ("stage2", 0.8)].
    waves: staging waves the sync ran in; peak_staging_bytes: the most staging
    memory any agent held at once (see create_group's staging_budget_bytes).
    """

    version: int
    tensors: int
    bytes: int
    duration_ms: float
    stages: list
    waves: int = 1
    peak_staging_bytes: int = 0

    @classmethod
    def from_json(cls, message):
        return cls(
            version=int(message.get("version", 0)),
            tensors=int(message.get("tensors", 0)),
            bytes=int(message.get("bytes", 0)),
            duration_ms=float(_field(message, "durationMs", "duration_ms", 0.0)),
            stages=[(s.get("name", ""), float(_field(s, "durationMs", "duration_ms", 0.0)))
                    for s in message.get("stages", [])],
            waves=int(message.get("waves", 1)),
            peak_staging_bytes=int(_field(message, "peakStagingBytes", "peak_staging_bytes", 0)))


@dataclasses.dataclass(frozen=True)
class ErrorEvent:
    """An event of the error channel (a paramsync.v1.ErrorEvent).

    code: gRPC status code name (e.g. "FAILED_PRECONDITION"); code_value: its number.
    agent_id and group are "" and version 0 when the event is not tied to one.
    """

    time_unix_ms: int
    code: str
    code_value: int
    message: str
    agent_id: str
    group: str
    version: int

    @classmethod
    def from_json(cls, message):
        code = int(message.get("code", 0))
        return cls(
            time_unix_ms=int(_field(message, "timeUnixMs", "time_unix_ms", 0)),
            code=_lib.STATUS_CODES.get(code, "CODE_%d" % code),
            code_value=code,
            message=message.get("message", ""),
            agent_id=_field(message, "agentId", "agent_id", ""),
            group=message.get("group", ""),
            version=int(message.get("version", 0)))


class Coordinator:
    """A client of the coordinator at ``address`` (``host:port``).

    Methods raise :class:`paramsync.ParamsyncError` with the coordinator's
    status (e.g. NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE, DEADLINE_EXCEEDED)
    and ValueError for bad arguments. Timeouts are in seconds.
    """

    def __init__(self, address):
        if not address:
            raise ValueError("address must be a non-empty host:port")
        self.address = address
        self._address = _lib.encode(address)

    def __repr__(self):
        return "<paramsync.Coordinator %s>" % self.address

    def _call_for_json(self, function, *args):
        out = ctypes.c_void_p()
        _lib.check(function(*args, ctypes.byref(out)))
        return json.loads(_lib.take_string(out.value))

    def create_group(self, name, src_model, dst_model, comm_type="broadcast",
                     free_groups=False, hep=False, regroup_comm_type="alltoall",
                     staging_budget_bytes=0, timeout=10.0):
        """Creates sync group ``name`` from trainer ``src_model`` to inference ``dst_model``.

        comm_type: "broadcast" or "p2p" (or a COMM_TYPE_* name). free_groups:
        destroy the agents' collective groups after every sync (by default they
        are kept for the next one). hep: hyper expert parallel (routed-expert
        tensors, registered with expert_dims, are regrouped by the trainer
        first), with regroup_comm_type "alltoall" or "allgather".
        staging_budget_bytes: staging per endpoint of syncs that stage (0: the
        default, 256 MiB; negative: no bound). Idempotent for an identical
        spec. Models need not be registered yet: they are checked at sync time.

        Blocks for one RPC. Raises ParamsyncError: INVALID_ARGUMENT (bad name,
        same model twice), ALREADY_EXISTS (the name exists with another spec).
        """
        comm = _COMM_TYPES.get(comm_type, comm_type)
        if comm not in _COMM_TYPES.values():
            raise ValueError("comm_type must be 'broadcast' or 'p2p', got %r" % (comm_type,))
        regroup = _REGROUP_COMM_TYPES.get(regroup_comm_type, regroup_comm_type)
        if regroup not in _REGROUP_COMM_TYPES.values():
            raise ValueError("regroup_comm_type must be 'alltoall' or 'allgather', got %r"
                             % (regroup_comm_type,))
        spec = {"name": name, "src_model": src_model, "dst_model": dst_model,
                "comm_type": comm, "free_groups": bool(free_groups), "hep": bool(hep),
                "regroup_comm_type": regroup,
                "staging_budget_bytes": str(int(staging_budget_bytes))}
        _lib.check(_lib.library().paramsync_create_group(
            self._address, _lib.encode(json.dumps(spec)), _lib.timeout_ms(timeout)))

    def sync(self, group, timeout=300.0, dry_run=False, warmup=False):
        """Runs one sync of every parameter of ``group``'s trainer to its inference ranks.

        Blocks until every transfer finished and the new version is committed on
        every inference rank, or the sync failed (failures are also published on
        the error channel). Returns a :class:`SyncReport`.

        dry_run: set up the collective groups only; no data moves and the
        version stays. warmup: first run every transfer once without tensors,
        so connection and communicator setup is paid before the real sync.

        Raises ParamsyncError: NOT_FOUND (no such group), FAILED_PRECONDITION
        (models missing or incomplete, mismatched parameter names, dtypes or
        shapes; the message names the tensor), DEADLINE_EXCEEDED, UNAVAILABLE
        or ABORTED (an agent failed).
        """
        request = {"group": group, "dry_run": bool(dry_run), "warmup": bool(warmup)}
        return SyncReport.from_json(self._call_for_json(
            _lib.library().paramsync_sync, self._address, _lib.encode(json.dumps(request)),
            _lib.timeout_ms(timeout)))

    def plan(self, group, timeout=10.0):
        """The plan a sync of ``group`` would run now: a paramsync.v1.SyncPlan dict.

        Keys in the protobuf JSON mapping, e.g. ``commType``, ``tpNumMapping``,
        ``stage1`` (list of {"src", "dst"} in global sync ranks), ``stage2``,
        ``collectiveGroups``. Checks the plan down to parameters as a sync would,
        so it raises the same errors as :meth:`sync` short of running it.
        """
        return self._call_for_json(_lib.library().paramsync_get_plan, self._address,
                                   _lib.encode(group), _lib.timeout_ms(timeout))

    def status(self, timeout=10.0):
        """Registered agents and endpoints.

        Returns ``{"agents": ListAgentsResponse, "endpoints": ListEndpointsResponse}``
        as dicts (e.g. ``status()["endpoints"]["endpoints"][i]["version"]`` is a
        string). Blocks for two RPCs.
        """
        return self._call_for_json(_lib.library().paramsync_status, self._address,
                                   _lib.timeout_ms(timeout))

    def watch_errors(self, timeout, callback):
        """Calls ``callback(event)`` with each :class:`ErrorEvent` published from now on.

        Blocks until ``callback`` returns a true value (stop) or ``timeout`` seconds
        passed; returns the number of events delivered. An exception raised by
        ``callback`` stops the watch and is re-raised here. Raises ParamsyncError
        when the stream fails (e.g. UNAVAILABLE); reaching the timeout is not an
        error.
        """
        delivered = [0]
        raised = []

        def on_event(event_json, _user):
            try:
                event = ErrorEvent.from_json(json.loads(event_json.decode("utf-8")))
                delivered[0] += 1
                return 1 if callback(event) else 0
            except BaseException as e:  # Never let an exception cross the C frames.
                raised.append(e)
                return 1

        c_callback = _lib.EVENT_CALLBACK(on_event)
        rc = _lib.library().paramsync_watch_errors(
            self._address, _lib.timeout_ms(timeout), c_callback, None)
        if raised:
            raise raised[0]
        _lib.check(rc)
        return delivered[0]

    def errors(self, timeout):
        """Yields each :class:`ErrorEvent` published during the next ``timeout`` seconds.

        A generator: events are yielded as they arrive (the watch runs in a
        background thread); it ends when ``timeout`` passed, and raises
        ParamsyncError at the end if the stream failed. Closing it early stops the
        watch at the next event or at the timeout, whichever comes first.

        The watch starts at the first ``next()``; to catch events of something you
        are about to do, see :meth:`collect_errors`.
        """
        watcher = _Watcher(self, timeout)
        try:
            while True:
                item = watcher.events.get()
                if item is _Watcher.DONE:
                    break
                yield item
            if watcher.error is not None:
                raise watcher.error
        finally:
            watcher.stop()

    def collect_errors(self, timeout):
        """Starts watching the error channel now, in a background thread.

        Returns an object whose ``result()`` blocks until ``timeout`` seconds
        passed since this call and returns the list of :class:`ErrorEvent` seen
        (raising ParamsyncError if the stream failed), and whose ``stop()`` makes
        the watch end at the next event.
        """
        return _Watcher(self, timeout)


class _Watcher:
    DONE = object()

    def __init__(self, coordinator, timeout):
        self.events = queue.Queue()
        self._stop = threading.Event()
        self.error = None
        self._collected = []
        self._thread = threading.Thread(
            target=self._run, args=(coordinator, timeout), daemon=True,
            name="paramsync-watch-errors")
        self._thread.start()

    def _run(self, coordinator, timeout):
        def on_event(event):
            self._collected.append(event)
            self.events.put(event)
            return self._stop.is_set()

        try:
            coordinator.watch_errors(timeout, on_event)
        except BaseException as e:
            self.error = e
        finally:
            self.events.put(_Watcher.DONE)

    def result(self):
        self._thread.join()
        if self.error is not None:
            raise self.error
        return list(self._collected)

    def stop(self):
        self._stop.set()
