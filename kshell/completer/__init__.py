"""Completion in two steps: ``engine`` decides what can come next (pure, unit-tested
without a terminal; ``scan`` tokenizes the line being typed, ``targets`` indexes the known
plugs); ``prompt`` turns that into prompt_toolkit completions."""
