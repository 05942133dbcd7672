"""Helpers shared by the tests: real processes, Prometheus data, the rules stack, TLS files."""
