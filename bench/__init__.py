"""bench: reproducible benchmarking and profiling of convolutional networks."""

__version__ = "0.1.0"
