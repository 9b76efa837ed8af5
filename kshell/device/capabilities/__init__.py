"""Capability modules: one interface each (base), implemented per family (iot, smart)."""
