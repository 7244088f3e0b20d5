"""Regression tracking: comparing a run with a baseline, its output formats, and the history
database with step detection. Imports no torch.
"""
