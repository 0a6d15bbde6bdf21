"""The privacy of a release: OpenDP's Laplace mechanism over bounded contributions, then
suppression of every cell whose noisy value might stand for fewer than k people.

Pure: no I/O. The noise comes from OpenDP's measurement, never from a sampler of our own, and
the epsilon a release publishes is what OpenDP's privacy map says the measurement costs.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import msgspec
import opendp.prelude as dp

from .models import Bounds

dp.enable_features("contrib")  # OpenDP gates its vetted-but-unproven constructors behind this

MECHANISM = "discrete_laplace"


class Noised(msgspec.Struct, frozen=True, kw_only=True):
    """One measurement's output: noisy values, what it cost, and its noise scale."""

    values: tuple[int, ...]
    epsilon: float
    scale: float


@functools.lru_cache(maxsize=64)
def laplace(scale: float) -> dp.Measurement:
    """OpenDP's Laplace mechanism over a vector of integers (discrete Laplace noise); built
    once per scale (a measurement is immutable and draws fresh noise on every call)."""
    return dp.m.make_laplace(dp.vector_domain(dp.atom_domain(T=int)), dp.l1_distance(T=int), scale)


def measure(true_values: Sequence[int], bounds: Bounds, epsilon: float) -> Noised:
    """Adds noise calibrated so that any one customer's bounded contribution costs `epsilon`."""
    scale = bounds.sensitivity / epsilon
    mechanism = laplace(scale)
    spent = float(mechanism.map(d_in=bounds.sensitivity))
    if spent > epsilon * (1 + 1e-9):  # OpenDP's accountant is the authority, not our algebra
        raise AssertionError(f"mechanism costs {spent}, more than the {epsilon} asked")
    values = tuple(mechanism(list(true_values))) if true_values else ()
    return Noised(values=values, epsilon=spent, scale=scale)


def threshold(k: int, scale: float, delta: float) -> float:
    """The noisy value below which a cell is suppressed.

    A cell whose true count is under k passes only if its noise exceeds `threshold - k`; for
    Laplace noise of scale b that happens with probability ½·exp(-(threshold-k)/b), so
    threshold = k + b·ln(1/(2δ)) makes it at most δ. Suppression is post-processing: it costs
    no epsilon.
    """
    return k + scale * math.log(1 / (2 * delta))


def suppressed(values: Sequence[int], cut: float) -> tuple[bool, ...]:
    return tuple(v < cut for v in values)
