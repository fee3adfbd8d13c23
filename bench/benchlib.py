# SPDX-License-Identifier: Apache-2.0
"""Helpers shared by the Python benchmarks (pop3_bench.py, imap_bench.py,
outbound_bench.py): free loopback ports, waiting for a greeting, CPU time and PSS of
a server's whole process tree from /proc, the open-files limit, and private Dovecot
and Postfix instances.

CPU time is user+sys of the server process, its reaped children (cutime, cstime)
and its live descendants; it is steadier than wall time on a shared machine. PSS is
the sum of `Pss:` from /proc/<pid>/smaps_rollup over the same tree, so memory shared
between Dovecot's processes is counted once, split between them."""
import os
import resource
import shutil
import socket
import subprocess
import time
from pathlib import Path

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
# Dovecot refuses uid 0 for mail processes; mail belongs to nobody:nogroup.
MAIL_UID = 65534


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, greeting, timeout=30):
    """Waits until a connection to `port` is greeted with a line starting with
    `greeting` (b"+OK", b"* OK", b"220")."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(100).startswith(greeting):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server on port {port} did not answer")


def descendants(pid):
    """`pid` and every live process below it."""
    children = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid):
    """user+sys of `pid`, its reaped children (cutime, cstime) and live descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in descendants(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / ticks


def pss_kib(pid):
    """Sum of PSS over `pid` and its descendants, in KiB."""
    total = 0
    for p in descendants(pid):
        try:
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total


def raise_nofile(wanted):
    """Raises RLIMIT_NOFILE of this process (and so of the servers it starts) to
    `wanted`, lifting the hard limit too when running as root; returns the limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < wanted and os.geteuid() == 0:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return wanted
        except (ValueError, OSError):
            pass  # a container may deny raising the hard limit even to root
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def mem_available_kib():
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    return 0


def stop(proc, timeout=30):
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_dovecot(root: Path, protocol, port, users, password, extra=""):
    """A private Dovecot serving `protocol` ("imap" or "pop3") on 127.0.0.1:`port`,
    users from a passwd-file (plaintext `password`), Maildir under
    root/home/<user>/Maildir (fill it before or after; it must belong to MAIL_UID).
    `extra` is appended to dovecot.conf. Returns the master's Popen, or None when
    Dovecot (or that protocol's binary) is not installed."""
    if not Path(DOVECOT).exists() or not Path(f"/usr/lib/dovecot/{protocol}").exists():
        return None
    (root / "run").mkdir(parents=True, exist_ok=True)
    (root / "home").mkdir(exist_ok=True)
    passwd = root / "passwd"
    passwd.write_text("".join(f"{u}:{{PLAIN}}{password}::::::\n" for u in users))
    conf = root / "dovecot.conf"
    conf.write_text(f"""
instance_name = tern-bench-{protocol}-{port}
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = {protocol}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
first_valid_uid = 1
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {passwd}
}}
userdb {{
  driver = static
  args = uid={MAIL_UID} gid={MAIL_UID} home={root}/home/%u
}}
service {protocol}-login {{
  inet_listener {protocol} {{
    port = {port}
  }}
}}
{extra}
""")
    subprocess.run(["chown", "-R", f"{MAIL_UID}:{MAIL_UID}", str(root / "home")], check=True)
    for d in (root.parent, root):
        os.chmod(d, 0o755)
    proc = subprocess.Popen([DOVECOT, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_port(port, b"+OK" if protocol == "pop3" else b"* OK")
    return proc


def postfix_command(conf_dir: Path, *args):
    """Runs `postfix -c conf_dir args...`; exits the benchmark on failure."""
    r = subprocess.run(["postfix", "-c", str(conf_dir), *args], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise SystemExit(f"postfix {args}: {r.stdout}{r.stderr}")


def start_private_postfix(root: Path, main_cf: str, port: int):
    """Starts a private Postfix instance under `root` (conf/, queue/, data/ made
    here) with `main_cf` as its main.cf and Debian's master.cf, its smtpd moved to
    127.0.0.1:`port`. Returns the master's pid once the port greets."""
    for d in ("conf", "queue", "data"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root.parent, 0o755)
    os.chmod(root, 0o755)
    shutil.chown(root / "data", "postfix")
    (root / "conf" / "main.cf").write_text(main_cf)
    master = []
    for line in Path("/etc/postfix/master.cf").read_text().splitlines():
        if line.startswith("smtp ") and " inet " in line:
            line = f"127.0.0.1:{port} inet n - n - - smtpd"
        master.append(line)
    (root / "conf" / "master.cf").write_text("\n".join(master) + "\n")
    postfix_command(root / "conf", "start")
    wait_port(port, b"220")
    # master(8) writes its pid under the queue directory.
    return int((root / "queue" / "pid" / "master.pid").read_text().split()[0])
