"""Framework-side endpoints: tensors in shared memory registered with an agent.

A trainer or inference rank calls :func:`register_endpoint` once with its local
tensor shards. The library lays them out in a new POSIX shared-memory region,
registers them with the agent on the same host, and the agent maps the region:
during a sync it reads a trainer's tensors and writes an inference rank's
tensors in place. The region is unlinked when the :class:`Endpoint` is closed
(the agent keeps its own mapping).
"""

from __future__ import annotations

import ctypes
import json
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from . import _lib
from ._tensor_maps import check_tensor_map
from .framework_layout import FrameworkLayout
from .lora import LoraAdapter, check_lora_argument

# What a tensor may be given as: a numpy array (its values are copied into
# shared memory), or (shape, dtype name) to allocate zeros.
TensorSpec = Union[Any, Tuple[Union[int, Sequence[int]], str]]

__all__ = ["DTYPES", "Endpoint", "register_endpoint"]

# dtype name -> (paramsync.v1.DType name, element size, numpy dtype used for views).
# numpy has no bfloat16: bfloat16 tensors are exposed as uint16 views of their bits.
DTYPES: Dict[str, Tuple[str, int, str]] = {
    "float32": ("DTYPE_FLOAT32", 4, "float32"),
    "float16": ("DTYPE_FLOAT16", 2, "float16"),
    "bfloat16": ("DTYPE_BFLOAT16", 2, "uint16"),
    "float64": ("DTYPE_FLOAT64", 8, "float64"),
    "int8": ("DTYPE_INT8", 1, "int8"),
    "uint8": ("DTYPE_UINT8", 1, "uint8"),
    "int32": ("DTYPE_INT32", 4, "int32"),
    "int64": ("DTYPE_INT64", 8, "int64"),
}

_ROLES = {"trainer": "ROLE_TRAINER", "inference": "ROLE_INFERENCE"}


def _numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


def _dtype_name(dtype: Any) -> str:
    """A dtype string, or anything whose str() is one (numpy dtypes, torch dtypes)."""
    name = str(dtype)
    if name.startswith("torch."):
        name = name[len("torch."):]
    if name not in DTYPES:
        raise ValueError("dtype %r is not supported; accepted: %s"
                         % (dtype, ", ".join(DTYPES)))
    return name


class _Tensor:
    __slots__ = ("name", "dtype", "shape", "dims", "initial")

    def __init__(self, name: str, dtype: str, shape: Tuple[int, ...], dims: Dict[str, int],
                 initial: Any) -> None:
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.dims = dims  # {"tp_split_dim": d, "expert_dim": d}, set ones only.
        self.initial = initial


# Per-tensor dimensions a registration may name, by argument: tp_split_dims
# (the dimension tensor parallelism splits) and expert_dims (the expert
# dimension of stacked routed-expert weights, for HEP syncs).
_DIM_ARGUMENTS = {"tp_split_dims": "tp_split_dim", "expert_dims": "expert_dim"}


def check_dim_arguments(tensors: Mapping[str, Any],
                        **dim_maps: Optional[Mapping[str, int]]) -> Dict[str, Dict[str, int]]:
    """Each of ``dim_maps`` (argument name -> dict) as a dict, naming only ``tensors``.

    Raises ValueError naming the tensors a map names that ``tensors`` lacks.
    """
    return {argument: check_tensor_map(argument, mapping, tensors)
            for argument, mapping in dim_maps.items()}


def tensor_dims(name: str, shape: Sequence[int],
                dim_maps: Mapping[str, Mapping[str, int]]) -> Dict[str, int]:
    """The spec dimensions of tensor ``name`` from checked ``dim_maps``.

    Raises ValueError for a dimension outside the tensor, or two that coincide.
    """
    dims: Dict[str, int] = {}
    for argument, mapping in dim_maps.items():
        dim = mapping.get(name)
        if dim is None:
            continue
        field = _DIM_ARGUMENTS[argument]
        dim = int(dim)
        if not 0 <= dim < len(shape):
            raise ValueError("tensor %r: %s %d is outside its %d dimensions"
                             % (name, field, dim, len(shape)))
        dims[field] = dim
    if len(set(dims.values())) < len(dims):
        raise ValueError("tensor %r: tp_split_dim and expert_dim must differ" % (name,))
    return dims


def _parse_tensors(tensors: Mapping[str, TensorSpec],
                   dim_maps: Mapping[str, Mapping[str, int]]) -> List[_Tensor]:
    if not isinstance(tensors, Mapping) or not tensors:
        raise ValueError("tensors must be a non-empty dict: name -> numpy array "
                         "or name -> (shape, dtype)")
    parsed = []
    for name, value in tensors.items():
        if not isinstance(name, str) or not name:
            raise ValueError("tensor names must be non-empty strings, got %r" % (name,))
        if isinstance(value, tuple) and len(value) == 2:
            shape, dtype = value
            if isinstance(shape, int):
                shape = (shape,)
            shape = tuple(int(d) for d in shape)
            dtype = _dtype_name(dtype)
            initial: Any = None
        else:
            np = _numpy()
            if np is None:
                raise TypeError("tensor %r: without numpy, tensors must be given as "
                                "(shape, dtype) tuples" % name)
            initial = np.asarray(value)
            if initial.dtype.kind == "V" or initial.dtype == np.uint16:
                raise TypeError(
                    "tensor %r: an array of dtype %s is ambiguous; declare bfloat16 "
                    "tensors as (shape, 'bfloat16') and write their bits into "
                    "endpoint.tensors[%r] (a uint16 view)" % (name, initial.dtype, name))
            dtype = _dtype_name(initial.dtype.name)
            shape = tuple(int(d) for d in initial.shape)
        if any(d < 0 for d in shape):
            raise ValueError("tensor %r: shape %r has a negative dimension" % (name, shape))
        parsed.append(_Tensor(name, dtype, shape, tensor_dims(name, shape, dim_maps), initial))
    return parsed


def _endpoint_spec(model: str, role: str, rank: int, *, replica: int, local_rank: int,
                   tp_size: int, pp_size: int, ep_size: int, dp_size: int, tp_rank: int,
                   pp_rank: int, ep_rank: int, dp_rank: int,
                   framework_layout: Optional[FrameworkLayout] = None) -> Dict[str, Any]:
    """A paramsync.v1.EndpointSpec as a dict (proto JSON field names)."""
    if role not in _ROLES:
        raise ValueError("role must be 'trainer' or 'inference', got %r" % (role,))
    if framework_layout is not None and not isinstance(framework_layout, FrameworkLayout):
        raise TypeError("framework_layout must be a paramsync.FrameworkLayout, got %s"
                        % type(framework_layout).__name__)
    spec: Dict[str, Any] = {
        "model": model,
        "role": _ROLES[role],
        "rank": int(rank),
        "replica": int(replica),
        "local_rank": int(local_rank),
        "parallel": {
            "tp_size": int(tp_size), "pp_size": int(pp_size),
            "ep_size": int(ep_size), "dp_size": int(dp_size),
            "tp_rank": int(tp_rank), "pp_rank": int(pp_rank),
            "ep_rank": int(ep_rank), "dp_rank": int(dp_rank),
        },
    }
    if framework_layout is not None:
        spec["layout"] = framework_layout.spec()
    return spec


def parameter_spec(name: str, dtype: str, shape: Sequence[int], dims: Mapping[str, int],
                   lora: Optional[LoraAdapter] = None) -> Dict[str, Any]:
    """A paramsync.v1.ParameterSpec as a dict; `dtype` is a key of DTYPES."""
    spec: Dict[str, Any] = {"name": name, "dtype": DTYPES[dtype][0], "shape": list(shape)}
    spec.update(dims)
    if lora is not None:
        spec["lora"] = lora.spec()
    return spec


def register_endpoint(agent_address: str, model: str, role: str, rank: int, *,
                      tensors: Mapping[str, TensorSpec], replica: int = 0, local_rank: int = 0,
                      tp_size: int = 1, pp_size: int = 1, ep_size: int = 1, dp_size: int = 1,
                      tp_rank: int = 0, pp_rank: int = 0, ep_rank: int = 0, dp_rank: int = 0,
                      tp_split_dims: Optional[Mapping[str, int]] = None,
                      expert_dims: Optional[Mapping[str, int]] = None,
                      framework_layout: Optional[FrameworkLayout] = None,
                      lora: Optional[Mapping[str, LoraAdapter]] = None,
                      timeout: float = 30.0) -> "Endpoint":
    """Registers this process's tensors as endpoint (``model``, ``rank``).

    Args:
      agent_address: ``host:port`` of the agent on this host (GPU).
      model: model name, e.g. ``"policy_trainer"``.
      role: ``"trainer"`` (a source of weights) or ``"inference"`` (a destination).
      rank: rank inside the model. Trainer: Megatron's
        ``pp_rank*tp*dp + dp_rank*tp + tp_rank``. Inference:
        ``replica*tp*pp + local_rank``.
      tensors: dict name -> numpy array (its values are copied into the shared
        memory; dtype float32, float16, float64, int8, uint8, int32 or int64), or
        name -> ``(shape, dtype_string)`` to allocate zeros (dtype one of
        :data:`DTYPES`, bfloat16 included). Order is kept.
      replica, local_rank: inference replica index and rank inside the replica.
      tp_size, pp_size, ep_size, dp_size, tp_rank, pp_rank, ep_rank, dp_rank: the
        parallel layout (inference ranks have dp_size 1).
      tp_split_dims: dict name -> the dimension tensor parallelism splits; a
        tensor not listed is held whole by every TP rank.
      expert_dims: dict name -> the expert dimension of a stacked routed-expert
        weight (``[experts, ...]``); for sync groups with ``hep`` (hyper expert
        parallel), whose trainers regroup these tensors. A trainer rank holds
        its EP block of experts, split by TP along its tp_split_dim.
      framework_layout: the framework layout the tensors follow (a
        :class:`paramsync.FrameworkLayout`): the coordinator derives where
        their elements sit in the model's logical parameters, for groups with
        ``strategy="direct"``. The tensors must be exactly the layout's for
        this rank.
      lora: dict name -> :class:`paramsync.LoraAdapter` for the tensors that
        are LoRA adapter matrices (A or B of a base weight of this endpoint,
        see :mod:`paramsync.lora`); the sync group's ``lora_mode`` says whether
        a sync merges them into their base weights or syncs them alone.
      timeout: seconds to wait for the agent (it may still be starting) and its
        registration with the coordinator.

    Returns:
      An :class:`Endpoint`. Keep it alive as long as the tensors are used: closing
      or freeing it unmaps and unlinks the shared memory.

    Blocks until the agent and the coordinator accepted the endpoint or
    ``timeout`` passed.

    Raises:
      ValueError / TypeError: bad arguments, found before anything is sent.
      ParamsyncError: from the agent or coordinator, e.g. ``INVALID_ARGUMENT``
        (inconsistent layout; an adapter whose base weight is missing or does
        not match it, naming the tensor), ``ALREADY_EXISTS`` ((model, rank) held by another
        agent), ``DEADLINE_EXCEEDED`` / ``UNAVAILABLE`` (agent not reachable).
      OSError: libparamsync.so cannot be loaded.
    """
    endpoint_spec = _endpoint_spec(
        model, role, rank, replica=replica, local_rank=local_rank, tp_size=tp_size,
        pp_size=pp_size, ep_size=ep_size, dp_size=dp_size, tp_rank=tp_rank, pp_rank=pp_rank,
        ep_rank=ep_rank, dp_rank=dp_rank, framework_layout=framework_layout)
    named = tensors if isinstance(tensors, Mapping) else {}
    dim_maps = check_dim_arguments(named, tp_split_dims=tp_split_dims, expert_dims=expert_dims)
    adapters = check_lora_argument(named, lora)
    parsed = _parse_tensors(tensors, dim_maps)
    request: Dict[str, Any] = {
        "endpoint": endpoint_spec,
        "tensors": [{"spec": parameter_spec(t.name, t.dtype, t.shape, t.dims,
                                            adapters.get(t.name))} for t in parsed],
    }
    lib = _lib.library()
    handle = ctypes.c_void_p()
    rc = lib.paramsync_endpoint_register(
        _lib.encode(agent_address), _lib.encode(json.dumps(request)),
        _lib.timeout_ms(timeout), ctypes.byref(handle))
    _lib.check(rc)
    endpoint = Endpoint(handle, agent_address, request["endpoint"], parsed)
    try:
        for t in parsed:
            if t.initial is not None:
                endpoint.tensors[t.name][...] = t.initial
            t.initial = None  # Do not keep the caller's arrays alive.
    except BaseException:
        endpoint.close()
        raise
    return endpoint


class Endpoint:
    """A registered endpoint and its tensors in shared memory.

    Attributes:
      agent_address, model, role ("trainer"/"inference"), rank: what was registered.
      spec: the registered paramsync.v1.EndpointSpec, as a dict.
      names: tensor names, in registration order.

    A trainer's writes into :attr:`tensors` are what the next sync sends; on an
    inference rank a sync writes into them (read them after ``sync`` returned).
    Views and buffers must not be used after :meth:`close`: the memory is unmapped.
    Not thread-safe for close() racing other calls.
    """

    def __init__(self, handle: ctypes.c_void_p, agent_address: str, spec: Dict[str, Any],
                 tensors: List[_Tensor]) -> None:
        self._handle: Optional[ctypes.c_void_p] = handle
        self.agent_address = agent_address
        self.spec = spec
        self.model = spec["model"]
        self.rank = spec["rank"]
        self.role = "trainer" if spec["role"] == "ROLE_TRAINER" else "inference"
        self._decls = {t.name: t for t in tensors}
        self.names: List[str] = [t.name for t in tensors]
        self._buffers: Dict[str, Any] = {}
        self._views: Optional[Dict[str, Any]] = None

    # -- memory ---------------------------------------------------------------

    def _raw(self, name: str) -> Any:
        if self._handle is None:
            raise ValueError("endpoint %s rank %d is closed" % (self.model, self.rank))
        if name not in self._decls:
            raise KeyError(name)
        buffer = self._buffers.get(name)
        if buffer is None:
            nbytes = ctypes.c_uint64()
            pointer = _lib.library().paramsync_endpoint_tensor(
                self._handle, _lib.encode(name), ctypes.byref(nbytes))
            decl = self._decls[name]
            expected = DTYPES[decl.dtype][1]
            for d in decl.shape:
                expected *= d
            if nbytes.value != expected:
                raise _lib.ParamsyncError(
                    13, "tensor %r has %d bytes in shared memory, expected %d"
                    % (name, nbytes.value, expected))
            if not pointer and expected:
                raise _lib.ParamsyncError(13, "no shared memory for tensor %r" % name)
            if expected:
                buffer = (ctypes.c_ubyte * expected).from_address(pointer)
            else:
                buffer = (ctypes.c_ubyte * 0)()
            self._buffers[name] = buffer
        return buffer

    def buffer(self, name: str) -> memoryview:
        """A writable ``memoryview`` (format 'B') over tensor ``name``'s bytes.

        Needs no numpy. Raises KeyError for an unknown name, ValueError once closed.
        """
        return memoryview(self._raw(name)).cast("B")

    def nbytes(self, name: str) -> int:
        """Size of tensor ``name`` in bytes. Raises KeyError for an unknown name."""
        return len(self._raw(name))

    def dtype(self, name: str) -> str:
        """The declared dtype string of tensor ``name`` (e.g. "bfloat16"); KeyError if unknown."""
        return self._decls[name].dtype

    def shape(self, name: str) -> Tuple[int, ...]:
        """The declared shape (local shard) of tensor ``name``; KeyError if unknown."""
        return self._decls[name].shape

    @property
    def tensors(self) -> Dict[str, Any]:
        """dict name -> numpy array viewing the tensor in shared memory.

        bfloat16 tensors are uint16 views of their bits. Needs numpy (ImportError
        otherwise; use :meth:`buffer`). Raises ValueError once closed.
        """
        if self._handle is None:
            raise ValueError("endpoint %s rank %d is closed" % (self.model, self.rank))
        if self._views is None:
            np = _numpy()
            if np is None:
                raise ImportError("Endpoint.tensors needs numpy; use Endpoint.buffer(name)")
            views = {}
            for name in self.names:
                decl = self._decls[name]
                views[name] = np.frombuffer(
                    self._raw(name), dtype=DTYPES[decl.dtype][2]).reshape(decl.shape)
            self._views = views
        return self._views

    # -- agent ----------------------------------------------------------------

    def version(self, timeout: float = 10.0) -> int:
        """The weights version this endpoint holds, as its agent knows it.

        0 until the first sync that wrote it completed everywhere. Blocks for one
        RPC to the agent. Raises ParamsyncError (e.g. UNAVAILABLE, NOT_FOUND) and
        ValueError once closed.
        """
        if self._handle is None:
            raise ValueError("endpoint %s rank %d is closed" % (self.model, self.rank))
        version = ctypes.c_int64()
        _lib.check(_lib.library().paramsync_endpoint_version(
            self._handle, _lib.timeout_ms(timeout), ctypes.byref(version)))
        return version.value

    def close(self) -> None:
        """Unmaps and unlinks the shared memory. Idempotent; never raises.

        The agent keeps its mapping and its registration; views from
        :attr:`tensors` or :meth:`buffer` must not be used afterwards.
        """
        handle, self._handle = self._handle, None
        self._views = None
        self._buffers = {}
        if handle is not None:
            try:
                _lib.library().paramsync_endpoint_free(handle)
            except Exception:  # Interpreter shutdown.
                pass

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._handle is None

    def __enter__(self) -> "Endpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<paramsync.Endpoint %s rank %d (%s) at %s, %d tensors%s>" % (
            self.model, self.rank, self.role, self.agent_address, len(self.names),
            ", closed" if self.closed else "")
