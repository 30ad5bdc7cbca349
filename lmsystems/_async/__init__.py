"""The implementation both clients share: the source of lmsystems/_sync/ (see scripts/unasync.py)."""
