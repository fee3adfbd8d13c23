# SPDX-License-Identifier: Apache-2.0
"""Helper daemons the tests and benchmarks start (stdlib only: bench/ imports it
through clamd_fixture.py)."""
import subprocess


def stop_process(proc, timeout=10):
    """Ends a helper daemon: SIGTERM, then SIGKILL if it is not gone in `timeout` s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
