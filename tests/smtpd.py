"""An SMTP stand-in for the tests and the digest benchmark, on Debian's
python3-aiosmtpd: listens on a loopback port, records every message it
accepts (or only counts them, as a sink), counts connections, and answers
RCPT TO and the end of DATA as scripted (for example 451 once, then 250).

As a library: Server(...).start(); .port, .messages, .connections; .stop().
As a program (for the C tests): prints its port on stdout, writes what it
received into --dir (state: "connections N\\nmessages M\\n"; msg-K.eml per
message) and exits when its stdin closes:
    python3 smtpd.py --dir DIR [--rcpt 550,250] [--data 451,250] [--delay S]
"""
import argparse
import asyncio
import collections
import email.parser
import email.policy
import os
import sys
import threading
import time

from aiosmtpd.smtp import SMTP


class Server:
    def __init__(self, rcpt=(), data=(), delay=0.0, rcpt_delay=0.0, keep=True, on_change=None):
        self.rcpt_replies = collections.deque(rcpt)  # replies to RCPT TO, one each; then 250
        self.data_replies = collections.deque(data)  # replies to the end of DATA; then 250
        self.delay = delay  # seconds before answering the end of DATA
        self.rcpt_delay = rcpt_delay  # seconds before answering RCPT TO
        self.keep = keep  # keep each message (False: a sink that only counts)
        self.on_change = on_change  # called (in the server's thread) after each event
        self.messages = []  # (envelope sender, [recipients], bytes) accepted
        self.count = 0  # messages accepted
        self.connections = 0  # connections opened
        self.data_ends = 0  # ends of DATA received (accepted or not)
        self.rcpts = 0  # RCPT TO commands received (accepted or not)
        self.first = self.last = None  # time.monotonic() of the first and last acceptance
        self.lock = threading.Lock()
        self.port = None
        self._loop = None
        self._thread = None

    # ------------------------------------------------------ aiosmtpd handler
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_delay:
            await asyncio.sleep(self.rcpt_delay)
        with self.lock:
            self.rcpts += 1
            reply = self.rcpt_replies.popleft() if self.rcpt_replies else "250 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        self._changed()
        return reply

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.data_ends += 1
        if self.delay:
            # Like a real server, it keeps the message once the end of DATA
            # arrived, whether or not the client is still there to read
            # the 250: a client that dies meanwhile sends it again.
            await asyncio.sleep(self.delay)
        with self.lock:
            reply = self.data_replies.popleft() if self.data_replies else "250 OK"
            if reply.startswith("250"):
                self.count += 1
                self.last = time.monotonic()
                if self.first is None:
                    self.first = self.last
                if self.keep:
                    self.messages.append(
                        (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.content)))
        self._changed()
        return reply

    # ----------------------------------------------------------- running
    def _changed(self):
        if self.on_change is not None:
            self.on_change(self)

    def _factory(self):
        with self.lock:
            self.connections += 1
        self._changed()
        return SMTP(self, hostname="standin.test", ident="tributary test stand-in",
                    data_size_limit=8 << 20)

    def start(self):
        ready = threading.Event()

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            srv = self._loop.run_until_complete(
                self._loop.create_server(self._factory, "127.0.0.1", 0))
            self.port = srv.sockets[0].getsockname()[1]
            ready.set()
            self._loop.run_forever()
            srv.close()
            self._loop.run_until_complete(srv.wait_closed())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the SMTP stand-in did not start")
        return self

    def stop(self):
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ----------------------------------------------------------- reading
    def parsed(self):
        """The accepted messages parsed (headers only is enough for most checks)."""
        with self.lock:
            msgs = list(self.messages)
        p = email.parser.BytesParser(policy=email.policy.default)
        return [(frm, to, p.parsebytes(data)) for frm, to, data in msgs]

    def message_ids(self):
        """Message-ID of every accepted message, in order (repeats kept)."""
        with self.lock:
            msgs = list(self.messages)
        p = email.parser.BytesHeaderParser(policy=email.policy.compat32)
        return [p.parsebytes(data).get("Message-ID", "").strip() for _, _, data in msgs]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--rcpt", default="")
    ap.add_argument("--data", default="")
    ap.add_argument("--delay", type=float, default=0.0)
    a = ap.parse_args()

    def replies(spec):
        return [f"{c} {'OK' if c.startswith('2') else 'scripted reply'}" for c in spec.split(",")
                if c]

    written = [0]

    def on_change(s):
        with s.lock:
            msgs = s.messages[written[0]:]
            start = written[0]
            written[0] = len(s.messages)
            state = f"connections {s.connections}\nmessages {s.count}\n"
        for i, (_, _, data) in enumerate(msgs):
            with open(os.path.join(a.dir, f"msg-{start + i + 1}.eml"), "wb") as f:
                f.write(data)
        tmp = os.path.join(a.dir, "state.tmp")
        with open(tmp, "w") as f:
            f.write(state)
        os.rename(tmp, os.path.join(a.dir, "state"))

    srv = Server(rcpt=replies(a.rcpt), data=replies(a.data), delay=a.delay, on_change=on_change)
    srv.start()
    on_change(srv)
    print(srv.port, flush=True)
    sys.stdin.read()  # until the test closes our stdin
    srv.stop()


if __name__ == "__main__":
    main()
