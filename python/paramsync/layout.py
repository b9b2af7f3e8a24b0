"""Where one rank sits in its model's parallelism (Megatron trainers, vLLM replicas)."""

from __future__ import annotations

import dataclasses
from typing import Dict

__all__ = ["ParallelLayout"]


@dataclasses.dataclass(frozen=True)
class ParallelLayout:
    """The parallel layout of one rank: its model's sizes and this rank's place.

    Trainer (Megatron): tensor, pipeline, expert and data parallel sizes and
    this rank's rank in each. Inference (vLLM): one replica's tp and pp sizes
    and this rank's tp and pp ranks (ep as for a trainer; dp_size stays 1,
    replicas are counted apart).

    Raises ValueError on construction for a size below 1 or a rank outside
    its size.
    """

    tp_size: int = 1
    pp_size: int = 1
    ep_size: int = 1
    dp_size: int = 1
    tp_rank: int = 0
    pp_rank: int = 0
    ep_rank: int = 0
    dp_rank: int = 0

    def __post_init__(self) -> None:
        for kind in ("tp", "pp", "ep", "dp"):
            size = getattr(self, kind + "_size")
            rank = getattr(self, kind + "_rank")
            if size < 1:
                raise ValueError("%s_size must be >= 1, got %r" % (kind, size))
            if not 0 <= rank < size:
                raise ValueError("%s_rank must be in [0, %d), got %r" % (kind, size, rank))

    def trainer_rank(self) -> int:
        """Megatron's global rank of this trainer rank: pp_rank*tp*dp + dp_rank*tp + tp_rank."""
        return (self.pp_rank * self.tp_size * self.dp_size + self.dp_rank * self.tp_size
                + self.tp_rank)

    def local_rank(self) -> int:
        """The rank inside an inference replica: pp_rank*tp + tp_rank."""
        return self.pp_rank * self.tp_size + self.tp_rank

    def inference_rank(self, replica: int) -> int:
        """The model rank of this rank of inference replica ``replica``."""
        if replica < 0:
            raise ValueError("replica must be >= 0, got %r" % (replica,))
        return replica * self.tp_size * self.pp_size + self.local_rank()

    def registration_arguments(self) -> Dict[str, int]:
        """The sizes and ranks as register_endpoint's keyword arguments."""
        return dataclasses.asdict(self)
