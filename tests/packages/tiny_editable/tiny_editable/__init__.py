"""A module of the tiny test project."""

ANSWER = 42
