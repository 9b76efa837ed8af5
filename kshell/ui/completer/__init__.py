"""Completion in two steps: ``engine`` decides what can come next (pure, unit-tested
without a terminal; ``kshell.lang.grammar`` scans the line being typed exactly as it will run,
``targets`` indexes the known plugs); ``prompt`` turns that into prompt_toolkit completions."""
