"""Imported by every Python process of the simulate test (its folder leads PYTHONPATH): logs the process, and
every open of a hidden-holdout file with the functions on the stack, to $SIMULATE_AUDIT_LOG."""

import json
import os
import sys
import traceback

_LOG = os.environ.get("SIMULATE_AUDIT_LOG")
_busy = False


def _write(record: dict) -> None:
    with open(_LOG, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"pid": os.getpid(), "argv": sys.argv, **record}) + "\n")


def _hook(event: str, args: tuple) -> None:
    global _busy
    if _busy or event != "open" or not args or "hidden_holdout" not in str(args[0]):
        return
    _busy = True
    try:
        _write({"path": str(args[0]), "stack": [f.name for f in traceback.extract_stack()]})
    finally:
        _busy = False


if _LOG:
    _write({"started": True, "orig_argv": getattr(sys, "orig_argv", [])})
    sys.addaudithook(_hook)
