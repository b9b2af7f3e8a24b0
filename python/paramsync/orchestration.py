"""Orchestration: sync groups, syncs (every N steps), plans, status and the error channel.

What a driver script or a trainer's rank 0 calls::

    c = paramsync.Coordinator("coordinator:50051")
    c.create_group("actor_to_vllm", "policy_trainer", "policy_vllm")
    schedule = c.sync_every("actor_to_vllm", n_steps=4)
    for step in range(steps):
        train_step()
        schedule.step()                       # syncs after every 4th step
    for event in c.watch_errors(timeout=60):  # the error channel
        print(event.code, event.message)

Every call is one (or, for status, two) RPCs to the coordinator; nothing is
cached here, so a :class:`Coordinator` is cheap and may be shared by threads.
Plans and status come back as dicts in the protobuf JSON mapping (lowerCamelCase
keys, enum values by name, int64 values as strings); reports, progress events,
groups and error events as the dataclasses below.
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import queue
import threading
import time
from typing import (Any, Callable, Dict, Iterator, List, Mapping, Optional, Tuple, Union,
                    overload)

from . import _lib

__all__ = ["Coordinator", "ErrorEvent", "GroupStatus", "SyncProgress", "SyncReport",
           "SyncSchedule"]

_COMM_TYPES = {
    "broadcast": "COMM_TYPE_BROADCAST",
    "p2p": "COMM_TYPE_P2P",
}

_REGROUP_COMM_TYPES = {
    "alltoall": "REGROUP_COMM_TYPE_ALLTOALL",
    "allgather": "REGROUP_COMM_TYPE_ALLGATHER",
}

_STRATEGIES = {
    "chatlearn": "SYNC_STRATEGY_KIND_CHATLEARN",
    "direct": "SYNC_STRATEGY_KIND_DIRECT",
}

_LORA_MODES = {
    "merge": "LORA_MODE_MERGE",
    "adapters_only": "LORA_MODE_ADAPTERS_ONLY",
}

_PHASE_PREFIX = "SYNC_PHASE_"

Json = Dict[str, Any]


def _field(message: Mapping[str, Any], camel: str, snake: str, default: Any = None) -> Any:
    if camel in message:
        return message[camel]
    return message.get(snake, default)


def _code_name(code: int) -> str:
    return _lib.STATUS_CODES.get(code, "CODE_%d" % code)


def _name_of(value: str, names: Mapping[str, str]) -> str:
    """The short name (e.g. "p2p") of a proto enum value name; the first for an unset one."""
    for short, full in names.items():
        if full == value:
            return short
    return next(iter(names))


@dataclasses.dataclass(frozen=True)
class SyncReport:
    """The result of one sync (a paramsync.v1.SyncResponse).

    version: the weights version the inference ranks now hold.
    tensors: destination tensors written; bytes: bytes written into them.
    duration_ms: wall time of the whole sync, as the coordinator saw it.
    stages: list of (name, duration_ms), e.g. [("stage1", 1.2), ("stage2", 0.8)].
    waves: staging waves the sync ran in; peak_staging_bytes: the most staging
    memory any agent held at once (see create_group's staging_budget_bytes).
    transfer_round_ms, commit_round_ms: the coordinator's rounds of calls to the
    agents; regroup_ms: the slowest agent's routed-expert regroup (HEP).
    validated: every destination tensor was checked against its source before
    the commit (sync's or create_group's validate), in validate_ms.
    wire_bytes: bytes the plan moved from one rank to another (each receiver
    counted): equal to bytes for the "direct" strategy, more for "chatlearn"
    where receivers slice whole shards.
    lora_base_weights: base weights the trainer's agents merged LoRA adapters
    into for the sync (groups with lora_mode "merge"), in lora_merge_ms, and
    restored after it in lora_restore_ms; 0 otherwise.
    """

    version: int
    tensors: int
    bytes: int
    duration_ms: float
    stages: List[Tuple[str, float]]
    waves: int = 1
    peak_staging_bytes: int = 0
    transfer_round_ms: float = 0.0
    commit_round_ms: float = 0.0
    regroup_ms: float = 0.0
    validated: bool = False
    validate_ms: float = 0.0
    wire_bytes: int = 0
    lora_base_weights: int = 0
    lora_merge_ms: float = 0.0
    lora_restore_ms: float = 0.0

    @classmethod
    def from_json(cls, message: Mapping[str, Any]) -> "SyncReport":
        """From a paramsync.v1.SyncResponse in the protobuf JSON mapping."""
        return cls(
            version=int(message.get("version", 0)),
            tensors=int(message.get("tensors", 0)),
            bytes=int(message.get("bytes", 0)),
            duration_ms=float(_field(message, "durationMs", "duration_ms", 0.0)),
            stages=[(s.get("name", ""), float(_field(s, "durationMs", "duration_ms", 0.0)))
                    for s in message.get("stages", [])],
            waves=int(message.get("waves", 1)),
            peak_staging_bytes=int(_field(message, "peakStagingBytes", "peak_staging_bytes", 0)),
            transfer_round_ms=float(_field(message, "transferRoundMs", "transfer_round_ms", 0.0)),
            commit_round_ms=float(_field(message, "commitRoundMs", "commit_round_ms", 0.0)),
            regroup_ms=float(_field(message, "regroupMs", "regroup_ms", 0.0)),
            validated=bool(message.get("validated", False)),
            validate_ms=float(_field(message, "validateMs", "validate_ms", 0.0)),
            wire_bytes=int(_field(message, "wireBytes", "wire_bytes", 0)),
            lora_base_weights=int(_field(message, "loraBaseWeights", "lora_base_weights", 0)),
            lora_merge_ms=float(_field(message, "loraMergeMs", "lora_merge_ms", 0.0)),
            lora_restore_ms=float(_field(message, "loraRestoreMs", "lora_restore_ms", 0.0)))


@dataclasses.dataclass(frozen=True)
class SyncProgress:
    """One progress event of a sync (a paramsync.v1.SyncProgress).

    phase: "planning", "setting_up", "warming_up", "transferring", "validating",
    "committing" or "done" (then ``report`` is set). bytes_done of bytes_total destination
    bytes are written (those of the agents_done agents that finished their
    transfers); version is the version the sync commits (0 before
    "transferring"); elapsed_ms counts from when the coordinator took the sync.
    """

    group: str
    phase: str
    version: int
    bytes_total: int
    bytes_done: int
    agents_total: int
    agents_done: int
    elapsed_ms: float
    report: Optional[SyncReport] = None

    @classmethod
    def from_json(cls, message: Mapping[str, Any]) -> "SyncProgress":
        """From a paramsync.v1.SyncProgress in the protobuf JSON mapping."""
        phase = str(message.get("phase", "SYNC_PHASE_UNSPECIFIED"))
        report = message.get("report")
        return cls(
            group=message.get("group", ""),
            phase=phase[len(_PHASE_PREFIX):].lower() if phase.startswith(_PHASE_PREFIX)
            else phase.lower(),
            version=int(message.get("version", 0)),
            bytes_total=int(_field(message, "bytesTotal", "bytes_total", 0)),
            bytes_done=int(_field(message, "bytesDone", "bytes_done", 0)),
            agents_total=int(_field(message, "agentsTotal", "agents_total", 0)),
            agents_done=int(_field(message, "agentsDone", "agents_done", 0)),
            elapsed_ms=float(_field(message, "elapsedMs", "elapsed_ms", 0.0)),
            report=SyncReport.from_json(report) if report else None)


@dataclasses.dataclass(frozen=True)
class GroupStatus:
    """A sync group as the coordinator holds it (a paramsync.v1.SyncGroupStatus).

    name, src_model, dst_model, comm_type ("broadcast"/"p2p"), hep,
    regroup_comm_type ("alltoall"/"allgather"), free_groups,
    staging_budget_bytes, validate, strategy ("chatlearn"/"direct"), lora_mode
    ("merge"/"adapters_only"): its spec.
    version: committed by every inference
    endpoint (0: never synced). syncing: a sync is running now.
    last_sync_unix_ms, last_sync_code (a status code name, "OK" when it
    succeeded) and last_sync_error: the last sync that ended since the
    coordinator started (0, "OK" and "" before one). last_report: the last
    committed sync's report, or None.
    """

    name: str
    src_model: str
    dst_model: str
    comm_type: str
    hep: bool
    regroup_comm_type: str
    free_groups: bool
    staging_budget_bytes: int
    version: int
    syncing: bool
    last_sync_unix_ms: int
    last_sync_code: str
    last_sync_error: str
    last_report: Optional[SyncReport]
    validate: bool = False
    strategy: str = "chatlearn"
    lora_mode: str = "merge"

    @classmethod
    def from_json(cls, message: Mapping[str, Any]) -> "GroupStatus":
        """From a paramsync.v1.SyncGroupStatus in the protobuf JSON mapping."""
        spec = message.get("spec", {})
        report = _field(message, "lastReport", "last_report")
        return cls(
            name=spec.get("name", ""),
            src_model=_field(spec, "srcModel", "src_model", ""),
            dst_model=_field(spec, "dstModel", "dst_model", ""),
            comm_type=_name_of(_field(spec, "commType", "comm_type", ""), _COMM_TYPES),
            hep=bool(spec.get("hep", False)),
            regroup_comm_type=_name_of(_field(spec, "regroupCommType", "regroup_comm_type", ""),
                                       _REGROUP_COMM_TYPES),
            free_groups=bool(_field(spec, "freeGroups", "free_groups", False)),
            staging_budget_bytes=int(
                _field(spec, "stagingBudgetBytes", "staging_budget_bytes", 0)),
            version=int(message.get("version", 0)),
            syncing=bool(message.get("syncing", False)),
            last_sync_unix_ms=int(_field(message, "lastSyncUnixMs", "last_sync_unix_ms", 0)),
            last_sync_code=_code_name(int(_field(message, "lastSyncCode", "last_sync_code", 0))),
            last_sync_error=_field(message, "lastSyncError", "last_sync_error", ""),
            last_report=SyncReport.from_json(report) if report else None,
            validate=bool(spec.get("validate", False)),
            strategy=_name_of(spec.get("strategy", ""), _STRATEGIES),
            lora_mode=_name_of(_field(spec, "loraMode", "lora_mode", ""), _LORA_MODES))


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
    def from_json(cls, message: Mapping[str, Any]) -> "ErrorEvent":
        """From a paramsync.v1.ErrorEvent in the protobuf JSON mapping."""
        code = int(message.get("code", 0))
        return cls(
            time_unix_ms=int(_field(message, "timeUnixMs", "time_unix_ms", 0)),
            code=_code_name(code),
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

    def __init__(self, address: str) -> None:
        if not address:
            raise ValueError("address must be a non-empty host:port")
        self.address = address
        self._address = _lib.encode(address)

    def __repr__(self) -> str:
        return "<paramsync.Coordinator %s>" % self.address

    def _call_for_json(self, function: Any, *args: Any) -> Json:
        out = ctypes.c_void_p()
        _lib.check(function(*args, ctypes.byref(out)))
        result: Json = json.loads(_lib.take_string(out.value))
        return result

    def create_group(self, name: str, src_model: str, dst_model: str,
                     comm_type: str = "broadcast", free_groups: bool = False, hep: bool = False,
                     regroup_comm_type: str = "alltoall", staging_budget_bytes: int = 0,
                     validate: bool = False, strategy: str = "chatlearn",
                     lora_mode: str = "merge", timeout: float = 10.0) -> None:
        """Creates sync group ``name`` from trainer ``src_model`` to inference ``dst_model``.

        comm_type: "broadcast" or "p2p" (or a COMM_TYPE_* name). free_groups:
        destroy the agents' collective groups after every sync (by default they
        are kept for the next one). hep: hyper expert parallel (routed-expert
        tensors, registered with expert_dims, are regrouped by the trainer
        first), with regroup_comm_type "alltoall" or "allgather".
        staging_budget_bytes: staging per endpoint of syncs that stage (0: the
        default, 256 MiB; negative: no bound). validate: validate every sync of
        the group (see :meth:`sync`). strategy: "chatlearn" (the seed's plan:
        inference TP a multiple of the trainer's, whole shards sent, receivers
        slice) or "direct" (any TP and PP on either side, each inference rank
        receiving exactly its bytes in logical coordinates; comm_type and
        regroup_comm_type then do not apply). lora_mode: what the trainer's
        LoRA adapters (registered with ``lora``, see :mod:`paramsync.lora`)
        do in a sync: "merge" (each trainer rank's agent merges them into their
        base weights before the transfer and restores the base weights bit
        for bit after it, whether the sync committed or failed; adapters do
        not sync) or "adapters_only" (only adapter matrices sync, into the
        inference ranks' registered adapters; base weights stay as they are);
        no effect on models without adapters. Idempotent for an identical spec.
        Models need not be registered yet: they are checked at sync time.

        Blocks for one RPC. Raises ValueError for a comm type, strategy or LoRA
        mode not listed;
        ParamsyncError: INVALID_ARGUMENT (bad name, same model twice),
        ALREADY_EXISTS (the name exists with another spec).
        """
        comm = _COMM_TYPES.get(comm_type, comm_type)
        if comm not in _COMM_TYPES.values():
            raise ValueError("comm_type must be 'broadcast' or 'p2p', got %r" % (comm_type,))
        regroup = _REGROUP_COMM_TYPES.get(regroup_comm_type, regroup_comm_type)
        if regroup not in _REGROUP_COMM_TYPES.values():
            raise ValueError("regroup_comm_type must be 'alltoall' or 'allgather', got %r"
                             % (regroup_comm_type,))
        kind = _STRATEGIES.get(strategy, strategy)
        if kind not in _STRATEGIES.values():
            raise ValueError("strategy must be 'chatlearn' or 'direct', got %r" % (strategy,))
        mode = _LORA_MODES.get(lora_mode, lora_mode)
        if mode not in _LORA_MODES.values():
            raise ValueError("lora_mode must be 'merge' or 'adapters_only', got %r"
                             % (lora_mode,))
        spec = {"name": name, "src_model": src_model, "dst_model": dst_model,
                "comm_type": comm, "free_groups": bool(free_groups), "hep": bool(hep),
                "regroup_comm_type": regroup,
                "staging_budget_bytes": str(int(staging_budget_bytes)),
                "validate": bool(validate)}
        # Defaults left unset, so specs made before these fields existed match.
        if kind != _STRATEGIES["chatlearn"]:
            spec["strategy"] = kind
        if mode != _LORA_MODES["merge"]:
            spec["lora_mode"] = mode
        _lib.check(_lib.library().paramsync_create_group(
            self._address, _lib.encode(json.dumps(spec)), _lib.timeout_ms(timeout)))

    def sync(self, group: str, timeout: float = 300.0, dry_run: bool = False,
             warmup: bool = False,
             progress: Optional[Callable[[SyncProgress], None]] = None,
             validate: bool = False) -> SyncReport:
        """Runs one sync of every parameter of ``group``'s trainer to its inference ranks.

        Blocks until every transfer finished and the new version is committed on
        every inference rank, or the sync failed (failures are also published on
        the error channel). Returns a :class:`SyncReport`.

        dry_run: set up the collective groups only; no data moves and the
        version stays. warmup: first run every transfer once without tensors,
        so connection and communicator setup is paid before the real sync.
        progress: called on this thread with each :class:`SyncProgress` as the
        coordinator reports it (phases, and bytes as agents finish); an
        exception it raises stops further calls and is raised once the sync
        succeeded (the sync itself goes on; its own error comes first).
        validate: before the commit, the agents digest every destination tensor
        and the source regions it holds, where they live (GPU or host), and the
        coordinator compares them (also when the group's spec validates); the
        report's validate_ms says what it cost. A tensor that differs fails the
        sync closed: nothing is committed and DATA_LOSS names the tensors.

        Raises ParamsyncError: NOT_FOUND (no such group), FAILED_PRECONDITION
        (models missing or incomplete, mismatched parameter names, dtypes or
        shapes; the message names the tensor), DEADLINE_EXCEEDED, UNAVAILABLE
        or ABORTED (an agent failed), DATA_LOSS (validation found tensors that
        differ from their source).
        """
        request = _lib.encode(json.dumps(
            {"group": group, "dry_run": bool(dry_run), "warmup": bool(warmup),
             "validate": bool(validate)}))
        if progress is None:
            return SyncReport.from_json(self._call_for_json(
                _lib.library().paramsync_sync, self._address, request,
                _lib.timeout_ms(timeout)))
        observer = progress  # Not None from here on, in the closure too.
        raised: List[BaseException] = []

        def on_progress(event_json: bytes, _user: Any) -> int:
            try:
                if not raised:
                    observer(SyncProgress.from_json(json.loads(event_json.decode("utf-8"))))
            except BaseException as e:  # Never let an exception cross the C frames.
                raised.append(e)
            return 0

        c_callback = _lib.EVENT_CALLBACK(on_progress)
        report = self._call_for_json(_lib.library().paramsync_sync_with_progress,
                                     self._address, request, _lib.timeout_ms(timeout),
                                     c_callback, None)
        if raised:
            raise raised[0]
        return SyncReport.from_json(report)

    def sync_every(self, group: str, n_steps: int, *, timeout: float = 300.0,
                   on_report: Optional[Callable[[int, SyncReport], None]] = None
                   ) -> "SyncSchedule":
        """A :class:`SyncSchedule` that syncs ``group`` after every ``n_steps`` steps.

        ``on_report(step, report)`` (optional) is told each sync's report.
        Raises ValueError unless n_steps >= 1. Nothing is called yet.
        """
        return SyncSchedule(self, group, n_steps, timeout=timeout, on_report=on_report)

    def plan(self, group: str, timeout: float = 10.0) -> Json:
        """The plan a sync of ``group`` would run now: a paramsync.v1.SyncPlan dict.

        Keys in the protobuf JSON mapping, e.g. ``commType``, ``tpNumMapping``,
        ``stage1`` (list of {"src", "dst"} in global sync ranks), ``stage2``,
        ``collectiveGroups``. Checks the plan down to parameters as a sync would,
        so it raises the same errors as :meth:`sync` short of running it.
        """
        return self._call_for_json(_lib.library().paramsync_get_plan, self._address,
                                   _lib.encode(group), _lib.timeout_ms(timeout))

    def status(self, timeout: float = 10.0) -> Json:
        """Registered agents and endpoints.

        Returns ``{"agents": ListAgentsResponse, "endpoints": ListEndpointsResponse}``
        as dicts (e.g. ``status()["endpoints"]["endpoints"][i]["version"]`` is a
        string; each agent has ``heartbeatAgeMs``). Blocks for two RPCs. Raises
        ParamsyncError (e.g. UNAVAILABLE).
        """
        return self._call_for_json(_lib.library().paramsync_status, self._address,
                                   _lib.timeout_ms(timeout))

    def list_groups(self, timeout: float = 10.0) -> List[GroupStatus]:
        """Every sync group, by name, with its version and how its last sync went.

        Blocks for one RPC (never for a sync in progress). Raises ParamsyncError
        (e.g. UNAVAILABLE).
        """
        groups = self._call_for_json(_lib.library().paramsync_list_groups, self._address,
                                     _lib.timeout_ms(timeout))
        return [GroupStatus.from_json(g) for g in groups.get("groups", [])]

    @overload
    def watch_errors(self, timeout: float, *,
                     since: Optional[float] = None) -> Iterator[ErrorEvent]: ...

    @overload
    def watch_errors(self, timeout: float, callback: Callable[[ErrorEvent], Any], *,
                     since: Optional[float] = None) -> int: ...

    def watch_errors(self, timeout: float,
                     callback: Optional[Callable[[ErrorEvent], Any]] = None, *,
                     since: Optional[float] = None) -> Union[Iterator[ErrorEvent], int]:
        """The error events published from now on, for ``timeout`` seconds.

        since: first the events the coordinator still holds (its last 256)
        that were published at or after this time (Unix seconds, as
        ``time.time()``; the coordinator's clock), e.g. to catch up after a
        reconnect.

        Without ``callback``: an iterator (see :meth:`errors`). With one:
        calls ``callback(event)`` with each :class:`ErrorEvent` and blocks until
        it returns a true value (stop) or ``timeout`` seconds passed; returns
        the number of events delivered. An exception raised by ``callback``
        stops the watch and is re-raised here. Raises ParamsyncError when the
        stream fails (e.g. UNAVAILABLE); reaching the timeout is not an error.
        """
        if callback is None:
            return self.errors(timeout, since=since)
        observer = callback  # Not None from here on, in the closure too.
        delivered = [0]
        raised: List[BaseException] = []

        def on_event(event_json: bytes, _user: Any) -> int:
            try:
                event = ErrorEvent.from_json(json.loads(event_json.decode("utf-8")))
                delivered[0] += 1
                return 1 if observer(event) else 0
            except BaseException as e:  # Never let an exception cross the C frames.
                raised.append(e)
                return 1

        c_callback = _lib.EVENT_CALLBACK(on_event)
        rc = _lib.library().paramsync_watch_errors_since(
            self._address, 0 if since is None else max(1, int(since * 1000)),
            _lib.timeout_ms(timeout), c_callback, None)
        if raised:
            raise raised[0]
        _lib.check(rc)
        return delivered[0]

    def errors(self, timeout: float, since: Optional[float] = None) -> Iterator[ErrorEvent]:
        """Yields each :class:`ErrorEvent` published during the next ``timeout`` seconds.

        With ``since`` (Unix seconds), first those still held that were
        published since then (see :meth:`watch_errors`).

        A generator: events are yielded as they arrive (the watch runs in a
        background thread); it ends when ``timeout`` passed, and raises
        ParamsyncError at the end if the stream failed. Closing it early stops the
        watch at the next event or at the timeout, whichever comes first.

        The watch starts at the first ``next()``; to catch events of something you
        are about to do, see :meth:`collect_errors`.
        """
        watcher = _Watcher(self, timeout, since)
        try:
            while True:
                item = watcher.events.get()
                if item is None:
                    break
                yield item
            if watcher.error is not None:
                raise watcher.error
        finally:
            watcher.stop()

    def collect_errors(self, timeout: float) -> "_Watcher":
        """Starts watching the error channel now, in a background thread.

        Every event published from this call on is seen, even one published
        before the background stream connected (it is replayed; this relies
        on the coordinator's clock agreeing with this host's). Returns an
        object whose ``result()`` blocks until ``timeout`` seconds passed since
        this call and returns the list of :class:`ErrorEvent` seen (raising
        ParamsyncError if the stream failed), and whose ``stop()`` makes the
        watch end at the next event.
        """
        return _Watcher(self, timeout, since=time.time())


class SyncSchedule:
    """Syncs a group after every ``n_steps`` training steps (ChatLearn's sync every N steps).

    A trainer (or the driver) calls :meth:`step` after each optimizer step,
    once the new weights are written (a CUDA trainer: after
    ``TrainerEndpoint.update()``); every ``n_steps``-th call runs one sync and
    returns its report. Not thread-safe: one training loop drives it.
    """

    def __init__(self, coordinator: Coordinator, group: str, n_steps: int, *,
                 timeout: float = 300.0,
                 on_report: Optional[Callable[[int, SyncReport], None]] = None) -> None:
        if n_steps < 1:
            raise ValueError("n_steps must be >= 1, got %r" % (n_steps,))
        self.coordinator = coordinator
        self.group = group
        self.n_steps = n_steps
        self.timeout = timeout
        self.steps = 0  # Steps counted so far.
        self.last_report: Optional[SyncReport] = None
        self._on_report = on_report

    def step(self) -> Optional[SyncReport]:
        """Counts one step; on every ``n_steps``-th, syncs and returns the report (else None).

        Raises what :meth:`Coordinator.sync` raises; the step is counted either way.
        """
        self.steps += 1
        if self.steps % self.n_steps != 0:
            return None
        return self.sync_now()

    def sync_now(self) -> SyncReport:
        """Syncs at once (e.g. after the last step), whatever the count."""
        report = self.coordinator.sync(self.group, timeout=self.timeout)
        self.last_report = report
        if self._on_report is not None:
            self._on_report(self.steps, report)
        return report


class _Watcher:
    """A watch of the error channel on a thread of its own (Coordinator.collect_errors)."""

    def __init__(self, coordinator: Coordinator, timeout: float,
                 since: Optional[float]) -> None:
        self.events: "queue.Queue[Optional[ErrorEvent]]" = queue.Queue()
        self._stop = threading.Event()
        self.error: Optional[BaseException] = None
        self._collected: List[ErrorEvent] = []
        self._thread = threading.Thread(
            target=self._run, args=(coordinator, timeout, since), daemon=True,
            name="paramsync-watch-errors")
        self._thread.start()

    def _run(self, coordinator: Coordinator, timeout: float, since: Optional[float]) -> None:
        def on_event(event: ErrorEvent) -> bool:
            self._collected.append(event)
            self.events.put(event)
            return self._stop.is_set()

        try:
            coordinator.watch_errors(timeout, on_event, since=since)
        except BaseException as e:
            self.error = e
        finally:
            self.events.put(None)  # The end.

    def result(self) -> List[ErrorEvent]:
        """The events seen, once the watch ended; raises ParamsyncError if it failed."""
        self._thread.join()
        if self.error is not None:
            raise self.error
        return list(self._collected)

    def stop(self) -> None:
        """Makes the watch end at the next event (or its timeout)."""
        self._stop.set()
