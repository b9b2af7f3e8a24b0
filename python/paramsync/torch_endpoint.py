"""PyTorch endpoints: a process's own CUDA tensors, shared with its GPU's agent.

A trainer or inference rank that holds its weights in PyTorch CUDA tensors calls
:func:`register_torch_endpoint` once with them. Nothing is copied or allocated:
each tensor is described to the agent of its GPU (``paramsync-agent
--device=cuda:N``) by the CUDA IPC handle of the ``cudaMalloc`` allocation that
holds it and its byte offset inside that allocation; the agent maps the
allocation and, during a sync, reads a trainer's tensors and writes an
inference rank's tensors in place.

How a tensor is located. PyTorch's caching allocator carves tensors' storages
out of larger ``cudaMalloc`` segments, and CUDA IPC shares whole allocations.
``UntypedStorage._share_cuda_()`` (what ``torch.multiprocessing`` uses to send
CUDA tensors) returns the handle of the segment holding the storage and the
storage's byte offset in it; the tensor starts ``storage_offset() *
element_size()`` bytes further. PyTorch before 2.5 returns the 64-byte
``cudaIpcMemHandle_t`` itself; later versions prefix it with a format version
byte and a type byte (``'c'``: a cudaMalloc segment, followed by the handle;
``'e'``: an expandable segment, which CUDA IPC handles cannot share).

PyTorch is imported only when this module's functions are called: the package
imports without it.
"""

from __future__ import annotations

import base64
import ctypes
import json
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import _lib
from .endpoint import _endpoint_spec, check_dim_arguments, parameter_spec, tensor_dims
from .framework_layout import FrameworkLayout
from .lora import LoraAdapter, check_lora_argument

__all__ = ["TorchEndpoint", "register_torch_endpoint"]

_CUDA_IPC_HANDLE_SIZE = 64  # sizeof(cudaIpcMemHandle_t)
_SHAREABLE_CUDA_MALLOC = ord("c")
_SHAREABLE_EXPANDABLE_SEGMENT = ord("e")

_EXPANDABLE_SEGMENTS_HINT = (
    "PyTorch allocated it in an expandable segment, which CUDA IPC handles cannot "
    "share: unset PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True (or set "
    "expandable_segments:False) in this process before it allocates the tensors")

# torch dtype attribute name -> paramsync dtype name (a key of endpoint.DTYPES).
_TORCH_DTYPES: Dict[str, str] = {
    "float32": "float32",
    "float16": "float16",
    "bfloat16": "bfloat16",
    "float64": "float64",
    "int8": "int8",
    "uint8": "uint8",
    "int32": "int32",
    "int64": "int64",
}


def _torch() -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError("paramsync.register_torch_endpoint needs PyTorch: %s" % e) from e
    return torch


def _dtype_name(torch: Any, name: str, dtype: Any) -> str:
    for attribute, paramsync_name in _TORCH_DTYPES.items():
        if getattr(torch, attribute, None) == dtype:
            return paramsync_name
    raise ValueError("tensor %r: dtype %s is not supported; accepted: %s"
                     % (name, dtype, ", ".join("torch." + a for a in _TORCH_DTYPES)))


def cuda_ipc_handle(shared_handle: bytes, name: str = "?") -> bytes:
    """The 64-byte cudaIpcMemHandle_t inside a handle from ``_share_cuda_()``.

    Accepts the raw handle (PyTorch before 2.5) and the versioned form
    ``[version][type][payload]`` of 2.5 and later, whatever the version byte
    (the ``'c'`` payload has not changed across versions). Raises ValueError
    for an expandable segment or a form this function does not know.
    """
    shared_handle = bytes(shared_handle)
    if len(shared_handle) == _CUDA_IPC_HANDLE_SIZE:
        return shared_handle
    if len(shared_handle) >= 2 and shared_handle[1] == _SHAREABLE_EXPANDABLE_SEGMENT:
        raise ValueError("tensor %r: %s" % (name, _EXPANDABLE_SEGMENTS_HINT))
    if (len(shared_handle) == 2 + _CUDA_IPC_HANDLE_SIZE
            and shared_handle[1] == _SHAREABLE_CUDA_MALLOC):
        return shared_handle[2:]
    raise ValueError(
        "tensor %r: PyTorch returned a CUDA IPC handle of %d bytes in a form this "
        "paramsync version does not know (type byte %r)"
        % (name, len(shared_handle), shared_handle[1:2]))


class _Placed:
    """One tensor as registered: spec fields, then where its bytes are."""

    __slots__ = ("name", "tensor", "dtype", "shape", "dims", "handle", "offset", "nbytes")
    name: str
    tensor: Any
    dtype: str
    shape: Tuple[int, ...]
    dims: Dict[str, int]
    handle: bytes
    offset: int
    nbytes: int


def _check(torch: Any, name: str, tensor: Any,
           dim_maps: Mapping[str, Mapping[str, int]]) -> _Placed:
    """Checks one tensor; returns its _Placed with the spec fields filled in."""
    if not isinstance(name, str) or not name:
        raise ValueError("tensor names must be non-empty strings, got %r" % (name,))
    if not isinstance(tensor, torch.Tensor):
        raise TypeError("tensor %r: expected a torch.Tensor, got %s"
                        % (name, type(tensor).__name__))
    if tensor.device.type != "cuda":
        raise ValueError(
            "tensor %r is on %s, not on a CUDA device: register_torch_endpoint shares GPU "
            "memory with the agent of its GPU; register host tensors with "
            "paramsync.register_endpoint" % (name, tensor.device))
    if tensor.layout != torch.strided:
        raise ValueError("tensor %r: layout %s is not supported (dense tensors only)"
                         % (name, tensor.layout))
    dtype = _dtype_name(torch, name, tensor.dtype)
    if not tensor.is_contiguous():
        raise ValueError(
            "tensor %r is not contiguous (shape %s, stride %s): the agent reads and writes "
            "it as one block of bytes; register a contiguous tensor (e.g. keep "
            "t.contiguous() and use that one)" % (name, tuple(tensor.shape), tensor.stride()))
    if tensor.numel() == 0:
        raise ValueError("tensor %r has no elements" % (name,))
    shape = tuple(int(d) for d in tensor.shape)
    dims = tensor_dims(name, shape, dim_maps)
    placed = _Placed()
    placed.name = name
    placed.tensor = tensor
    placed.dtype = dtype
    placed.shape = shape
    placed.dims = dims
    return placed


def _locate(placed: _Placed, shared: Dict[Tuple[int, int], Any]) -> None:
    """Fills in the IPC handle of the allocation holding the tensor and its place there.

    `shared` caches _share_cuda_() per storage (several tensors may view one).
    """
    name, tensor = placed.name, placed.tensor
    storage = tensor.untyped_storage()
    key = (storage.device.index, storage.data_ptr())
    info = shared.get(key)
    if info is None:
        try:
            info = storage._share_cuda_()
        except RuntimeError as e:
            if "expandable_segments" in str(e):
                raise ValueError("tensor %r: %s" % (name, _EXPANDABLE_SEGMENTS_HINT)) from e
            raise ValueError(
                "tensor %r: PyTorch cannot share its memory by CUDA IPC (%s); it must come "
                "from PyTorch's default CUDA caching allocator (not expandable segments, "
                "cudaMallocAsync or a custom memory pool) and not be a tensor received "
                "from another process" % (name, e)) from e
        shared[key] = info
    # (device, handle, storage_size_bytes, storage_offset_bytes, ref_counter_handle,
    #  ref_counter_offset, event_handle, event_sync_required): `handle` shares the
    # allocation holding the storage, which starts storage_offset_bytes into it.
    handle, storage_bytes, storage_offset_bytes = info[1], int(info[2]), int(info[3])
    placed.handle = cuda_ipc_handle(handle, name)
    element_size = tensor.element_size()
    start = tensor.storage_offset() * element_size  # Inside the storage.
    placed.nbytes = tensor.numel() * element_size
    if start + placed.nbytes > storage_bytes:
        raise ValueError("tensor %r: bytes [%d, %d) of its storage lie outside its %d bytes"
                         % (name, start, start + placed.nbytes, storage_bytes))
    placed.offset = storage_offset_bytes + start


def register_torch_endpoint(agent_address: str, model: str, role: str, rank: int, *,
                            tensors: Mapping[str, Any], replica: int = 0, local_rank: int = 0,
                            tp_size: int = 1, pp_size: int = 1, ep_size: int = 1,
                            dp_size: int = 1, tp_rank: int = 0, pp_rank: int = 0,
                            ep_rank: int = 0, dp_rank: int = 0,
                            tp_split_dims: Optional[Mapping[str, int]] = None,
                            expert_dims: Optional[Mapping[str, int]] = None,
                            framework_layout: Optional[FrameworkLayout] = None,
                            lora: Optional[Mapping[str, LoraAdapter]] = None,
                            timeout: float = 30.0) -> "TorchEndpoint":
    """Registers this process's CUDA tensors, in place, as endpoint (``model``, ``rank``).

    Args:
      agent_address: ``host:port`` of the agent serving the tensors' GPU
        (``paramsync-agent --device=cuda:N``).
      model, role, rank, replica, local_rank, tp_size, pp_size, ep_size, dp_size,
        tp_rank, pp_rank, ep_rank, dp_rank, tp_split_dims, expert_dims,
        framework_layout, lora, timeout: as for :func:`paramsync.register_endpoint`.
      tensors: dict name -> ``torch.Tensor``: this rank's local shards, all on one
        CUDA device, contiguous, non-empty, of dtype float32, float16, bfloat16,
        float64, int8, uint8, int32 or int64 (model parameters may be passed as
        they are). Their memory must come from PyTorch's default caching
        allocator without expandable segments. Order is kept.

    Returns:
      A :class:`TorchEndpoint` holding references to the tensors. A sync reads a
      trainer's tensors and writes an inference rank's tensors in place: a
      trainer must have finished writing new values (``endpoint.synchronize()``
      or ``torch.cuda.synchronize()``) before the sync starts; an inference
      rank sees the new values once the sync returned.

    Raises:
      ImportError: PyTorch is not installed.
      ValueError / TypeError: bad arguments or tensors (a CPU tensor, a
        non-contiguous one, tensors on two devices, an expandable segment...),
        found before anything is sent; the message names the tensor.
      ParamsyncError: from the agent or coordinator, e.g. ``FAILED_PRECONDITION``
        (the agent serves another device or cannot open the handle),
        ``ALREADY_EXISTS``, ``DEADLINE_EXCEEDED`` / ``UNAVAILABLE``.
      OSError: libparamsync.so cannot be loaded.
    """
    endpoint_spec = _endpoint_spec(
        model, role, rank, replica=replica, local_rank=local_rank, tp_size=tp_size,
        pp_size=pp_size, ep_size=ep_size, dp_size=dp_size, tp_rank=tp_rank, pp_rank=pp_rank,
        ep_rank=ep_rank, dp_rank=dp_rank, framework_layout=framework_layout)
    if not isinstance(tensors, Mapping) or not tensors:
        raise ValueError("tensors must be a non-empty dict: name -> torch.Tensor")
    dim_maps = check_dim_arguments(tensors, tp_split_dims=tp_split_dims,
                                   expert_dims=expert_dims)
    adapters = check_lora_argument(tensors, lora)
    torch = _torch()

    # Every check first, so that nothing is shared when an argument is wrong.
    placed = [_check(torch, name, tensor, dim_maps) for name, tensor in tensors.items()]
    device = placed[0].tensor.device
    for p in placed:
        if p.tensor.device != device:
            raise ValueError(
                "tensor %r is on %s but tensor %r is on %s: one endpoint is one GPU rank "
                "(register each GPU's tensors with that GPU's agent)"
                % (p.name, p.tensor.device, placed[0].name, device))
    shared: Dict[Tuple[int, int], Any] = {}
    for p in placed:
        _locate(p, shared)
    # A trainer's values written before registering are complete before any sync.
    torch.cuda.synchronize(device)

    request = {
        "endpoint": endpoint_spec,
        "tensors": [{
            "spec": parameter_spec(p.name, p.dtype, p.shape, p.dims, adapters.get(p.name)),
            "offset": str(p.offset),
            "nbytes": str(p.nbytes),
            "cuda_ipc_handle": base64.b64encode(p.handle).decode("ascii"),
        } for p in placed],
    }
    _lib.check(_lib.library().paramsync_register_shared(
        _lib.encode(agent_address), _lib.encode(json.dumps(request)),
        _lib.timeout_ms(timeout)))
    # Held while the endpoint lives: if this process dies, the agent knows.
    attachment = ctypes.c_void_p()
    _lib.check(_lib.library().paramsync_attach(
        _lib.encode(agent_address), _lib.encode(endpoint_spec["model"]),
        int(endpoint_spec["rank"]), ctypes.byref(attachment)))
    return TorchEndpoint(agent_address, endpoint_spec, device, placed, attachment)


class TorchEndpoint:
    """A registered endpoint whose tensors are the process's own CUDA tensors.

    Attributes:
      agent_address, model, rank, role ("trainer"/"inference"): what was registered.
      spec: the registered paramsync.v1.EndpointSpec, as a dict.
      device: the ``torch.device`` of the tensors.
      names: tensor names, in registration order.
      tensors: dict name -> the registered ``torch.Tensor`` (the caller's objects).

    The endpoint holds references to the tensors until :meth:`close`, so their
    memory stays allocated. The agent keeps the registration after close (as
    for host endpoints): PyTorch does not reuse memory it shared by CUDA IPC
    until every consumer released it, and the agent never does, so the memory
    stays reserved until the process exits (where PyTorch may log "Producer
    process has been terminated before all shared CUDA tensors released":
    expected, the agent still maps it).
    """

    def __init__(self, agent_address: str, spec: Dict[str, Any], device: Any,
                 placed: List[_Placed], attachment: Optional[ctypes.c_void_p] = None) -> None:
        self.agent_address = agent_address
        self.spec = spec
        self.model = spec["model"]
        self.rank = spec["rank"]
        self.role = "trainer" if spec["role"] == "ROLE_TRAINER" else "inference"
        self.device = device
        self.names: List[str] = [p.name for p in placed]
        self._tensors: Optional[Dict[str, Any]] = {p.name: p.tensor for p in placed}
        self._layout = {p.name: (p.offset, p.nbytes) for p in placed}
        self._attachment = attachment

    def _check_open(self) -> Dict[str, Any]:
        if self._tensors is None:
            raise ValueError("endpoint %s rank %d is closed" % (self.model, self.rank))
        return self._tensors

    @property
    def tensors(self) -> Dict[str, Any]:
        """dict name -> the registered tensor. Raises ValueError once closed."""
        return dict(self._check_open())

    def layout(self, name: str) -> Tuple[int, int]:
        """(offset, nbytes) of tensor ``name`` inside its CUDA allocation, as registered."""
        return self._layout[name]

    def synchronize(self) -> None:
        """Waits for all work queued on the endpoint's device (``torch.cuda.synchronize``).

        A trainer calls it after writing new values and before the sync that
        sends them.
        """
        self._check_open()
        _torch().cuda.synchronize(self.device)

    def version(self, timeout: float = 10.0) -> int:
        """The weights version this endpoint holds, as its agent knows it.

        0 until the first sync that wrote it completed everywhere. Blocks for one
        RPC to the agent. Raises ParamsyncError (e.g. UNAVAILABLE, NOT_FOUND) and
        ValueError once closed.
        """
        self._check_open()
        version = ctypes.c_int64()
        _lib.check(_lib.library().paramsync_query_version(
            _lib.encode(self.agent_address), _lib.encode(self.model), int(self.rank),
            _lib.timeout_ms(timeout), ctypes.byref(version)))
        return version.value

    def close(self) -> None:
        """Detaches from the agent (which then treats the endpoint as gone) and
        drops the references to the tensors. Idempotent; never raises."""
        if getattr(self, "_attachment", None):
            _lib.library().paramsync_detach(self._attachment)
            self._attachment = None
        self._tensors = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._tensors is None

    def __enter__(self) -> "TorchEndpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<paramsync.TorchEndpoint %s rank %d (%s) on %s at %s, %d tensors%s>" % (
            self.model, self.rank, self.role, self.device, self.agent_address,
            len(self.names), ", closed" if self.closed else "")
