"""Benchmark: SMS and email into tickets. Prints figures; not a test.

    .venv/bin/python -m bench.channels                 # 200 SMS, 200 emails, 4 senders at a time

Run from the repository root. It starts its own `callcenter run` (real Asterisk + controller, SQLite
store) from a temporary folder on ports of its own (API 38080, SMTP 35025) and stops it at the end.

- SMS: signed Twilio-style webhooks (`--sms`, `--concurrent` at a time, each from one of 50 numbers so
  messages join existing files). The webhook answers after the message is on its ticket, so the
  time from sending the POST to its answer is "webhook → ticket".
- Email: real SMTP sessions (smtplib), one message each (half of them replies threaded by
  In-Reply-To). The receiver answers 250 after the message is on its ticket: "SMTP DATA → ticket" is
  the session's time; throughput is messages / wall time.
- All of it with `--chats` web chats open (default 100, with 20 agents' pages), `--chat-rate` chat
  messages a second each way among them (bench/_harness.py's busy_chats, as bench/chat.py measures them); `--chats 0` for none.
"""

from __future__ import annotations

import argparse
import smtplib
import threading
import time
import urllib.parse
import urllib.request
from email.message import EmailMessage

from bench._harness import (API_PORT, BenchSystem, agents_yaml, busy_chats_in_background, chat_yaml, exit_on_sigterm,
                            percentile)

from callcenter.channels.sms import rules as sms

DIDS = '  "8005550140": {name: Channels bench, greeting: beep, queue: support}\n'
SMTP_PORT = 35025


def run_parallel(count: int, concurrent: int, one: "callable") -> tuple[list[float], float]:  # type: ignore[valid-type]
    took: list[float] = []
    lock = threading.Lock()
    next_i = iter(range(count))

    def worker() -> None:
        while True:
            with lock:
                i = next(next_i, None)
            if i is None:
                return
            t0 = time.perf_counter()
            one(i)
            with lock:
                took.append((time.perf_counter() - t0) * 1000)
    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrent)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return took, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sms", type=int, default=200)
    parser.add_argument("--emails", type=int, default=200)
    parser.add_argument("--concurrent", type=int, default=4)
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--chat-rate", type=float, default=10.0)
    args = parser.parse_args()
    exit_on_sigterm()
    agents = 20
    system = BenchSystem(DIDS, {}, **({"agents_yaml": agents_yaml(agents), "extra_yaml": chat_yaml(args.chats, agents)}
                                      if args.chats else {}))
    stop_chats = None
    try:
        system.start()
        if args.chats:
            stop_chats, _ = busy_chats_in_background(system.creds, args.chats, agents, args.chat_rate)
            print(f"{args.chats} chats open ({agents} agents' pages), {args.chat_rate:g} chat messages/s each way",
                  flush=True)
        token = system.creds.twilio_auth_token
        url = f"http://127.0.0.1:{API_PORT}/webhooks/sms/twilio"

        def one_sms(i: int) -> None:
            params = [("From", f"+1415555{i % 50:04d}"), ("To", "+18005550140"), ("Body", f"message {i}"),
                      ("MessageSid", f"SM{i:032d}")]
            signed = sms.signature(token, url, params)  # sms.public_url: this API by default
            request = urllib.request.Request(url, data=urllib.parse.urlencode(params).encode(), method="POST",
                                             headers={"X-Twilio-Signature": signed})
            with urllib.request.urlopen(request, timeout=30) as response:
                response.read()
        took, wall = run_parallel(args.sms, args.concurrent, one_sms)
        print(f"SMS webhook -> ticket: p50 {percentile(took, 50):.0f} ms, p95 {percentile(took, 95):.0f} ms, "
              f"max {max(took):.0f} ms over {len(took)} ({args.concurrent} at a time); {len(took) / wall:.0f}/s",
              flush=True)

        def one_mail(i: int) -> None:
            m = EmailMessage()
            m["From"], m["To"] = f"customer{i % 50}@example.com", "support@callcenter.test"
            m["Subject"], m["Message-ID"] = f"Order {i}", f"<m{i}@example.com>"
            if i % 2 and i > 1:
                m["In-Reply-To"] = f"<m{i - 1}@example.com>"
            m.set_content(f"Hello, about my order {i}.\n" * 5)
            with smtplib.SMTP("127.0.0.1", SMTP_PORT, timeout=30) as smtp:
                smtp.send_message(m)
        took, wall = run_parallel(args.emails, args.concurrent, one_mail)
        print(f"email (SMTP session) -> ticket: p50 {percentile(took, 50):.0f} ms, p95 {percentile(took, 95):.0f} ms, "
              f"max {max(took):.0f} ms over {len(took)}; throughput {len(took) / wall:.1f} messages/s", flush=True)
    finally:
        if stop_chats is not None:
            stop_chats.set()
        system.stop()


if __name__ == "__main__":
    main()
