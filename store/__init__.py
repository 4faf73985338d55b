"""The store: DuckDB schema and migrations, repositories, append-only audit log, blobs, jobs, vector indexes.

Imports nothing else of Greenroom's (settings arrive as arguments).
"""
