"""Risky parsing in a child process: PDFs and Markdown, under a memory cap and a deadline.

PDFium is C and Python-Markdown backtracks: a hostile file can expand a small stream to
gigabytes, run for minutes, recurse past the stack or crash. In a long-lived child, the worst it
can do is end the child; the caller gets a reason (TaskFailed) and the next file a fresh child.
One child serves one process (each build worker has its own).
"""

from __future__ import annotations

import atexit
import importlib
import threading

START_SECONDS = 60.0  # a fresh child imports PDFium, Markdown and the metadata rules
# What the child can run: task name -> "module:function".
TASKS = {
    "pdf": "indexer.pdftext:read_pdf_task",
    "markdown": "indexer.markup:render_sources",
}


class TaskFailed(Exception):
    """A task could not finish: `kind` is corrupt, password, budget, memory, recursion, timeout, crashed or error."""

    def __init__(self, kind: str, detail: str):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def _serve(conn, memory_mb: int) -> None:
    """The child's loop: run tasks sent over the pipe until it closes; memory capped by the kernel."""
    import resource

    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    functions = {}
    for name, target in TASKS.items():
        module, _, function = target.partition(":")
        functions[name] = getattr(importlib.import_module(module), function)
    conn.send(("ready", None))
    while True:
        try:
            task, args = conn.recv()
        except (EOFError, OSError):
            return
        try:
            answer = ("ok", functions[task](*args))
        except TaskFailed as e:
            answer = (e.kind, e.detail)
        except MemoryError:
            answer = ("memory", f"over {memory_mb} MB")
        except RecursionError:
            answer = ("recursion", "nested too deeply")
        except Exception as e:  # a file that trips a parser must not end the child's service
            answer = ("error", f"{type(e).__name__}: {e}")
        try:
            conn.send(answer)
        except MemoryError:
            conn.send(("memory", f"over {memory_mb} MB"))


class Sandbox:
    """One child process that runs TASKS; started on first use, replaced when it dies or overruns."""

    def __init__(self):
        self._lock = threading.Lock()
        self._process = None
        self._conn = None
        self._memory_mb = 0

    def run(self, task: str, args: tuple, memory_mb: int, seconds: float):
        """The task's result, or TaskFailed saying why not."""
        with self._lock:
            if self._process is None or not self._process.is_alive() or self._memory_mb != memory_mb:
                self._start(memory_mb)
            try:
                self._conn.send((task, args))
                if not self._conn.poll(seconds):
                    self._stop()
                    raise TaskFailed("timeout", f"longer than {seconds:g} s")
                kind, value = self._conn.recv()
            except (EOFError, OSError):
                code = self._stop()
                if code is not None and code < 0:
                    # PDFium aborts (SIGABRT/SIGTRAP) when an allocation fails under the cap
                    detail = f"{_signal_name(-code)}; memory limit {memory_mb} MB"
                else:
                    detail = f"exit code {code}"
                raise TaskFailed("crashed", detail) from None
            if kind in ("memory", "recursion"):
                self._stop()  # a child that ran out of memory or stack may be left in any state
            if kind != "ok":
                raise TaskFailed(kind, value)
            return value

    def _start(self, memory_mb: int) -> None:
        import multiprocessing

        self._stop()
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        process = context.Process(target=_serve, args=(child, memory_mb), daemon=True, name="sandbox")
        try:
            process.start()
        except RuntimeError as e:  # a script without the `if __name__ == "__main__":` guard that spawn needs
            parent.close()
            child.close()
            raise TaskFailed("crashed", f"the sandbox process could not start: {str(e).strip().splitlines()[0]}") from None
        self._process = process
        child.close()
        self._conn, self._memory_mb = parent, memory_mb
        try:
            ready = parent.poll(START_SECONDS) and parent.recv()[0] == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            self._stop()
            raise TaskFailed("crashed", "the sandbox process did not start")

    def _stop(self) -> int | None:
        code = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
            code = self._process.exitcode
            self._process = None
        return code

    def close(self) -> None:
        """Stop the child (it also stops by itself when this process ends: its pipe closes)."""
        with self._lock:
            self._stop()


def _signal_name(number: int) -> str:
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


_sandbox: Sandbox | None = None
_sandbox_lock = threading.Lock()


def sandbox() -> Sandbox:
    """This process's sandbox (its child starts on first use)."""
    global _sandbox
    with _sandbox_lock:
        if _sandbox is None:
            _sandbox = Sandbox()
            atexit.register(_sandbox.close)
        return _sandbox
