"""Transports move one request's bytes to a plug and its answer back, owning any session.

XOR over TCP 9999 (the first generation), KLAP over HTTP and AES ("securePassthrough") over
HTTP (the current one). Above them, protocols speak a family's language (IOT JSON, SMART
JSON-RPC); nothing above the protocols knows which transport carried a request.
"""
