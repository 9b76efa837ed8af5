"""Completion in two steps: ``engine`` decides what can come next (pure, unit-tested
without a terminal); ``prompt`` turns that into prompt_toolkit completions."""
