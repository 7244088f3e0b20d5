"""Running a suite: the session from start to end, one job to records, batch size search,
distributed training, progress output, and merging run directories.
"""
