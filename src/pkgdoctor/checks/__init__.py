"""Checks: pure functions from a target's facts to findings, one module per family."""
