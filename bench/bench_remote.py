"""Remote mode, end to end: how long from a mail landing in the IMAP mailbox to the plug
switched and the reply received, and how fast a backlog drains.

    python bench/bench_remote.py [--messages 50] [--backlog 1000]

Real peers on loopback: Dovecot (IMAP, IDLE), aiosmtpd (receives the replies), a simulated
plug, and ``python shell.py --listen`` as the operator runs it. python-kasa has no mail
mode, so there is no figure of theirs to set beside these.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import signal
import subprocess
import sys
import tempfile
import time
from email.utils import formatdate, make_msgid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from helpers.dovecot import Dovecot, ReplySink

from kshell.simulator import PlugSpec, SimulatorThread

PLUG = "127.50.5.2"
USER, PASSWORD = "kshell", "bench"


def order(state: str) -> bytes:
    return (
        "Authentication-Results: mx.home.test; dkim=pass header.d=home.test\r\n"
        "From: Boss <boss@home.test>\r\nTo: kshell@home.test\r\nSubject: plug\r\n"
        f"Date: {formatdate(localtime=True)}\r\nMessage-ID: {make_msgid(domain='home.test')}\r\n"
        f"\r\n!{state} {PLUG}\r\n"
    ).encode()


def write_config(home: Path, server: Dovecot, sink: ReplySink) -> None:
    home.mkdir(parents=True, exist_ok=True)
    (home / "kshell.ini").write_text(
        "[shell]\ntimeout = 5\n[discovery]\nbroadcast = 127.255.255.255\nrefresh_on_start = no\n"
        f"[remote]\nsource = imap://{USER}:{PASSWORD}@127.0.0.1:{server.port}/INBOX\n"
        f"reply = smtp://127.0.0.1:{sink.port}\nreply_from = kshell@home.test\n"
        "trusted_authserv_id = mx.home.test\nrate_per_hour = 1000000\nmax_age_minutes = 60\n"
        "[senders]\nboss@home.test = control\n"
    )
    (home / "kshell.ini").chmod(0o600)  # it holds a password: kshell refuses it otherwise


def start_listener(home: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "shell.py"), "--home", str(home), "--listen"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    while proc.stdout is not None:
        line = proc.stdout.readline()
        if "listening" in line or not line:
            break
    # drain its report lines in the background so its pipe never fills
    import threading

    threading.Thread(target=lambda: proc.stdout and proc.stdout.read(), daemon=True).start()
    return proc


def stop_listener(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def wait(check, timeout: float = 30.0) -> float:  # type: ignore[no-untyped-def]
    deadline = time.perf_counter() + timeout
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(0.0005)
    return time.perf_counter()


def latency(
    imap: imaplib.IMAP4,
    plug,
    sink: ReplySink,
    count: int,  # type: ignore[no-untyped-def]
    gap: float,
) -> tuple[list[float], list[float]]:
    """Append one order at a time; time the plug switching and the reply arriving."""
    switched, replied = [], []
    for i in range(count):
        expected = i % 2  # off, on, off...
        have = len(sink.messages)
        time.sleep(gap)
        start = time.perf_counter()
        imap.append("INBOX", "", None, order("on" if expected else "off"))
        switched.append(wait(lambda e=expected: plug.relay_state == e) - start)
        replied.append(wait(lambda h=have: len(sink.messages) > h) - start)
    return switched, replied


def server_push_delay(server: Dovecot, samples: int = 5) -> list[float]:
    """How long Dovecot takes to tell an idling client of new mail (no kshell involved)."""
    import socket

    delays = []
    with socket.create_connection((server.host, server.port)) as sock:
        stream = sock.makefile("rb")
        stream.readline()
        for tag, command in (
            (b"a", b"LOGIN %s %s" % (USER.encode(), PASSWORD.encode())),
            (b"b", b"SELECT Executed"),
            (b"c", b"IDLE"),
        ):
            sock.sendall(tag + b" " + command + b"\r\n")
            while not stream.readline().startswith((tag + b" ", b"+")):
                pass
        for _ in range(samples):
            time.sleep(0.7)
            start = time.perf_counter()
            server.append(USER, order("on"), "Executed")
            while b"EXISTS" not in stream.readline():
                pass
            delays.append(time.perf_counter() - start)
    return delays


def line(name: str, values: list[float]) -> str:
    return (
        f"  {name:<16} p50 {pct(values, 50) * 1000:7.1f} ms   p95 "
        f"{pct(values, 95) * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=50)
    parser.add_argument("--backlog", type=int, default=1000)
    parser.add_argument(
        "--gap",
        type=float,
        default=0.6,
        help="seconds between one reply and the next mail (default 0.6)",
    )
    opts = parser.parse_args()
    reason = Dovecot.available()
    if reason:
        sys.exit(f"cannot run: {reason}")

    with (
        Dovecot(users={USER: PASSWORD}) as server,
        ReplySink() as sink,
        SimulatorThread([PlugSpec(host=PLUG, port=9999, udp_port=None, relay_state=1)]) as sim,
        tempfile.TemporaryDirectory(prefix="kshell-bench-") as tmp,
    ):
        home = Path(tmp) / "home"
        write_config(home, server, sink)
        plug = sim.plug(PLUG)
        imap = imaplib.IMAP4(server.host, server.port)
        imap.login(USER, PASSWORD)

        # -- latency: one mail at a time, with IDLE ------------------------------------------
        print(f"remote mode, IMAP (Dovecot, IDLE) -> plug -> SMTP reply, {opts.messages} messages")
        listener = start_listener(home)
        time.sleep(0.5)  # let it log in and enter IDLE
        for gap, label in (
            (opts.gap, f"one at a time, {opts.gap:g} s apart"),
            (0.0, "back to back"),
        ):
            switched, replied = latency(imap, plug, sink, opts.messages, gap)
            print(f" {label}:")
            print(line("plug switched", switched))
            print(line("reply received", replied))
        stop_listener(listener)
        push = server_push_delay(server)
        print(
            f" Dovecot's own IDLE notification, append -> EXISTS, bare client: "
            f"p50 {pct(push, 50) * 1000:.1f} ms (the floor under the figures above)"
        )

        # -- throughput: a backlog waiting when the listener starts --------------------------
        have = len(sink.messages)
        for i in range(opts.backlog):
            imap.append("INBOX", "", None, order("off" if i % 2 == 0 else "on"))
        start = time.perf_counter()
        listener = start_listener(home)
        done = wait(lambda: len(sink.messages) >= have + opts.backlog, timeout=600)
        stop_listener(listener)
        took = done - start
        print(
            f"backlog of {opts.backlog} messages: drained in {took:.2f} s "
            f"({opts.backlog / took:.0f} messages/s, listener start-up included)"
        )
        imap.logout()


if __name__ == "__main__":
    main()
