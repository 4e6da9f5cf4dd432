#!/usr/bin/python3
"""Installing as a Debian service (README "Installing as a service"): the
man pages are clean under mandoc -T lint and name every command of
src/main.c and every key src/config.c accepts; the systemd unit passes
systemd-analyze verify and rates "OK" or better in systemd-analyze security;
cpack builds a .deb with the files in their FHS places, conffiles and
Depends; nginx takes contrib/nginx/tributary.conf and serves the daemon's
documents through it."""
import glob
import gzip
import os
import re
import shutil
import signal
import subprocess
import time
import unittest
import urllib.error
import urllib.request

import tbtest

SRC = os.path.abspath(tbtest.SOURCE_DIR)
MAN1 = os.path.join(SRC, "man", "tributary.1")
MAN5 = os.path.join(SRC, "man", "tributary.ini.5")
UNIT_IN = os.path.join(SRC, "contrib", "systemd", "tributary.service.in")
NGINX_CONF = os.path.join(SRC, "contrib", "nginx", "tributary.conf")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def readb(path):
    with open(path, "rb") as f:
        return f.read()


def commands():
    """The command names of src/main.c's table (what `tributary --help` lists)."""
    text = read(os.path.join(SRC, "src", "main.c"))
    names = re.findall(r'^\s*\{"([a-z-]+)", tb_cli_\w+,', text, re.M)
    assert len(names) >= 12, names
    return names


def config_keys():
    """{section: [keys]} as src/config.c accepts them: its key tables, and
    [opml]'s one key."""
    text = read(os.path.join(SRC, "src", "config.c"))
    tables = {}
    for sec, body in re.findall(r"static const struct key (\w+)_keys\[\] = \{(.*?)\n\};", text,
                                re.S):
        tables[sec] = re.findall(r'\{"(\w+)", V_', body)
    assert set(tables) == {"tributary", "source", "trending", "mail", "websub", "topic"}, tables
    assert re.search(r'strcmp\(name, "file"\) != 0\) \{\s*add_error\(x, x->file, x->line, '
                     r'"unknown key \'%s\' in \[opml\]"', text), "[opml] accepts more than file"
    tables["opml"] = ["file"]
    return tables


def man_sections(page):
    """{.Sh title: text} of an mdoc page."""
    parts = re.split(r"^\.Sh (.*)$", read(page), flags=re.M)
    return {parts[i].strip('"'): parts[i + 1] for i in range(1, len(parts), 2)}


class ManPages(unittest.TestCase):
    def test_lint(self):
        tbtest.need_tool("mandoc")
        for page in (MAN1, MAN5):
            p = subprocess.run(["mandoc", "-T", "lint", page], capture_output=True, text=True)
            # Whether a referenced page is installed here is not the page's fault.
            msgs = [m for m in (p.stdout + p.stderr).splitlines()
                    if "referenced manual not found" not in m and "mandoc.db" not in m]
            self.assertEqual(msgs, [], page)

    def test_every_command(self):
        sec = man_sections(MAN1)
        for name in commands():
            self.assertRegex(sec["COMMANDS"], rf"(?m)^\.It Cm {re.escape(name)}( |$)",
                             f"tributary(1) does not describe '{name}'")
            self.assertRegex(sec["SYNOPSIS"], rf"(?m)^\.Cm {re.escape(name)}$")
        for s in ("SIGNALS", "FILES", "EXIT STATUS", "EXAMPLES"):
            self.assertIn(s, sec)
        for sig in ("SIGHUP", "SIGTERM", "SIGINT"):
            self.assertIn(f"Dv {sig}", sec["SIGNALS"])

    def test_every_key(self):
        sec = man_sections(MAN5)
        heads = {"tributary": "[tributary] SECTION", "source": "[source NAME] SECTIONS",
                 "topic": "[topic NAME] SECTIONS", "trending": "[trending] SECTION",
                 "opml": "[opml] SECTION", "mail": "[mail] SECTION",
                 "websub": "[websub] SECTION"}
        keys = config_keys()
        self.assertEqual(set(keys), set(heads))
        for s, names in keys.items():
            for k in names:
                self.assertRegex(sec[heads[s]], rf"(?m)^\.It Cm {k} Ns = Ns ",
                                 f"tributary.ini(5) does not document [{s}] {k}")
        # feeds/tributary.ini, the documented default config, names every key too.
        ini = read(os.path.join(SRC, "feeds", "tributary.ini"))
        for s, names in keys.items():
            for k in names:
                self.assertRegex(ini, rf"(?m)^;? *{k} *=", f"feeds/tributary.ini lacks {k}")


class Unit(unittest.TestCase):
    def setUp(self):
        td = tbtest.TempDir()
        self.tmp = td.__enter__()
        self.addCleanup(td.__exit__, None, None, None)

    def unit(self):
        """The unit as cmake configured it, with ExecStart at the built binary,
        and a MANPATH holding our pages (systemd-analyze verify runs `man` for
        each Documentation= entry)."""
        built = os.path.join(os.environ.get("TB_BUILD_DIR", ""), "packaged", "tributary.service")
        text = read(built) if os.path.exists(built) else read(UNIT_IN)
        text, n = re.subn(r"(?m)^ExecStart=\S+ ", f"ExecStart={os.path.abspath(tbtest.BIN)} ",
                          text)
        self.assertEqual(n, 1)
        path = os.path.join(self.tmp, "tributary.service")
        with open(path, "w") as f:
            f.write(text)
        for page, sec in ((MAN1, "man1"), (MAN5, "man5")):
            os.makedirs(os.path.join(self.tmp, "man", sec), exist_ok=True)
            shutil.copy(page, os.path.join(self.tmp, "man", sec))
        return path, text

    def test_directives(self):
        _, text = self.unit()
        for line in ("Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "DynamicUser=yes",
                     "StateDirectory=tributary", "ProtectSystem=strict", "ProtectHome=yes",
                     "PrivateTmp=yes", "NoNewPrivileges=yes",
                     "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
                     "SystemCallFilter=@system-service"):
            self.assertRegex(text, rf"(?m)^{re.escape(line)}$")

    def test_verify(self):
        tbtest.need_tool("systemd-analyze")
        tbtest.need_tool("man")
        path, _ = self.unit()
        env = dict(os.environ, MANPATH=os.path.join(self.tmp, "man"))
        p = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                           env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stderr.strip(), "")

    def test_security(self):
        tbtest.need_tool("systemd-analyze")
        path, _ = self.unit()
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--no-pager", path],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for \S+: ([0-9.]+) (\w+)", p.stdout)
        self.assertIsNotNone(m, p.stdout + p.stderr)
        print(f"systemd-analyze security: {m.group(1)} {m.group(2)}")
        self.assertIn(m.group(2), ("OK", "SAFE", "PERFECT"))


class Deb(unittest.TestCase):
    def test_deb(self):
        for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps"):
            tbtest.need_tool(tool)
        td = tbtest.TempDir()
        tmp = td.__enter__()
        self.addCleanup(td.__exit__, None, None, None)
        build = os.path.join(tmp, "build")

        def sh(*args):
            p = subprocess.run(args, capture_output=True, text=True, cwd=build,
                               timeout=1200 * tbtest.SLOW)
            self.assertEqual(p.returncode, 0, f"{args}: {p.stdout[-3000:]}{p.stderr[-3000:]}")
            return p.stdout
        os.makedirs(build)
        # Only what the package holds is built (not the tests).
        sh("cmake", "-S", SRC, "-B", build, "-DCMAKE_INSTALL_PREFIX=/usr",
           "-DCMAKE_SKIP_INSTALL_ALL_DEPENDENCY=ON", "-DTB_SANITIZE=", "-DTB_HARDEN=ON",
           "-DCMAKE_BUILD_TYPE=RelWithDebInfo")
        sh("cmake", "--build", build, "-j2", "--target", "tributary", "man_pages",
           "packaged_config", "packaged_changelog")
        sh("cpack", "-G", "DEB")
        debs = glob.glob(os.path.join(build, "tributary_*.deb"))
        self.assertEqual(len(debs), 1, os.listdir(build))
        deb = debs[0]
        self.assertRegex(os.path.basename(deb), r"^tributary_\d+\.\d+\.\d+_[a-z0-9]+\.deb$")

        files = {}
        for line in sh("dpkg-deb", "-c", deb).splitlines():
            f = line.split()
            if not f[-1].endswith("/"):
                files[f[-1]] = f[0]
        self.assertEqual(set(files), {
            "./usr/bin/tributary",
            "./usr/share/man/man1/tributary.1.gz",
            "./usr/share/man/man5/tributary.ini.5.gz",
            "./usr/share/doc/tributary/changelog.gz",
            "./etc/tributary/tributary.ini",
            "./etc/tributary/papers.opml",
            "./lib/systemd/system/tributary.service"})
        self.assertEqual(files["./usr/bin/tributary"], "-rwxr-xr-x")
        self.assertEqual(files["./etc/tributary/tributary.ini"], "-rw-r--r--")

        ctrl = os.path.join(tmp, "control")
        sh("dpkg-deb", "-e", deb, ctrl)
        self.assertEqual(read(os.path.join(ctrl, "conffiles")).split(),
                         ["/etc/tributary/tributary.ini", "/etc/tributary/papers.opml"])
        for script in ("postinst", "prerm", "postrm"):
            s = os.path.join(ctrl, script)
            self.assertTrue(os.access(s, os.X_OK), script)
            subprocess.run(["sh", "-n", s], check=True)
            self.assertNotRegex(read(s), r"rm -r|userdel|deluser", script)
        depends = sh("dpkg-deb", "-f", deb, "Depends")
        for lib in ("libc6", "libuv1", "libcurl4", "libxml2", "libsqlite3-0", "libjansson4",
                    "libinih1", "libh2o", "zlib1g", "libssl3", "libpq5"):
            self.assertIn(lib, depends)
        if os.environ.get("TB_HAVE_SYSTEMD") == "1":
            self.assertIn("libsystemd0", depends)

        root = os.path.join(tmp, "root")
        sh("dpkg-deb", "-x", deb, root)
        unit = read(os.path.join(root, "lib/systemd/system/tributary.service"))
        self.assertIn("\nExecStart=/usr/bin/tributary serve -c /etc/tributary/tributary.ini\n",
                      unit)
        # Debian's hardening (TB_HARDEN): BIND_NOW, RELRO, fortified calls; stripped.
        binary = os.path.join(root, "usr/bin/tributary")
        if shutil.which("readelf"):
            self.assertRegex(sh("readelf", "-d", binary), r"FLAGS.*BIND_NOW")
            self.assertIn("GNU_RELRO", sh("readelf", "-lW", binary))
            self.assertRegex(sh("readelf", "--dyn-syms", "-W", binary), r"__\w+_chk\b")
            self.assertNotIn(".debug_info", sh("readelf", "-SW", binary))
        ini = read(os.path.join(root, "etc/tributary/tributary.ini"))
        self.assertRegex(ini, r"(?m)^database\s*=\s*/var/lib/tributary/tributary\.db$")
        self.assertRegex(ini, r"(?m)^public_dir\s*=\s*/run/tributary/public$")
        self.assertRegex(ini, r"(?m)^listen\s*=\s*127\.0\.0\.1:8080$")
        self.assertNotIn("../var", ini)
        # The installed config loads, with its OPML beside it.
        p = subprocess.run([os.path.join(root, "usr/bin/tributary"), "check", "-c",
                            os.path.join(root, "etc/tributary/tributary.ini")],
                           capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        with gzip.open(os.path.join(root, "usr/share/man/man1/tributary.1.gz"), "rt") as f:
            self.assertEqual(f.read(), read(MAN1))


class Nginx(unittest.TestCase):
    def conf(self, tmp, port, upstream_port, root):
        text = read(NGINX_CONF)
        for old, new in (("listen 80;", f"listen 127.0.0.1:{port};"), ("listen [::]:80;", ""),
                         ("server 127.0.0.1:8080;", f"server 127.0.0.1:{upstream_port};"),
                         ("root /run/tributary/public;", f"root {root};")):
            self.assertIn(old, text)
            text = text.replace(old, new)
        site = os.path.join(tmp, "tributary.conf")
        with open(site, "w") as f:
            f.write(text)
        main = os.path.join(tmp, "nginx.conf")
        user = "user root;\n" if os.geteuid() == 0 else ""
        with open(main, "w") as f:
            f.write(f"""{user}daemon off;
master_process off;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    include {site};
}}
""")
        return main

    def test_nginx(self):
        tbtest.need_tool("nginx")
        td = tbtest.TempDir()
        tmp = td.__enter__()
        self.addCleanup(td.__exit__, None, None, None)
        dport, nport = tbtest.free_port(), tbtest.free_port()
        public = os.path.join(tmp, "public")
        config = os.path.join(tmp, "t.ini")
        with open(config, "w") as f:
            f.write(f"""[tributary]
database = db.sqlite
public_dir = public
listen = 127.0.0.1:{dport}
base_url = http://127.0.0.1:{nport}/

[source refused]
url = http://127.0.0.1:9/feed.atom

[topic t]
query = anything
""")
        main = self.conf(tmp, nport, dport, public)
        p = subprocess.run(["nginx", "-t", "-c", main], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("[warn]", p.stderr)

        d = tbtest.Daemon(config, os.path.join(tmp, "log"))
        self.addCleanup(d.stop)
        tbtest.wait_for(lambda: tbtest.http_get(f"http://127.0.0.1:{dport}/healthz")[0] == 200,
                        30, what="daemon up")
        tbtest.wait_for(lambda: os.path.exists(os.path.join(public, "topics", "t.atom.gz")), 30,
                        what="published")
        ng = subprocess.Popen(["nginx", "-c", main], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
        self.addCleanup(lambda: (ng.send_signal(signal.SIGQUIT), ng.wait(10)))
        base = f"http://127.0.0.1:{nport}"
        tbtest.wait_for(lambda: tbtest.http_get(base + "/healthz")[0] == 200, 30,
                        what="nginx up")

        for path, ctype in (("/all.atom", "application/atom+xml; charset=utf-8"),
                            ("/all.rss", "application/rss+xml; charset=utf-8"),
                            ("/all.json", "application/feed+json; charset=utf-8"),
                            ("/", "text/html; charset=utf-8"),
                            ("/style.css", "text/css; charset=utf-8"),
                            ("/sources.opml", "text/x-opml; charset=utf-8")):
            status, h, body = tbtest.http_get(base + path)
            self.assertEqual(status, 200, path)
            self.assertEqual(h["Content-Type"], ctype, path)
            self.assertRegex(h.get("Cache-Control", ""), r"max-age=\d+", path)
            self.assertIn("public", h.get("Cache-Control", ""), path)
            self.assertIsNotNone(h.get("ETag"), path)
            disk = os.path.join(public, "index.html" if path == "/" else path[1:])
            self.assertEqual(body, readb(disk), path)
        # gzip_static: the .gz file itself, not a compression per request.
        status, h, body = tbtest.http_get(base + "/topics/t.atom",
                                          headers={"Accept-Encoding": "gzip"})
        self.assertEqual(status, 200)
        self.assertEqual(h["Content-Encoding"], "gzip")
        self.assertEqual(body, readb(os.path.join(public, "topics", "t.atom.gz")))
        self.assertEqual(h["Link"], '</topics/t.html>; rel="alternate"; type="text/html", '
                         f'</websub>; rel="hub", <{base}/topics/t.atom>; rel="self"')
        self.assertIn("Accept-Encoding", h.get("Vary", ""))
        # Proxied to the daemon.
        status, h, body = tbtest.http_get(base + "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"tributary_documents_published_total", body)
        self.assertEqual(tbtest.http_get(base + "/healthz")[0], 200)
        # The WebSub hub is the daemon's: a subscription without a callback is its 400.
        req = urllib.request.Request(base + "/websub", data=b"hub.mode=subscribe",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(cm.exception.code, 400)
        self.assertIn(b"hub.callback", cm.exception.read())
        # Leftovers of an interrupted write are never served.
        with open(os.path.join(public, ".all.atom.tmp.abcdef"), "w") as f:
            f.write("half")
        self.assertEqual(tbtest.http_get(base + "/.all.atom.tmp.abcdef")[0], 404)


if __name__ == "__main__":
    tbtest.main()
