"""The trainer side: a training rank's weights, registered so that syncs read them.

Inside a PyTorch trainer, once the model is built and placed::

    from paramsync import ParallelLayout, TrainerEndpoint
    layout = ParallelLayout(tp_size=2, tp_rank=tp_rank, dp_size=dp, dp_rank=dp_rank)
    weights = TrainerEndpoint.from_module(agent_address, "policy_trainer", model,
                                          layout=layout, tp_split_dims={"embed.weight": 0})
    for step in range(steps):
        loss.backward(); optimizer.step()
        weights.update()      # new values complete before the next sync reads them

CUDA parameters are shared with the agent of their GPU in place (CUDA IPC);
CPU parameters are moved into shared memory, so optimizer steps write straight
into what the agent reads. Weights computed elsewhere (gathered, converted) are
copied in with ``weights.update({"name": value, ...})``. A trainer without
PyTorch registers numpy arrays with :meth:`TrainerEndpoint.register` and trains
the arrays in ``weights.tensors`` in place.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional

from ._rank_weights import RankWeights, copy_into, module_parameters
from .endpoint import TensorSpec
from .framework_layout import FrameworkLayout
from .layout import ParallelLayout
from .lora import LoraAdapter

__all__ = ["TrainerEndpoint"]


class TrainerEndpoint(RankWeights):
    """A trainer rank's registered weights: what the next sync sends."""

    _ROLE = "trainer"

    @classmethod
    def register(cls, agent_address: str, model: str, tensors: Mapping[str, TensorSpec], *,
                 layout: ParallelLayout = ParallelLayout(), rank: Optional[int] = None,
                 tp_split_dims: Optional[Mapping[str, int]] = None,
                 expert_dims: Optional[Mapping[str, int]] = None,
                 framework_layout: Optional[FrameworkLayout] = None,
                 lora: Optional[Mapping[str, LoraAdapter]] = None,
                 timeout: float = 30.0) -> "TrainerEndpoint":
        """Registers named tensors of this trainer rank with the agent at ``agent_address``.

        Args:
          agent_address: ``host:port`` of the agent of this host (CPU tensors)
            or of the tensors' GPU (CUDA tensors).
          model: the trainer model's name, e.g. ``"policy_trainer"``.
          tensors: name -> numpy array, ``(shape, dtype)`` or torch.Tensor, this
            rank's local shards (see :mod:`paramsync._rank_weights` for where
            each kind lives).
          layout: this rank's place in the model's parallelism.
          rank: the model rank; by default ``layout.trainer_rank()``.
          tp_split_dims: name -> the dimension tensor parallelism splits (a
            tensor not listed is held whole by every TP rank).
          expert_dims: name -> the expert dimension of stacked routed-expert
            weights, for groups with ``hep``.
          framework_layout: the framework layout the tensors follow (see
            :mod:`paramsync.framework_layout`), for groups with
            ``strategy="direct"``.
          lora: name -> :class:`paramsync.LoraAdapter` for the tensors that
            are LoRA adapter matrices of a base weight of this rank (see
            :mod:`paramsync.lora`): a sync merges them into their base
            weights (and restores those after) or syncs them alone, as the
            group's ``lora_mode`` says.
          timeout: seconds to wait for the agent and the coordinator.

        Blocks until the agent and the coordinator accepted the endpoint.

        Raises:
          ValueError / TypeError: bad arguments or tensors (names the tensor).
          ParamsyncError: from the agent or coordinator, e.g. ALREADY_EXISTS
            (the rank is held by another agent), UNAVAILABLE.
          OSError: libparamsync.so cannot be loaded.
        """
        return cls._register(agent_address, model,
                             layout.trainer_rank() if rank is None else rank, tensors,
                             layout=layout, replica=0, local_rank=0,
                             tp_split_dims=tp_split_dims, expert_dims=expert_dims,
                             framework_layout=framework_layout, lora=lora, timeout=timeout)

    @classmethod
    def from_module(cls, agent_address: str, model: str, module: Any, *,
                    layout: ParallelLayout = ParallelLayout(), rank: Optional[int] = None,
                    names: Optional[Iterable[str]] = None,
                    tp_split_dims: Optional[Mapping[str, int]] = None,
                    expert_dims: Optional[Mapping[str, int]] = None,
                    framework_layout: Optional[FrameworkLayout] = None,
                    lora: Optional[Mapping[str, LoraAdapter]] = None,
                    timeout: float = 30.0) -> "TrainerEndpoint":
        """Registers a torch module's trainable parameters (``requires_grad``).

        With ``lora``, every parameter: a LoRA trainer's frozen base weights
        are what a merge sync sends, and adapters need their base registered.
        ``names`` restricts them to those (KeyError for one the module lacks);
        the other arguments and errors are :meth:`register`'s.
        """
        return cls.register(agent_address, model,
                            module_parameters(module, trainable_only=not lora, names=names),
                            layout=layout, rank=rank, tp_split_dims=tp_split_dims,
                            expert_dims=expert_dims, framework_layout=framework_layout,
                            lora=lora, timeout=timeout)

    def update(self, values: Optional[Mapping[str, Any]] = None) -> None:
        """Makes the registered tensors hold this step's weights, ready for the next sync.

        Call after the optimizer step and before the sync that should send it.
        ``values`` (name -> array or tensor of the registered shape) are
        copied into the registered tensors first; without them the tensors
        already hold the new weights (trained in place). On a CUDA endpoint it
        then waits for the GPU's queued work, so the agent reads finished
        values.

        Raises KeyError for a name not registered, ValueError for a shape that
        differs (nothing is copied then) or once closed.
        """
        tensors = self.tensors
        for name, value in (values or {}).items():
            if name not in tensors:
                raise KeyError("%r is not a registered tensor of %s rank %d"
                               % (name, self.model, self.rank))
            if tuple(value.shape) != tuple(tensors[name].shape):
                raise ValueError("%r: value of shape %s for a tensor of shape %s"
                                 % (name, tuple(value.shape), tuple(tensors[name].shape)))
        for name, value in (values or {}).items():
            copy_into(tensors[name], value)
        synchronize = getattr(self.endpoint, "synchronize", None)
        if synchronize is not None:
            synchronize()
