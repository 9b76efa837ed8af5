"""Protocols: a family's language over any transport (IOT JSON, SMART JSON-RPC)."""
