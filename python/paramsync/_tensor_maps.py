"""Arguments that map tensor names to something (tp_split_dims, lora, ...)."""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, TypeVar

_V = TypeVar("_V")


def check_tensor_map(argument: str, mapping: Optional[Mapping[str, _V]],
                     tensors: Mapping[str, Any]) -> Dict[str, _V]:
    """``mapping`` (argument ``argument``; None: empty) as a dict.

    Raises ValueError naming the tensors it names that ``tensors`` lacks.
    """
    checked = dict(mapping or {})
    unknown = sorted(map(str, set(checked) - set(tensors)))
    if unknown:
        raise ValueError("%s names tensors that are not in tensors: %s"
                         % (argument, ", ".join(unknown)))
    return checked
