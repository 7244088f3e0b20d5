"""Exporters: a run directory into the tools people already track runs with, one module per
destination (``tensorboard_events``, ``mlflow_runs``), each reading the run through
``bench.results.rundir`` and naming its figures as ``fields`` does, so that a metric has one
name, with its unit, in every tool."""
