"""Low-level clients compiled from openapi/ by scripts/generate.py. Never edited by hand."""
