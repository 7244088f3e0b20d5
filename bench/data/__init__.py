"""Data sets held as uint8 tensors, their loaders and transforms.

Importing this package imports no torch; its modules do.
"""

import os
from pathlib import Path

# Where data sets live unless a command is told otherwise.
DEFAULT_DATA_DIR = Path(os.environ.get("BENCH_DATA_DIR", "data"))
