"""The child process that runs one Markdown file's code blocks, like a notebook.

Started by tests/docs/test_examples.py as ``python block_runner.py REQUEST_FD REPLY_FD``.
It keeps one namespace for the whole file and reads requests, one JSON line each,
from REQUEST_FD: ``{"path": "/abs/README.md", "line": 27, "source": "..."}``. It
runs the source with ``exec`` and writes ``{"ok": true}`` or ``{"ok": false,
"error": "<traceback>"}`` to REPLY_FD. The blocks' own output goes to this
process's stdout and stderr, which the test sends to a log file.

The source is compiled under the Markdown file's path, padded with blank lines so
that its first line has the fence's line number + 1: a traceback then names the
Markdown file and line, and shows the line itself.
"""
import json
import os
import sys
import traceback


def run_block(namespace: dict, path: str, line: int, source: str) -> dict:
    """Execute one block in ``namespace``; the reply to send back."""
    try:
        code = compile("\n" * line + source, path, "exec")
        exec(code, namespace)
    except BaseException as error:   # SystemExit and KeyboardInterrupt are failures too
        # Drop this function's own frame: the traceback starts in the block.
        frames = traceback.format_exception(type(error), error, error.__traceback__.tb_next)
        return {"ok": False, "error": "".join(frames)}
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    return {"ok": True}


def main(request_fd: int, reply_fd: int) -> None:
    namespace = {"__name__": "__main__"}
    with os.fdopen(request_fd, "rb") as requests, os.fdopen(reply_fd, "wb") as replies:
        for raw in requests:
            request = json.loads(raw)
            reply = run_block(namespace, request["path"], request["line"], request["source"])
            replies.write(json.dumps(reply).encode() + b"\n")
            replies.flush()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
