"""The device layer: transports move bytes, protocols speak a family's language, and a
``Device`` (``kshell.device.device``) with capability modules is all that commands, streams
and flows see.

Nothing is imported here: a one-shot command loads only the family its plug speaks (the IOT
sysinfo readers the store and discovery use live in ``kshell.device.sysinfo``).
"""
