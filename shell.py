#!/usr/bin/env python3
"""Entry point in a checkout: ``python shell.py [options] [script]``."""

import sys

from kshell.app.cli import run

if __name__ == "__main__":
    sys.exit(run())
