"""Suite files → validated settings → the job matrix: reading TOML, the schema of every setting,
shards, regression thresholds and profile suites.
"""
