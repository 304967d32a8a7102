"""certmgr: lifecycle manager for the IGC Santé certificates of MSSanté applicative mailboxes."""

from importlib.metadata import PackageNotFoundError, version

__all__ = ["__version__"]

try:
    __version__ = version("certmgr")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
