"""Benchmarks, kept apart from the tests: ``python -m bench`` runs them all (``make bench``)."""
