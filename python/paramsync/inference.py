"""The inference side: an inference rank's weights, registered so that syncs write them.

Inside a vLLM worker, once the model is loaded::

    from paramsync import InferenceEndpoint, ParallelLayout
    layout = ParallelLayout(tp_size=tp, tp_rank=get_tensor_model_parallel_rank())
    weights = InferenceEndpoint.from_vllm(agent_address, "policy_vllm", worker,
                                          replica=replica, layout=layout,
                                          tp_split_dims=TP_SPLIT_DIMS)
    ...
    held = weights.version()            # the weights version this rank holds
    weights.wait_for_version(held + 1)  # blocks until the next sync committed

A sync writes the tensors in place (CUDA tensors through CUDA IPC; CPU tensors
live in shared memory after registering) and commits a new version only when
every byte of it arrived on every inference rank, so ``version()`` never
reports weights that are half written.
"""

from __future__ import annotations

import time
from typing import Any, Iterable, Mapping, Optional

from ._rank_weights import RankWeights, module_parameters
from .endpoint import TensorSpec
from .framework_layout import FrameworkLayout
from .layout import ParallelLayout
from .lora import LoraAdapter

__all__ = ["InferenceEndpoint", "vllm_model"]


def vllm_model(worker: Any) -> Any:
    """The torch module a vLLM worker serves.

    Accepts a vLLM worker (``worker.model_runner.model``), a model runner
    (``runner.model``) or the module itself (anything with
    ``named_parameters``). Raises TypeError naming what was tried.
    """
    for path in (("model_runner", "model"), ("model",), ()):
        found = worker
        for attribute in path:
            found = getattr(found, attribute, None)
        if callable(getattr(found, "named_parameters", None)):
            return found
    raise TypeError("%s is not a vLLM worker, model runner or torch module: found no "
                    "named_parameters() at .model_runner.model, .model or on it"
                    % type(worker).__name__)


class InferenceEndpoint(RankWeights):
    """An inference rank's registered weights: what syncs write, and the version held."""

    _ROLE = "inference"

    @classmethod
    def register(cls, agent_address: str, model: str, tensors: Mapping[str, TensorSpec], *,
                 replica: int = 0, layout: ParallelLayout = ParallelLayout(),
                 tp_split_dims: Optional[Mapping[str, int]] = None,
                 expert_dims: Optional[Mapping[str, int]] = None,
                 framework_layout: Optional[FrameworkLayout] = None,
                 lora: Optional[Mapping[str, LoraAdapter]] = None,
                 timeout: float = 30.0) -> "InferenceEndpoint":
        """Registers named tensors of this inference rank with the agent at ``agent_address``.

        Args:
          agent_address: ``host:port`` of the agent of this host (CPU tensors)
            or of the tensors' GPU (CUDA tensors).
          model: the inference model's name, e.g. ``"policy_vllm"``.
          tensors: name -> numpy array, ``(shape, dtype)`` or torch.Tensor, this
            rank's shards (the names a sync fills; see
            :mod:`paramsync._rank_weights` for where each kind lives).
          replica: the index of this rank's replica; with ``layout`` (the
            replica's tp/pp sizes and this rank's tp/pp ranks) it gives the
            model rank, ``layout.inference_rank(replica)``.
          tp_split_dims, expert_dims, framework_layout, timeout: as for
            TrainerEndpoint.register.
          lora: name -> :class:`paramsync.LoraAdapter` for the adapter
            matrices this rank holds (e.g. vLLM's LoRA slots), which syncs
            of a group with ``lora_mode="adapters_only"`` fill; ``base`` may
            be "" here.

        Blocks until the agent and the coordinator accepted the endpoint.

        Raises:
          ValueError / TypeError: bad arguments or tensors (names the tensor).
          ParamsyncError: from the agent or coordinator, e.g. ALREADY_EXISTS,
            UNAVAILABLE.
          OSError: libparamsync.so cannot be loaded.
        """
        return cls._register(agent_address, model, layout.inference_rank(replica), tensors,
                             layout=layout, replica=replica, local_rank=layout.local_rank(),
                             tp_split_dims=tp_split_dims, expert_dims=expert_dims,
                             framework_layout=framework_layout, lora=lora, timeout=timeout)

    @classmethod
    def from_module(cls, agent_address: str, model: str, module: Any, *, replica: int = 0,
                    layout: ParallelLayout = ParallelLayout(),
                    names: Optional[Iterable[str]] = None,
                    tp_split_dims: Optional[Mapping[str, int]] = None,
                    expert_dims: Optional[Mapping[str, int]] = None,
                    framework_layout: Optional[FrameworkLayout] = None,
                    lora: Optional[Mapping[str, LoraAdapter]] = None,
                    timeout: float = 30.0) -> "InferenceEndpoint":
        """Registers every parameter of a torch module (inference weights need no grad).

        ``names`` restricts them to those (KeyError for one the module lacks);
        the other arguments and errors are :meth:`register`'s.
        """
        return cls.register(agent_address, model,
                            module_parameters(module, trainable_only=False, names=names),
                            replica=replica, layout=layout, tp_split_dims=tp_split_dims,
                            expert_dims=expert_dims, framework_layout=framework_layout,
                            lora=lora, timeout=timeout)

    @classmethod
    def from_vllm(cls, agent_address: str, model: str, worker: Any, *, replica: int = 0,
                  layout: ParallelLayout = ParallelLayout(),
                  names: Optional[Iterable[str]] = None,
                  tp_split_dims: Optional[Mapping[str, int]] = None,
                  expert_dims: Optional[Mapping[str, int]] = None,
                  framework_layout: Optional[FrameworkLayout] = None,
                  lora: Optional[Mapping[str, LoraAdapter]] = None,
                  timeout: float = 30.0) -> "InferenceEndpoint":
        """Registers a vLLM worker's weights after load (``model_runner.model.named_parameters()``).

        ``worker``: see :func:`vllm_model`. ``layout``: the replica's tp/pp
        sizes and this worker's ranks (vLLM's
        ``get_tensor_model_parallel_rank()`` and pipeline rank). Names are
        vLLM's parameter names: a trainer must register the same names (map
        them on the trainer side), or both sides name their framework layouts
        (``framework_layout``, :mod:`paramsync.framework_layout`) for a group
        with ``strategy="direct"``. Arguments and errors otherwise as for
        :meth:`from_module`.
        """
        return cls.from_module(agent_address, model, vllm_model(worker), replica=replica,
                               layout=layout, names=names, tp_split_dims=tp_split_dims,
                               expert_dims=expert_dims, framework_layout=framework_layout,
                               lora=lora, timeout=timeout)

    def wait_for_version(self, version: int, timeout: float = 60.0,
                         poll_interval: float = 0.05) -> int:
        """Blocks until this rank holds ``version`` or a later one; returns the version held.

        Polls the agent every ``poll_interval`` seconds. Raises TimeoutError
        after ``timeout`` seconds (naming the version held), ParamsyncError when
        the agent cannot be asked, ValueError once closed.
        """
        deadline = time.monotonic() + timeout
        while True:
            held = self.version()
            if held >= version:
                return held
            if time.monotonic() >= deadline:
                raise TimeoutError("%s rank %d holds version %d, not %d, after %.1f s"
                                   % (self.model, self.rank, held, version, timeout))
            time.sleep(poll_interval)
