"""The async implementation: the single source of the sync one (see scripts/unasync.py)."""
