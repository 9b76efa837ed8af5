"""The surfaces: the command line, the demo, the REPL and remote mode."""
