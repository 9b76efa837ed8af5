"""Long work a command starts: watches, energy, ping, firmware, metrics."""
