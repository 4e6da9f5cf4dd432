#!/usr/bin/python3
"""`tributary serve` delivers digests through a real MTA: Debian's Exim
(exim4-daemon-light), started by the test on a loopback port with its own
configuration, spool and logs in a temp dir (the system's service is not
used), delivering into a Maildir. The daemon speaks STARTTLS to it
([mail] starttls = yes) and checks Exim's certificate against ca_file.
Every delivered file parses with Python's email package under its strict
policy, carries the digest's headers, and each subscriber gets one."""
import email
import email.policy
import glob
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tbtest import Daemon, TempDir, free_port, main, need_tool, wait_for  # noqa: E402
import mailtest  # noqa: E402

EXIM = "/usr/sbin/exim4"

CONF = """
primary_hostname = mta.tributary.test
spool_directory = {t}/spool
log_file_path = {t}/log/%slog
pid_file_path = {t}/exim.pid
daemon_smtp_ports = {port}
local_interfaces = 127.0.0.1
keep_environment =
host_lookup =
rfc1413_hosts =
tls_advertise_hosts = *
tls_certificate = {t}/cert.pem
tls_privatekey = {t}/key.pem
domainlist local_domains = example.org
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_rcpt:
  accept domains = +local_domains
  deny message = relay not permitted

begin routers
maildir:
  driver = accept
  domains = +local_domains
  local_parts = dsearch;{t}/Maildir
  transport = maildir

begin transports
maildir:
  driver = appendfile
  directory = {t}/Maildir/$local_part_data
  maildir_format
  create_directory
  user = {user}
  envelope_to_add
  return_path_add
"""


class Exim:
    """exim -bd on 127.0.0.1:port with the test's config; root privilege is
    dropped for an alternate config (-C), so it runs as the caller."""

    def __init__(self, t, mailboxes):
        self.t, self.port = t, free_port()
        for d in ("spool", "log", "Maildir"):
            os.makedirs(os.path.join(t, d))
        for who in mailboxes:  # the mailboxes that exist; others are refused
            os.makedirs(os.path.join(t, "Maildir", who))
        # A certificate for 127.0.0.1, which the daemon checks (ca_file).
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                        "-keyout", os.path.join(t, "key.pem"),
                        "-out", os.path.join(t, "cert.pem")], check=True, capture_output=True)
        # Exim delivers as a user who is not root (its never_users).
        user = "Debian-exim" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
        if os.geteuid() == 0:
            # Exim runs as Debian-exim: it must reach and write its tree.
            os.chmod(os.path.dirname(t), 0o711)
            for root, dirs, files in os.walk(t):
                for x in dirs + files:
                    os.chmod(os.path.join(root, x), 0o777 if x in dirs else 0o644)
            os.chmod(t, 0o777)
        self.conf = os.path.join(t, "exim.conf")
        with open(self.conf, "w") as f:
            f.write(CONF.format(t=t, port=self.port, user=user))
        self.proc = subprocess.Popen([EXIM, "-C", self.conf, "-bdf", "-odi", "-oX", str(self.port)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        wait_for(lambda: self._up() or self.proc.poll() is not None, 15, what="exim to listen")
        if self.proc.poll() is not None:
            raise AssertionError(f"exim exited: {self.proc.stderr.read()!r} {self.log()}")

    def _up(self):
        import socket
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def delivered(self, who):
        return sorted(glob.glob(os.path.join(self.t, "Maildir", who, "new", "*")))

    def log(self):
        out = ""
        for p in glob.glob(os.path.join(self.t, "log", "*")):
            with open(p, errors="replace") as f:
                out += f.read()
        return out

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stderr.close()


class ThroughExim(unittest.TestCase):
    def test_digests_reach_a_maildir(self):
        if not os.access(EXIM, os.X_OK):
            need_tool("exim4")  # skipped, or failed under CI
        need_tool("openssl")
        with TempDir() as t:
            mta = Exim(os.path.join(t, "mta"), ["alice", "bob"])
            site = None
            try:
                site = mailtest.Site(t, f"smtp://127.0.0.1:{mta.port}",
                                     f"starttls = yes\nca_file = {mta.t}/cert.pem\n")
                site.subscribe(["alice@example.org", "bob@example.org"])
                site.make_due()
                d = Daemon(site.config, os.path.join(t, "serve.log"))
                wait_for(lambda: mta.delivered("alice") and mta.delivered("bob"), 60,
                         what=f"two deliveries; exim log:\n{mta.log()}")
                time.sleep(1)
                self.assertEqual(d.stop(), 0)
                self.assertIn("X=TLS", mta.log())  # STARTTLS was used
                ids = set()
                for who in ("alice", "bob"):
                    files = mta.delivered(who)
                    self.assertEqual(len(files), 1, files)
                    with open(files[0], "rb") as f:
                        msg = email.message_from_binary_file(f, policy=email.policy.strict)
                    self.assertEqual(msg["To"], f"{who}@example.org")
                    self.assertEqual(msg["Envelope-to"], f"{who}@example.org")
                    self.assertEqual(msg["Return-path"], "<papers@example.org>")
                    self.assertEqual(msg.get_content_type(), "multipart/alternative")
                    self.assertTrue(msg["List-Unsubscribe"].startswith("<http://127.0.0.1:"))
                    self.assertEqual(msg["List-Unsubscribe-Post"], "List-Unsubscribe=One-Click")
                    self.assertIn("Walrus tusks as sensors", msg.get_body(("plain",)).get_content())
                    ids.add(msg["Message-ID"])
                self.assertEqual(len(ids), 2)
                self.assertEqual(site.outbox(), {1: 2})
            finally:
                if site is not None:
                    site.stop()
                mta.stop()
                shutil.rmtree(os.path.join(t, "mta"), ignore_errors=True)


if __name__ == "__main__":
    main()
