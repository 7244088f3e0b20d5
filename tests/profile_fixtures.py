"""Static profiles of the lecture's ImageNet networks, measured once per test session.

Profiling a 224x224 network on a CPU costs seconds, so the tests share one real profile per
model through this cache.
"""

from __future__ import annotations

from functools import cache

from bench.measure.static_profile import StaticProfile, profile_registered

IMAGENET_INPUT = (3, 224, 224)


@cache
def imagenet_profile(name: str) -> StaticProfile:
    """The profile of ``name`` at 3x224x224 with 1000 classes, computed on first use."""
    return profile_registered(name, IMAGENET_INPUT, 1000)


def cached_profile_registered(
    name: str,
    input_size: tuple[int, int, int],
    num_classes: int,
    batch_size: int = 1,
    layers: bool = False,
) -> StaticProfile:
    """``profile_registered`` answering from the session cache for ImageNet-size profiles."""
    if (input_size, num_classes, batch_size, layers) == (IMAGENET_INPUT, 1000, 1, False):
        return imagenet_profile(name)
    return profile_registered(name, input_size, num_classes, batch_size, layers)
