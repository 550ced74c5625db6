"""The papers' experiments as named, runnable recipes."""
