"""Loading of libparamsync.so and the ctypes declarations of its C ABI.

The library is looked up, in order, at:

1. the path in the ``PARAMSYNC_LIB`` environment variable (an error if it is set
   and the file cannot be loaded);
2. ``bazel-bin/client/libparamsync.so`` under the repository root, found by
   walking up from this package's directory;
3. ``libparamsync.so`` inside this package's directory.

It is loaded once, on first use, so importing :mod:`paramsync` never fails for
lack of the library.
"""

from __future__ import annotations

import ctypes
import os
import threading
from typing import Any, Dict, List, Optional, Tuple, Union

__all__ = ["ParamsyncError", "library", "library_path", "STATUS_CODES"]

# absl::StatusCode / grpc::StatusCode values and their names.
STATUS_CODES: Dict[int, str] = {
    0: "OK",
    1: "CANCELLED",
    2: "UNKNOWN",
    3: "INVALID_ARGUMENT",
    4: "DEADLINE_EXCEEDED",
    5: "NOT_FOUND",
    6: "ALREADY_EXISTS",
    7: "PERMISSION_DENIED",
    8: "RESOURCE_EXHAUSTED",
    9: "FAILED_PRECONDITION",
    10: "ABORTED",
    11: "OUT_OF_RANGE",
    12: "UNIMPLEMENTED",
    13: "INTERNAL",
    14: "UNAVAILABLE",
    15: "DATA_LOSS",
    16: "UNAUTHENTICATED",
}

_LIB_NAME = "libparamsync.so"
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


class ParamsyncError(RuntimeError):
    """An error returned by the paramsync C library (a gRPC status).

    Attributes:
      code: the gRPC status code name, e.g. ``"NOT_FOUND"``.
      code_value: its numeric value, e.g. ``5``.
      message: the message of the status (coordinator and agent messages come
        back unchanged, prefixed with the RPC that failed).
    """

    code: str
    code_value: int
    message: str

    def __init__(self, code: Union[int, str], message: str) -> None:
        if isinstance(code, int):
            self.code_value = code
            self.code = STATUS_CODES.get(code, "CODE_%d" % code)
        else:
            self.code = str(code)
            self.code_value = next(
                (v for v, n in STATUS_CODES.items() if n == self.code), -1)
        self.message = message
        super().__init__("%s: %s" % (self.code, message))

    def __reduce__(self) -> Tuple[Any, Tuple[int, str]]:  # Picklable across multiprocessing.
        return (ParamsyncError, (self.code_value, self.message))


def _candidates() -> Tuple[List[str], bool]:
    env = os.environ.get("PARAMSYNC_LIB")
    if env:
        return [env], True
    paths: List[str] = []
    directory = _PACKAGE_DIR
    while True:
        candidate = os.path.join(directory, "bazel-bin", "client", _LIB_NAME)
        if os.path.exists(candidate):
            paths.append(candidate)
            break
        if os.path.exists(os.path.join(directory, "WORKSPACE")):
            break  # The repository root without a build: stop here.
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    paths.append(os.path.join(_PACKAGE_DIR, _LIB_NAME))
    return paths, False


_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None
_lib_path: Optional[str] = None

# Declarations: name -> (restype, argtypes). Strings returned through char**
# are received as c_void_p so that they can be handed back to
# paramsync_free_string.
_c_char_p = ctypes.c_char_p
_c_void_p = ctypes.c_void_p
_c_int = ctypes.c_int
_c_int64 = ctypes.c_int64
_c_uint64 = ctypes.c_uint64

EVENT_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)

_SIGNATURES: Dict[str, Tuple[Any, List[Any]]] = {
    "paramsync_last_error": (_c_char_p, []),
    "paramsync_free_string": (None, [_c_void_p]),
    "paramsync_set_security": (_c_int, [_c_char_p, _c_char_p, _c_char_p, _c_char_p, _c_char_p]),
    "paramsync_endpoint_register": (
        _c_int, [_c_char_p, _c_char_p, _c_int64, ctypes.POINTER(_c_void_p)]),
    "paramsync_endpoint_tensor": (
        _c_void_p, [_c_void_p, _c_char_p, ctypes.POINTER(_c_uint64)]),
    "paramsync_endpoint_version": (
        _c_int, [_c_void_p, _c_int64, ctypes.POINTER(_c_int64)]),
    "paramsync_endpoint_free": (None, [_c_void_p]),
    "paramsync_register_shared": (_c_int, [_c_char_p, _c_char_p, _c_int64]),
    "paramsync_attach": (_c_int, [_c_char_p, _c_char_p, _c_int, ctypes.POINTER(_c_void_p)]),
    "paramsync_detach": (None, [_c_void_p]),
    "paramsync_query_version": (
        _c_int, [_c_char_p, _c_char_p, _c_int, _c_int64, ctypes.POINTER(_c_int64)]),
    "paramsync_create_group": (_c_int, [_c_char_p, _c_char_p, _c_int64]),
    "paramsync_sync": (_c_int, [_c_char_p, _c_char_p, _c_int64, ctypes.POINTER(_c_void_p)]),
    "paramsync_sync_with_progress": (
        _c_int, [_c_char_p, _c_char_p, _c_int64, EVENT_CALLBACK, _c_void_p,
                 ctypes.POINTER(_c_void_p)]),
    "paramsync_list_groups": (_c_int, [_c_char_p, _c_int64, ctypes.POINTER(_c_void_p)]),
    "paramsync_get_plan": (_c_int, [_c_char_p, _c_char_p, _c_int64, ctypes.POINTER(_c_void_p)]),
    "paramsync_status": (_c_int, [_c_char_p, _c_int64, ctypes.POINTER(_c_void_p)]),
    "paramsync_watch_errors": (_c_int, [_c_char_p, _c_int64, EVENT_CALLBACK, _c_void_p]),
    "paramsync_watch_errors_since": (
        _c_int, [_c_char_p, _c_int64, _c_int64, EVENT_CALLBACK, _c_void_p]),
}


def library() -> Any:
    """Returns the loaded ``ctypes.CDLL`` with every function declared.

    Loads it on the first call. Raises ``OSError`` naming the paths tried when
    no library can be loaded.
    """
    global _lib, _lib_path
    with _lock:
        if _lib is not None:
            return _lib
        paths, from_env = _candidates()
        errors: List[str] = []
        for path in paths:
            if not from_env and not os.path.exists(path):
                errors.append("%s: not found" % path)
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                errors.append("%s: %s" % (path, e))
                continue
            missing = [name for name in _SIGNATURES if not hasattr(lib, name)]
            if missing:
                errors.append("%s: lacks %s (built from older sources? rebuild it)"
                              % (path, ", ".join(missing)))
                continue
            for name, (restype, argtypes) in _SIGNATURES.items():
                function = getattr(lib, name)
                function.restype = restype
                function.argtypes = argtypes
            _lib, _lib_path = lib, path
            return lib
        raise OSError(
            "cannot load %s (set PARAMSYNC_LIB, or build it with "
            "`bazel build //client:libparamsync.so`); tried: %s"
            % (_LIB_NAME, "; ".join(errors)))


def library_path() -> str:
    """The path of the loaded library (loading it if needed).

    Raises ``OSError`` when no library can be loaded.
    """
    library()
    return str(_lib_path)


def check(rc: int) -> None:
    """Raises ParamsyncError for a non-zero return code of a C ABI function.

    Must be called on the thread that made the call (the message is per thread).
    """
    if rc != 0:
        message = library().paramsync_last_error()
        raise ParamsyncError(int(rc), message.decode("utf-8", "replace") if message else "")


def take_string(pointer: Optional[int]) -> str:
    """Decodes a char* returned by the library and frees it."""
    if not pointer:
        return ""
    try:
        return ctypes.string_at(pointer).decode("utf-8")
    finally:
        library().paramsync_free_string(pointer)


def timeout_ms(timeout: Optional[float]) -> int:
    """Seconds (float) to the library's milliseconds; at least 1 ms.

    The C ABI reads 0 or less as its default of 30 s, so a positive timeout is
    never rounded down to 0. ``None`` gives that default.
    """
    if timeout is None:
        return 0
    if timeout <= 0:
        raise ValueError("timeout must be > 0 seconds, got %r" % (timeout,))
    return max(1, int(round(timeout * 1000.0)))


def encode(text: Union[str, bytes]) -> bytes:
    """``text`` as UTF-8 bytes for a ``const char*`` argument."""
    if isinstance(text, bytes):
        return text
    return str(text).encode("utf-8")
