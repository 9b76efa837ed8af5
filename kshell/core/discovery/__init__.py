"""Finding plugs: the 9999 broadcast and sweep, and the current generation's 20002."""
