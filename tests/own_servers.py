"""Throwaway PostgreSQL and Redis servers for fault tests: started on a free port in a
temporary folder, stopped, frozen and killed at will; never the shared ones.
"""
from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


class OwnRedis:
    """``redis-server`` on a free port, without persistence."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed")
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)

    def freeze(self) -> None:
        self.process.send_signal(signal.SIGSTOP)


def initdb_binary() -> str | None:
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)), None)
    return found


class OwnPostgres:
    """A PostgreSQL cluster of its own in a temporary folder on a free port (trust auth, no
    fsync); ``remove`` stops it and deletes the folder.

    As root, the server runs as the ``postgres`` user, since PostgreSQL refuses root; the
    folder is then made outside pytest's own temporary folder, which only root may enter.
    """

    def __init__(self) -> None:
        initdb = initdb_binary()
        if initdb is None:
            pytest.skip("PostgreSQL's initdb is not installed")
        self.bin = Path(initdb).resolve().parent
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            if shutil.which("runuser") is None:
                pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        folder = Path(tempfile.mkdtemp(prefix="sharebar-pg-"))
        if self.as_user:
            shutil.chown(folder, "postgres")
        self.folder, self.data, self.port = folder, folder / "data", free_port()
        self.run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = f"-p {self.port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        self.run("pg_ctl", "-D", str(self.data), "-l", str(folder / "log"), "-o", options, "-w", "start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self.as_user, str(self.bin / tool), *args], timeout=60,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        if done.returncode:
            raise RuntimeError(f"{tool} failed: {done.stderr.strip()}")

    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def freeze(self) -> None:
        """Stop the postmaster without closing its socket: connects then hang, as behind a
        firewall that drops packets or on a host that has stopped."""
        os.kill(self.postmaster_pid(), signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.postmaster_pid(), signal.SIGCONT)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.thaw()
            self.run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
