"""What a run produced: record types and metrics, job summaries, the run directory (its one reader
and writer) and baseline files. Imports no torch.
"""
