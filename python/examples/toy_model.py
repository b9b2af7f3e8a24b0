"""A tiny transformer-shaped model the examples train and sync, on CPU with numpy.

Training is deterministic (plain gradient steps on a quadratic loss), so an
inference rank can recompute the weights of any step and check, bit for bit,
which step a sync delivered.
"""

from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np

# Parameter name -> shape (one TP1 rank of a one-layer model).
SHAPES: Dict[str, Tuple[int, ...]] = {
    "embed.weight": (64, 16),
    "layers.0.attn.qkv.weight": (48, 16),
    "layers.0.mlp.fc.weight": (32, 16),
    "norm.weight": (16,),
}

_LEARNING_RATE = np.float32(0.1)


def initial_weights(seed: int = 0) -> Dict[str, np.ndarray]:
    """Step 0: random float32 weights."""
    rng = np.random.default_rng(seed)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def _targets() -> Dict[str, np.ndarray]:
    rng = np.random.default_rng(12345)
    return {name: rng.standard_normal(shape).astype(np.float32) for name, shape in SHAPES.items()}


def train_step(weights: Dict[str, np.ndarray]) -> None:
    """One optimizer step, in place: w -= lr * grad of 0.5 * |w - target|^2."""
    for name, target in _targets().items():
        weights[name] -= _LEARNING_RATE * (weights[name] - target)


def weights_after(steps: int, seed: int = 0) -> Dict[str, np.ndarray]:
    """The weights after ``steps`` training steps."""
    weights = initial_weights(seed)
    for _ in range(steps):
        train_step(weights)
    return weights


def step_of(weights: Dict[str, np.ndarray], max_steps: int, seed: int = 0) -> Optional[int]:
    """The training step whose weights ``weights`` are exactly, or None."""
    expected = initial_weights(seed)
    for step in range(max_steps + 1):
        if all(np.array_equal(weights[name], expected[name]) for name in SHAPES):
            return step
        train_step(expected)
    return None
