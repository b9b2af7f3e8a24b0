"""The serving loop of the worker processes (_endpoint_worker.py, _torch_worker.py).

Importing it puts the package's directory on sys.path. serve() registers an
endpoint, answers one JSON line ({"ok": true} or {"ok": false, "code": ...,
"message": ...}), then answers one JSON line per JSON command read from stdin
until {"op": "exit"} or the end of input, and closes the endpoint.
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import paramsync  # noqa: E402


def reply(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def error(e):
    if isinstance(e, paramsync.ParamsyncError):
        return {"ok": False, "code": e.code, "message": e.message}
    return {"ok": False, "code": type(e).__name__, "message": str(e)}


def version(endpoint, command):
    """The handler of {"op": "version"}."""
    return {"ok": True, "version": endpoint.version()}


def serve(register, handlers):
    """register(): the endpoint; handlers: op -> function(endpoint, command) -> answer."""
    try:
        endpoint = register()
    except Exception as e:
        reply(error(e))
        return
    reply({"ok": True})
    with endpoint:
        for line in sys.stdin:
            command = json.loads(line)
            op = command.get("op")
            try:
                if op == "exit":
                    break
                if op not in handlers:
                    reply({"ok": False, "code": "ValueError", "message": "unknown op %r" % op})
                else:
                    reply(handlers[op](endpoint, command))
            except Exception as e:
                reply(error(e))
