# Writes OUT, the config a system install puts in /etc/tributary: IN
# (feeds/tributary.ini, which documents every key) with the database under
# STATE (/var/lib/tributary) and the published files under RUNTIME
# (/run/tributary). Each replaced line must be found: a changed
# feeds/tributary.ini stops the build here rather than ship wrong paths.
function(swap from to)
  string(FIND "${text}" "${from}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "packaged-config.cmake: '${from}' not found in ${IN}")
  endif()
  string(REPLACE "${from}" "${to}" text "${text}")
  set(text "${text}" PARENT_SCOPE)
endfunction()

file(READ "${IN}" text)
swap("; Relative paths here (database, public_dir, [opml] file) are relative to\n; the directory of this file, so the data lands in var/ at the top of the\n; source tree, whatever the current directory.\n"
     "; The system-wide configuration (tributary.ini(5)). Relative paths ([opml]\n; file) are relative to this file's directory. The database lives in\n; ${STATE}, which systemd creates (StateDirectory=); the published\n; files in ${RUNTIME}/public (RuntimeDirectory=), which nginx serves\n; (contrib/nginx/tributary.conf) and the daemon rewrites at every start.\n")
swap("; tributary's default configuration, used when no -c FILE is given.\n"
     "; tributary's configuration, read by tributary.service (tributary serve -c\n; /etc/tributary/tributary.ini). After a change: systemctl reload tributary.\n")
swap("database        = ../var/tributary.db\n"
     "database        = ${STATE}/tributary.db\n")
swap("public_dir      = ../var/public\n"
     "public_dir      = ${RUNTIME}/public\n")
swap("../var/tributary.db.secret"
     "${STATE}/tributary.db.secret")
file(WRITE "${OUT}" "${text}")
