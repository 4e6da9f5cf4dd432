"""A throwaway PostgreSQL 15 server for tests (run with /usr/bin/python3).

initdb into a new temporary directory, then a server that listens only on a
Unix socket in that directory (no TCP), run as an unprivileged user: the
caller itself, or `nobody` when the caller is root (CI runs the suite as
root; PostgreSQL refuses to run as root), with the directory owned by that
user. The server is stopped and the directory removed at the end, also
when the test fails or is killed by SIGTERM/SIGINT (ctest's timeout).

From an e2e test:

    import pgserver
    with pgserver.PgServer() as pg:     # skips (fails under CI) without PostgreSQL
        run("...", "--database", pg.uri)
        pg.stop(); pg.start()           # a restart keeps the data

As a wrapper for a C unit test (CMakeLists.txt TB_PG_TESTS):

    python3 tests/pgserver.py PROGRAM [ARGS...]

runs PROGRAM with TB_TEST_PG (the server's postgresql:// URI),
TB_TEST_PG_STOP and TB_TEST_PG_START (shell commands that stop and start
the server again, for the tests of a lost connection) in its environment
and exits with its status. Without PostgreSQL the program runs without
them, and reports its PostgreSQL checks skipped (tests/check.h CHECK_NEED),
which fails under CI.
"""
import glob
import os
import pwd
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile

CI = bool(os.environ.get("CI"))
USER = "nobody"  # who runs the server when we are root
DB_USER = "tb"   # the database superuser initdb creates


class Missing(Exception):
    """PostgreSQL's server programs are not installed."""


def bindir():
    """The directory of initdb and pg_ctl: $TB_PG_BIN when set, else Debian's
    for 15, else Debian's newest; raises Missing."""
    if os.environ.get("TB_PG_BIN"):
        cands = [os.environ["TB_PG_BIN"]]
    else:
        cands = ["/usr/lib/postgresql/15/bin"]
        cands += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for d in cands:
        if d and os.path.exists(os.path.join(d, "initdb")) and \
                os.path.exists(os.path.join(d, "pg_ctl")):
            return d
    raise Missing("PostgreSQL server (initdb, pg_ctl: Debian postgresql-15) is not installed")


class PgServer:
    """One server in its own temporary directory; a context manager."""

    def __init__(self):
        self.bin = None
        self.dir = None
        self.running = False

    def _as_user(self):
        """The command prefix that runs a program as the server's user."""
        if os.geteuid() != 0:
            return []
        if shutil.which("runuser"):
            return ["runuser", "-u", USER, "--"]
        pw = pwd.getpwnam(USER)
        return ["setpriv", f"--reuid={pw.pw_uid}", f"--regid={pw.pw_gid}", "--clear-groups"]

    def _run(self, *args, check=True):
        p = subprocess.run(self._as_user() + list(args), capture_output=True, text=True,
                           timeout=120, cwd=self.dir)
        if check and p.returncode != 0:
            log = ""
            try:
                with open(os.path.join(self.dir, "log")) as f:
                    log = f.read()[-2000:]
            except OSError:
                pass
            raise AssertionError(f"{' '.join(args)} exited {p.returncode}: {p.stdout}{p.stderr}"
                                 f"{log}")
        return p

    def ctl_command(self, action):
        """The command line (a list) of pg_ctl `action` (start, stop) for this server."""
        data = os.path.join(self.dir, "data")
        if action == "start":
            opts = (f"-k {self.dir} -c listen_addresses='' -F -c max_connections=30"
                    " -c shared_buffers=16MB -c dynamic_shared_memory_type=mmap")
            return self._as_user() + [os.path.join(self.bin, "pg_ctl"), "-D", data, "-l",
                                      os.path.join(self.dir, "log"), "-w", "-t", "60", "-o", opts,
                                      "start"]
        return self._as_user() + [os.path.join(self.bin, "pg_ctl"), "-D", data, "-m", "fast",
                                  "-w", "-t", "60", "stop"]

    def setup(self):
        """initdb and start; raises Missing without PostgreSQL."""
        self.bin = bindir()
        self.dir = tempfile.mkdtemp(prefix="tb-pg-")
        if os.geteuid() == 0:
            pw = pwd.getpwnam(USER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        os.chmod(self.dir, 0o700)
        self._run(os.path.join(self.bin, "initdb"), "-D", os.path.join(self.dir, "data"),
                  "-U", DB_USER, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync",
                  "--no-instructions")
        self.start()
        return self

    def start(self):
        p = subprocess.run(self.ctl_command("start"), capture_output=True, text=True,
                           timeout=120, cwd=self.dir)
        if p.returncode != 0:
            raise AssertionError(f"pg_ctl start exited {p.returncode}: {p.stdout}{p.stderr}")
        self.running = True

    def stop(self):
        if self.running:
            subprocess.run(self.ctl_command("stop"), capture_output=True, timeout=120,
                           cwd=self.dir)
        self.running = False

    def cleanup(self):
        """Stops the server (if it runs) and removes its directory."""
        if self.dir is None:
            return
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    @property
    def uri(self):
        """The libpq URI of the server's database `postgres` as its superuser."""
        return f"postgresql://{DB_USER}@/postgres?host={self.dir}"

    def __enter__(self):
        try:
            return self.setup()
        except Missing as e:
            self.cleanup()
            import tbtest
            tbtest.missing(str(e))
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc):
        self.cleanup()
        return False


def _terminate(signum, frame):
    raise SystemExit(128 + signum)


def psql(pg, sql, timeout=120):
    """Runs sql on pg's database with psql; its output, stripped (a failure raises)."""
    import tbtest
    tbtest.need_tool("psql")
    p = subprocess.run(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d", pg.uri, "-c", sql],
                       capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"psql {sql}: {p.stderr}")
    return p.stdout.strip()


class Session:
    """An interactive psql session on pg's database, kept open (to hold
    locks or a transaction while a node runs): `ask(sql, n)` sends sql and
    returns its next n output lines, stripped; `close()` quits (its locks go);
    leaving the with block kills it if still open."""

    def __init__(self, pg):
        import tbtest
        tbtest.need_tool("psql")
        self.proc = subprocess.Popen(["psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d",
                                      pg.uri], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)

    def ask(self, sql, n=1):
        self.proc.stdin.write(sql + "\n")
        self.proc.stdin.flush()
        return [self.proc.stdout.readline().strip() for _ in range(n)]

    def close(self):
        if not self.proc.stdin.closed:
            self.proc.stdin.write("\\q\n")
            self.proc.stdin.close()
        self.proc.wait(timeout=60)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()
        if not self.proc.stdin.closed:
            self.proc.stdin.close()
        return False


def main(argv):
    if not argv:
        print("usage: pgserver.py PROGRAM [ARGS...]", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    pg = PgServer()
    env = dict(os.environ)
    try:
        try:
            pg.setup()
            env["TB_TEST_PG"] = pg.uri
            env["TB_TEST_PG_STOP"] = shlex.join(pg.ctl_command("stop")) + " >/dev/null"
            env["TB_TEST_PG_START"] = shlex.join(pg.ctl_command("start")) + " >/dev/null"
        except Missing as e:
            print(f"pgserver.py: {e}; running without it", file=sys.stderr)
        return subprocess.call(argv, env=env)
    finally:
        pg.cleanup()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
