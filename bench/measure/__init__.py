"""Measurement on the torch side: static profiles, timing, memory, telemetry, environment."""
