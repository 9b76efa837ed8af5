"""kshell: a shell for TP-Link Kasa smart plugs on a local network."""

__version__ = "0.1.0"
