"""Request builders and models compiled from openapi/ by scripts/generate.py; never edited."""
