"""Firmware: the library, versions, the staging server and the flash."""
