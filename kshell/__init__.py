"""kshell: a shell for TP-Link Kasa smart plugs on a local network."""

from pathlib import Path as _Path

__version__ = "0.1.0"

# Installed, commands/ and history/ live inside this package (setup.cfg's package_dir).
# In a checkout that is not installed they sit beside it: let the package look there too,
# so `kshell.history` imports the same way in both (appended: our own modules win).
_here = _Path(__file__).resolve().parent
if not (_here / "history").is_dir():
    __path__.append(str(_here.parent))
