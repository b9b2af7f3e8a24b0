"""What TrainerEndpoint and InferenceEndpoint share: one rank's named tensors,
registered with the agent of its host or GPU, wherever they live.

- numpy arrays, or ``(shape, dtype)`` declarations: copied into (allocated in)
  a new shared-memory region; the endpoint's ``tensors`` are numpy views of it.
- PyTorch CPU tensors (e.g. a module's parameters): moved into a new
  shared-memory region: each tensor's storage is replaced (``tensor.data =``)
  by a view of the region, so the framework keeps computing on the same
  objects, in place, and nothing is copied per sync.
- PyTorch CUDA tensors: shared in place with the agent of their GPU by CUDA
  IPC (see :mod:`paramsync.torch_endpoint`).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Type, TypeVar, Union

from .endpoint import Endpoint, TensorSpec, register_endpoint
from .framework_layout import FrameworkLayout
from .layout import ParallelLayout
from .lora import LoraAdapter
from .torch_endpoint import TorchEndpoint, _dtype_name, register_torch_endpoint

__all__ = ["RankWeights", "copy_into", "module_parameters"]

_Self = TypeVar("_Self", bound="RankWeights")


def _loaded_torch() -> Any:
    """PyTorch if this process imported it (a torch tensor implies it), else None."""
    return sys.modules.get("torch")


def _torch_kind(tensors: Mapping[str, Any]) -> Tuple[Any, Optional[str]]:
    """(torch, "cuda" or "cpu") when every tensor is a torch.Tensor, (None, None) when none is.

    Raises TypeError for a mix, and ValueError for CUDA and CPU tensors together.
    """
    torch = _loaded_torch()
    is_torch = [torch is not None and isinstance(t, torch.Tensor) for t in tensors.values()]
    if not any(is_torch):
        return None, None
    if not all(is_torch):
        raise TypeError("tensors mixes torch.Tensor values with others; register one kind")
    kinds = {t.device.type for t in tensors.values()}
    if len(kinds) > 1:
        raise ValueError("tensors are on %s: one endpoint holds one device's tensors"
                         % " and ".join(sorted(kinds)))
    return torch, "cuda" if "cuda" in kinds else "cpu"


def copy_into(target: Any, value: Any) -> None:
    """Copies ``value`` into registered tensor ``target`` (a numpy view or a torch.Tensor).

    Into a torch parameter without recording it for autograd: it is a new
    value, not a computation.
    """
    torch = _loaded_torch()
    if torch is not None and isinstance(target, torch.Tensor):
        with torch.no_grad():
            target.copy_(torch.as_tensor(value))
    else:
        target[...] = value


def module_parameters(module: Any, trainable_only: bool = True,
                      names: Optional[Iterable[str]] = None) -> Dict[str, Any]:
    """``module.named_parameters()`` as a dict, in order.

    trainable_only: only parameters with ``requires_grad`` (what a trainer
    syncs; frozen ones are left out). names: only these (KeyError naming the
    first missing). Raises TypeError when ``module`` has no named_parameters.
    """
    if not callable(getattr(module, "named_parameters", None)):
        raise TypeError("%s has no named_parameters(); pass a torch.nn.Module"
                        % type(module).__name__)
    parameters = {name: p for name, p in module.named_parameters()
                  if not trainable_only or getattr(p, "requires_grad", True)}
    if names is None:
        return parameters
    selected = {}
    for name in names:
        if name not in parameters:
            raise KeyError("module has no%s parameter %r" % (
                " trainable" if trainable_only else "", name))
        selected[name] = parameters[name]
    return selected


class RankWeights:
    """One rank's registered tensors (see the module docstring for where they live).

    Attributes:
      endpoint: the underlying :class:`Endpoint` (shared memory) or
        :class:`TorchEndpoint` (CUDA IPC).
      agent_address, model, rank, names: what was registered.
    """

    _ROLE = ""  # "trainer" or "inference", set by subclasses.

    def __init__(self, endpoint: Union[Endpoint, TorchEndpoint], tensors: Dict[str, Any]) -> None:
        self.endpoint = endpoint
        self.agent_address: str = endpoint.agent_address
        self.model: str = endpoint.model
        self.rank: int = endpoint.rank
        self.names: List[str] = list(endpoint.names)
        self._tensors: Optional[Dict[str, Any]] = tensors
        # PyTorch CPU tensors whose storage now is the endpoint's shared memory.
        self._moved: List[Any] = []

    @classmethod
    def _register(cls: Type[_Self], agent_address: str, model: str, rank: int,
                  tensors: Mapping[str, Any], *, layout: ParallelLayout, replica: int,
                  local_rank: int, tp_split_dims: Optional[Mapping[str, int]],
                  expert_dims: Optional[Mapping[str, int]],
                  framework_layout: Optional[FrameworkLayout],
                  lora: Optional[Mapping[str, LoraAdapter]], timeout: float) -> _Self:
        arguments: Dict[str, Any] = dict(
            replica=replica, local_rank=local_rank, tp_split_dims=tp_split_dims,
            expert_dims=expert_dims, framework_layout=framework_layout, lora=lora,
            timeout=timeout, **layout.registration_arguments())
        if not isinstance(tensors, Mapping) or not tensors:
            raise ValueError("tensors must be a non-empty dict of named tensors")
        torch, device = _torch_kind(tensors)
        if device == "cuda":
            endpoint: Union[Endpoint, TorchEndpoint] = register_torch_endpoint(
                agent_address, model, cls._ROLE, rank, tensors=tensors, **arguments)
            return cls(endpoint, dict(tensors))
        if device is None:
            host = register_endpoint(agent_address, model, cls._ROLE, rank,
                                     tensors=dict(tensors), **arguments)
            return cls(host, host.tensors)
        declared: Dict[str, TensorSpec] = {
            name: (tuple(t.shape), _dtype_name(torch, name, t.dtype))
            for name, t in tensors.items()}
        host = register_endpoint(agent_address, model, cls._ROLE, rank, tensors=declared,
                                 **arguments)
        weights = cls(host, dict(tensors))
        try:
            for name, tensor in tensors.items():
                view = host.tensors[name]
                shared = (torch.from_numpy(view.view("int16")).view(torch.bfloat16)
                          if declared[name][1] == "bfloat16" else torch.from_numpy(view))
                shared.copy_(tensor.detach())
                tensor.data = shared  # The caller's tensor lives in shared memory now.
                weights._moved.append(tensor)
        except BaseException:
            weights.close()  # Gives the tensors moved so far their memory back.
            raise
        return weights

    @property
    def tensors(self) -> Dict[str, Any]:
        """dict name -> the registered tensor: the caller's torch tensors (now in
        shared memory, or shared by CUDA IPC), or numpy views of the shared
        memory for numpy arrays (bfloat16 as uint16 bits). Raises ValueError
        once closed."""
        if self._tensors is None:
            raise ValueError("endpoint %s rank %d is closed" % (self.model, self.rank))
        return dict(self._tensors)

    def version(self, timeout: float = 10.0) -> int:
        """The weights version this rank holds, as its agent knows it (0: never synced).

        Blocks for one RPC to the agent. Raises ParamsyncError (e.g.
        UNAVAILABLE) and ValueError once closed.
        """
        return self.endpoint.version(timeout)

    def close(self) -> None:
        """Closes the endpoint (see Endpoint.close / TorchEndpoint.close). Idempotent.

        PyTorch CPU tensors moved into shared memory first get private copies
        of their values (the shared memory is unmapped), so they stay usable.
        """
        for tensor in self._moved:
            tensor.data = tensor.data.clone()
        self._moved = []
        self._tensors = None
        self.endpoint.close()

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._tensors is None

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return "<paramsync.%s %s rank %d at %s, %d tensors%s>" % (
            type(self).__name__, self.model, self.rank, self.agent_address, len(self.names),
            ", closed" if self.closed else "")

