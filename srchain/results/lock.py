"""The one-writer lock of a results store: ``.srchain/lock``, created exclusively, holding host, pid and time.

A lock left by a dead process on this host is taken over; one held by a live process (or by another host) is a
one-line refusal naming it.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import orjson

from srchain.errors import SrchainError

__all__ = ["take_lock", "release_lock"]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def _holder(lock: Path, attempt: int, me: dict):
    """The lock's holder record, ``None`` to retry (it vanished or is being written)."""
    try:
        other = orjson.loads(lock.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, orjson.JSONDecodeError):
        if attempt < 10:  # being written right now
            time.sleep(0.05)
            return None
        other = None
    if not isinstance(other, dict):
        return {"host": me["host"], "pid": -1}
    try:
        pid = int(other.get("pid", -1))
    except (TypeError, ValueError):
        pid = -1
    return {**other, "pid": pid}


def take_lock(lock: Path, what: Path) -> None:
    """Create ``lock`` for this process, or raise :class:`SrchainError` naming the live sweep holding it.

    ``what`` is the store the lock guards (named in the messages).
    """
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
    for attempt in range(20):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0), 0o644)
        except FileExistsError:
            other = _holder(lock, attempt, me)
            if other is None:
                continue
            host, pid = other.get("host"), other["pid"]
            if host == me["host"] and not _pid_alive(pid):
                stale = lock.parent / f"lock.stale.{os.getpid()}"
                try:  # a stale lock of a dead process on this host: take it over (one taker wins the rename)
                    os.rename(lock, stale)
                    os.unlink(stale)
                except FileNotFoundError:
                    pass
                continue
            where = f"pid {pid} on {host}" + (f", since {other['since']}" if other.get("since") else "")
            hint = "" if host == me["host"] else f" (remove {lock} if that sweep is gone)"
            raise SrchainError(
                f"{what} is being written by another sweep ({where}); wait for it or choose another path{hint}"
            ) from None
        except OSError as exc:
            raise SrchainError(f"cannot take the lock {lock}: {exc.strerror or exc}") from None
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(me))
        return
    raise SrchainError(f"cannot take the lock {lock}; remove it if no sweep is running")


def release_lock(lock: Path) -> None:
    """Remove ``lock`` (if it is still there)."""
    try:
        os.unlink(lock)
    except FileNotFoundError:
        pass
