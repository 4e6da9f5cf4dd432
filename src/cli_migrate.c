/* `tributary migrate`: moves a SQLite database into PostgreSQL (tb_store_migrate_to). */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli_int.h"
#include "tb_cli.h"
#include "tb_db.h"
#include "tb_store.h"

static void progress(void *data, const char *table, int64_t rows)
{
    (void)data;
    if (rows < 0)
        printf("  %-16s not in SQLite: derived again by the node\n", table);
    else
        printf("  %-16s %" PRId64 " rows\n", table, rows);
    fflush(stdout);
}

int tb_cli_migrate(int argc, char **argv)
{
    static const char usage[] =
        "usage: tributary migrate [-c FILE] --to postgresql://...\n"
        "Copies the config's SQLite database (entries, sources' state, memberships,\n"
        "subscriptions, archives) into an empty PostgreSQL database in one transaction.\n"
        "Stop the daemon first; then set `database` to the URI and start it again.\n";
    static const struct option lopts[] = {{"config", required_argument, NULL, 'c'},
                                          {"to", required_argument, NULL, 't'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    const char *config = NULL, *to = NULL;
    struct tb_store *from = NULL, *dst = NULL;
    struct tb_config *c;
    char err[1024] = "";
    int opt, rc;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "c:h", lopts, NULL)) != -1) {
        if (opt == 'c') {
            config = optarg;
        } else if (opt == 't') {
            to = optarg;
        } else if (opt == 'h') {
            fputs(usage, stdout);
            return 0;
        } else {
            fputs(usage, stderr);
            return 2;
        }
    }
    if (to == NULL || optind < argc) {
        fputs(usage, stderr);
        return 2;
    }
    if (!tb_db_is_pg(to)) {
        fprintf(stderr, "tributary: migrate: --to takes a postgresql:// URI, not '%s'\n", to);
        return 2;
    }
    c = tb__cli_load(config ? config : tb_cli_default_config(), "migrate");
    if (c == NULL)
        return 1;
    if (tb_db_is_pg(c->database)) {
        fprintf(stderr, "tributary: migrate: the config's database is PostgreSQL already\n");
        tb_config_free(c);
        return 1;
    }
    rc = tb_store_open(&from, c->database, 0, err, sizeof(err));
    if (rc == 0)
        rc = tb_store_open(&dst, to, 0, err, sizeof(err));
    if (rc == 0) {
        printf("copying %s into PostgreSQL\n", c->database);
        rc = tb_store_migrate_to(from, dst, progress, NULL, err, sizeof(err));
    }
    if (rc == 0)
        printf("done: set `database = %s` in the config and start tributary\n", to);
    else
        fprintf(stderr, "tributary: migrate: %s\n", err[0] ? err : tb_strerror(rc));
    tb_store_close(dst);
    tb_store_close(from);
    tb_config_free(c);
    return rc ? 1 : 0;
}
