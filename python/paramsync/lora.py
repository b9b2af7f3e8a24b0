"""LoRA adapters: which registered tensors are adapter matrices, of which base weight.

A rank declares its adapters when it registers its tensors, with a map from
tensor name to :class:`LoraAdapter`::

    TrainerEndpoint.register(agent, "policy_trainer", tensors, layout=layout,
                             tp_split_dims={"qkv.weight": 0, "qkv.lora_B": 0},
                             lora={"qkv.lora_A": LoraAdapter("A", "qkv.weight", alpha / r),
                                   "qkv.lora_B": LoraAdapter("B", "qkv.weight", alpha / r)})

The base weight W [m, n] is a tensor of the same endpoint; A is [r, n] and B
[m, r], all three of one dtype (float32, float16 or bfloat16). Each rank
registers its shards as it holds them: where W is split along dimension 0
(column parallel) B is split with it and A is whole; where W is split along
dimension 1 (row parallel) A is split and B is whole. The sync group's
``lora_mode`` (:meth:`paramsync.Coordinator.create_group`) then says what a
sync does with them: ``"merge"`` (the default) merges ``scale * B @ A`` into W
on the trainer's agents for the sync and restores W bit for bit after it;
``"adapters_only"`` syncs the adapter matrices alone, into inference ranks that
registered theirs. The coordinator checks adapters against their base weights
when the endpoint registers.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Mapping, Optional

from ._tensor_maps import check_tensor_map

__all__ = ["LoraAdapter"]

_ROLES = {"A": "LORA_ROLE_A", "B": "LORA_ROLE_B"}


@dataclasses.dataclass(frozen=True)
class LoraAdapter:
    """A registered tensor that is a LoRA adapter matrix (a paramsync.v1.LoraSpec).

    role: ``"A"`` (the down projection, [r, n]) or ``"B"`` (the up projection,
    [m, r]). base: the name of the base weight W [m, n] it updates, a tensor
    of the same endpoint; an inference rank of a group with
    ``lora_mode="adapters_only"`` may leave it ``""``. scale: alpha / r, finite
    and non-zero, the same for the A and B of one base.

    Raises ValueError on construction for a role, base or scale outside these.
    """

    role: str
    base: str
    scale: float

    def __post_init__(self) -> None:
        if self.role not in _ROLES:
            raise ValueError("LoraAdapter role must be 'A' or 'B', got %r" % (self.role,))
        if not isinstance(self.base, str):
            raise ValueError("LoraAdapter base must be a tensor name (str), got %r"
                             % (self.base,))
        if (isinstance(self.scale, bool) or not isinstance(self.scale, (int, float))
                or not math.isfinite(self.scale) or self.scale == 0):
            raise ValueError("LoraAdapter scale (alpha / r) must be a finite non-zero number, "
                             "got %r" % (self.scale,))

    def spec(self) -> Dict[str, Any]:
        """The paramsync.v1.LoraSpec as a dict (proto JSON field names)."""
        return {"role": _ROLES[self.role], "base": self.base, "scale": float(self.scale)}


def check_lora_argument(tensors: Mapping[str, Any],
                        lora: Optional[Mapping[str, LoraAdapter]]) -> Dict[str, LoraAdapter]:
    """``lora`` (tensor name -> LoraAdapter) as a dict, naming only ``tensors``.

    Raises ValueError naming the tensors it names that ``tensors`` lacks, and
    TypeError naming a tensor whose value is not a LoraAdapter.
    """
    checked = check_tensor_map("lora", lora, tensors)
    for name, adapter in checked.items():
        if not isinstance(adapter, LoraAdapter):
            raise TypeError("lora[%r] must be a paramsync.LoraAdapter, got %s"
                            % (name, type(adapter).__name__))
    return checked
