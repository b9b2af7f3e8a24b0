"""TLS and bearer-token settings of this process's calls to agents and coordinators.

By default the library reads them, on first use, from the environment:
``PARAMSYNC_TLS_CA``, ``PARAMSYNC_TLS_CERT``, ``PARAMSYNC_TLS_KEY``,
``PARAMSYNC_TLS_SERVER_NAME`` and ``PARAMSYNC_TOKEN_FILE`` (paths). A process
can set them instead with :func:`configure_security`::

    paramsync.configure_security(tls_ca="/etc/paramsync/tls/ca.pem",
                                 tls_cert="/etc/paramsync/tls/client.pem",
                                 tls_key="/etc/paramsync/tls/client.key",
                                 token_file="/etc/paramsync/token")
"""

from __future__ import annotations

from typing import Optional

from . import _lib

__all__ = ["configure_security"]


def _path(value: Optional[str]) -> Optional[bytes]:
    return None if value is None else _lib.encode(value)


def configure_security(tls_ca: Optional[str] = None, tls_cert: Optional[str] = None,
                       tls_key: Optional[str] = None, token_file: Optional[str] = None,
                       tls_server_name: Optional[str] = None) -> None:
    """Sets the TLS material and bearer token of every later call of this process.

    tls_ca: PEM CA bundle verifying servers; given, calls use TLS.
    tls_cert, tls_key: PEM client certificate and key (mutual TLS).
    token_file: file holding the bearer token sent on every call.
    tls_server_name: the name to verify in server certificates instead of the
      dialed host.

    Replaces the environment's settings (and any earlier call) as a whole;
    ``None`` leaves a setting off. The files are read now: raises
    ParamsyncError (FAILED_PRECONDITION or INVALID_ARGUMENT, the path named)
    and changes nothing when one cannot be used. Endpoints already registered
    keep their connections.
    """
    _lib.check(_lib.library().paramsync_set_security(
        _path(tls_ca), _path(tls_cert), _path(tls_key), _path(token_file),
        _path(tls_server_name)))
