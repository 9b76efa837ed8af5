"""The errors kshell reports to an operator: each one becomes a single line.

``kind`` is the machine-readable class used in ``--json`` error objects.
"""

from __future__ import annotations


class KshellError(Exception):
    """Base class: an error the operator should see as one clear line."""

    kind = "error"

    def __init__(self, message: str, *, target: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.target = target

    def __str__(self) -> str:
        return f"{self.target}: {self.message}" if self.target else self.message


class ProtocolError(KshellError):
    """The bytes a device sent do not make a valid answer."""

    kind = "protocol"


class TransportError(KshellError):
    """Could not reach the device, or it did not answer in time."""

    kind = "transport"


class DeviceTimeout(TransportError):
    kind = "timeout"


class UnsupportedDevice(KshellError):
    """A device we can see but cannot talk to (KLAP firmware, bulbs...)."""

    kind = "unsupported"


class DeviceError(KshellError):
    """The device answered with ``err_code != 0``."""

    kind = "device"

    def __init__(
        self, module: str, method: str, code: int, msg: str = "", *, target: str | None = None
    ) -> None:
        text = f"{module}.{method} failed: err_code {code}" + (f" ({msg})" if msg else "")
        super().__init__(text, target=target)
        self.module = module
        self.method = method
        self.code = code
        self.msg = msg


class TargetError(KshellError):
    """The target named on the command line does not resolve."""

    kind = "target"


class UsageError(KshellError):
    """The command line does not fit the command's declaration."""

    kind = "usage"


class Refused(KshellError):
    """The command needs a confirmation or a permission it did not get."""

    kind = "refused"


class AuthenticationError(KshellError):
    """A KLAP or AES plug refused the credentials, or proved it does not know them."""

    kind = "auth"


class NoCredentials(AuthenticationError):
    """A KLAP or AES plug needs its owner's login and kshell has none to offer."""


class Unproven(AuthenticationError):
    """The owner's login was withheld from a plug that cannot prove it is the owner's (AES)
    and that the owner has not said to trust: nothing was sent to it."""

    kind = "unproven"
