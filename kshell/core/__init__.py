"""The session and what acts on plugs for a command: targets, identity, the gate, discovery."""
