/* pg_harness.h - a throwaway PostgreSQL server for tests.
 *
 * Starts a real PostgreSQL from the Debian package's binaries
 * (/usr/lib/postgresql/<version>/bin, found at run time; $PG_BINDIR
 * overrides) in a fresh directory under /tmp, on a free loopback port:
 *
 *   initdb -D DIR/data -A trust -U postgres --no-sync -E UTF8 --locale=C
 *   pg_ctl -D DIR/data -l DIR/server.log -w -t 30 start
 *          -o "-p PORT -k DIR -c listen_addresses=127.0.0.1 -c fsync=off"
 *
 * and hands back a libpq conninfo. pg_harness_cleanup stops the server and
 * removes the directory; an atexit handler does the same for every server
 * still running, and a watchdog process (a shell waiting on a pipe the
 * test holds) does it when the test dies without running atexit (a crash,
 * an ASan report, SIGKILL). initdb and postgres refuse to run as root, so
 * a test run as root starts them as the user "postgres" (or "nobody") and
 * gives the directory to that user.
 *
 * Missing binaries are an error with a message naming the package: a test
 * must fail then, never pass by skipping.
 *
 * The including file must ask for POSIX and GNU declarations before any
 * system header: #define _GNU_SOURCE first. Link libpq. */
#ifndef NOSTR_PG_HARNESS_H
#define NOSTR_PG_HARNESS_H

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <libpq-fe.h>

#if defined(__GNUC__)
#define PG_HARNESS_UNUSED __attribute__((unused))
#else
#define PG_HARNESS_UNUSED
#endif

typedef struct pg_harness {
    char bindir[512];   /* .../bin holding initdb, pg_ctl, postgres */
    char dir[256];      /* temp dir: socket, logs; data in dir/data */
    char conninfo[512]; /* for the database "postgres" */
    int port;
    int running;
    int as_other; /* 1: we are root; server programs run as uid/gid */
    uid_t uid;
    gid_t gid;
    int watch_fd; /* write end of the watchdog's pipe, or -1 */
    pid_t watch_pid;
} pg_harness;

/* Servers alive, for the atexit handler (tests are single-threaded). */
#define PG_HARNESS_MAX 8
static pg_harness *pg_harness_live[PG_HARNESS_MAX];
static int pg_harness_atexit_set;

static PG_HARNESS_UNUSED void pg_harness_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static double pg_harness_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void pg_harness_sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

/* The newest Debian server version's bin directory, or $PG_BINDIR. */
static int pg_harness_find_bindir(char *out, size_t outlen)
{
    const char *env = getenv("PG_BINDIR");
    glob_t g;
    size_t i;
    int found = 0;
    char path[600];
    if (env && *env) {
        snprintf(path, sizeof path, "%s/initdb", env);
        if (access(path, X_OK) != 0) return -1;
        snprintf(out, outlen, "%s", env);
        return 0;
    }
    if (glob("/usr/lib/postgresql/*/bin/initdb", 0, NULL, &g) != 0) return -1;
    /* glob sorts names; pick the highest numeric version. */
    {
        long best = -1;
        for (i = 0; i < g.gl_pathc; i++) {
            const char *v = g.gl_pathv[i] + strlen("/usr/lib/postgresql/");
            long n = strtol(v, NULL, 10);
            if (n > best && access(g.gl_pathv[i], X_OK) == 0) {
                best = n;
                snprintf(out, outlen, "%.*s", (int)(strlen(g.gl_pathv[i]) - strlen("/initdb")), g.gl_pathv[i]);
                found = 1;
            }
        }
    }
    globfree(&g);
    return found ? 0 : -1;
}

static int pg_harness_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;
    if (fd < 0) return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 && getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* Run argv (argv[0] a full path) as the server user, output appended to
 * dir/harness.log, and wait at most timeout_s. Returns the exit status,
 * or -1 (could not run, killed, timed out). */
static int pg_harness_run(const pg_harness *h, char *const argv[], double timeout_s)
{
    char logpath[300];
    double deadline = pg_harness_now() + timeout_s;
    pid_t pid;
    int status;
    snprintf(logpath, sizeof logpath, "%s/harness.log", h->dir);
    pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        if (h->as_other) {
            if (setgroups(0, NULL) != 0 || setgid(h->gid) != 0 || setuid(h->uid) != 0) _exit(126);
        }
        if (chdir(h->dir) != 0) _exit(126);
        execv(argv[0], argv);
        _exit(127);
    }
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0 && errno != EINTR) return -1;
        if (pg_harness_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        pg_harness_sleep_ms(10);
    }
}

/* The last lines of dir/<name>, appended to err (for failure messages). */
static void pg_harness_tail(const pg_harness *h, const char *name, char *err, size_t errlen)
{
    char path[300], buf[1200];
    size_t used, n;
    FILE *f;
    long size;
    if (!err || !errlen) return;
    snprintf(path, sizeof path, "%s/%s", h->dir, name);
    f = fopen(path, "rb");
    if (!f) return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0, SEEK_SET);
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    used = strlen(err);
    if (used + 1 < errlen) snprintf(err + used, errlen - used, "\n--- %s (tail) ---\n%s", name, buf);
}

/* A shell that waits for EOF on a pipe (the test's end closes when the
 * test exits in any way), then kills the server and removes the dir. */
static void pg_harness_start_watchdog(pg_harness *h)
{
    int fds[2];
    pid_t pid;
    char script[1024];
    if (pipe(fds) != 0) return;
    snprintf(script, sizeof script,
             "read _ 2>/dev/null; d='%s'; "
             "if [ -f \"$d/data/postmaster.pid\" ]; then p=$(head -n 1 \"$d/data/postmaster.pid\"); "
             "kill -QUIT \"$p\" 2>/dev/null; i=0; while kill -0 \"$p\" 2>/dev/null && [ $i -lt 100 ]; do "
             "sleep 0.1; i=$((i+1)); done; fi; rm -rf \"$d\"",
             h->dir);
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return;
    }
    if (pid == 0) {
        char *argv[4];
        int nul = open("/dev/null", O_WRONLY);
        dup2(fds[0], 0);
        if (nul >= 0) {
            dup2(nul, 1);
            dup2(nul, 2);
        }
        close(fds[0]);
        close(fds[1]);
        setsid(); /* not killed with the test's process group by ctest */
        argv[0] = (char *)"/bin/sh";
        argv[1] = (char *)"-c";
        argv[2] = script;
        argv[3] = NULL;
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[0]);
    fcntl(fds[1], F_SETFD, FD_CLOEXEC); /* initdb, pg_ctl, postgres must not hold it */
    h->watch_fd = fds[1];
    h->watch_pid = pid;
}

static void pg_harness_rmrf(const pg_harness *h)
{
    pid_t pid;
    int status;
    if (!h->dir[0]) return;
    pid = fork();
    if (pid == 0) {
        execl("/bin/rm", "rm", "-rf", h->dir, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) waitpid(pid, &status, 0);
}

/* Start the server on the existing data directory (after initdb or a
 * stop). 0 or -1 with err filled. */
static PG_HARNESS_UNUSED int pg_harness_start_server(pg_harness *h, char *err, size_t errlen)
{
    char prog[600], data[300], logf[300], opts[600];
    char *argv[12];
    int rc;
    double deadline;
    snprintf(prog, sizeof prog, "%s/pg_ctl", h->bindir);
    snprintf(data, sizeof data, "%s/data", h->dir);
    snprintf(logf, sizeof logf, "%s/server.log", h->dir);
    snprintf(opts, sizeof opts, "-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off", h->port, h->dir);
    argv[0] = prog;
    argv[1] = (char *)"-D";
    argv[2] = data;
    argv[3] = (char *)"-l";
    argv[4] = logf;
    argv[5] = (char *)"-w";
    argv[6] = (char *)"-t";
    argv[7] = (char *)"30";
    argv[8] = (char *)"-o";
    argv[9] = opts;
    argv[10] = (char *)"start";
    argv[11] = NULL;
    rc = pg_harness_run(h, argv, 40);
    if (rc != 0) {
        pg_harness_errf(err, errlen, "pg_ctl start failed (status %d) in %s", rc, h->dir);
        pg_harness_tail(h, "harness.log", err, errlen);
        pg_harness_tail(h, "server.log", err, errlen);
        return -1;
    }
    h->running = 1;
    /* pg_ctl -w already waited; make sure TCP answers too (bounded). */
    deadline = pg_harness_now() + 20;
    while (PQping(h->conninfo) != PQPING_OK) {
        if (pg_harness_now() > deadline) {
            pg_harness_errf(err, errlen, "PostgreSQL in %s did not answer on port %d", h->dir, h->port);
            pg_harness_tail(h, "server.log", err, errlen);
            return -1;
        }
        pg_harness_sleep_ms(50);
    }
    return 0;
}

/* Stop the server (fast shutdown), keeping its data. 0 or -1. */
static PG_HARNESS_UNUSED int pg_harness_stop_server(pg_harness *h)
{
    char prog[600], data[300];
    char *argv[10];
    int rc;
    if (!h->running) return 0;
    snprintf(prog, sizeof prog, "%s/pg_ctl", h->bindir);
    snprintf(data, sizeof data, "%s/data", h->dir);
    argv[0] = prog;
    argv[1] = (char *)"-D";
    argv[2] = data;
    argv[3] = (char *)"-m";
    argv[4] = (char *)"fast";
    argv[5] = (char *)"-w";
    argv[6] = (char *)"-t";
    argv[7] = (char *)"30";
    argv[8] = (char *)"stop";
    argv[9] = NULL;
    rc = pg_harness_run(h, argv, 40);
    h->running = 0;
    return rc == 0 ? 0 : -1;
}

/* Stop the server, remove its directory, forget it. Safe to call twice. */
static void pg_harness_cleanup(pg_harness *h)
{
    int i, status;
    pg_harness_stop_server(h);
    pg_harness_rmrf(h);
    h->dir[0] = 0;
    if (h->watch_fd >= 0) {
        close(h->watch_fd); /* the watchdog finds nothing left and exits */
        h->watch_fd = -1;
        waitpid(h->watch_pid, &status, 0);
    }
    for (i = 0; i < PG_HARNESS_MAX; i++)
        if (pg_harness_live[i] == h) pg_harness_live[i] = NULL;
}

static void pg_harness_atexit(void)
{
    int i;
    for (i = 0; i < PG_HARNESS_MAX; i++)
        if (pg_harness_live[i]) pg_harness_cleanup(pg_harness_live[i]);
}

/* initdb + start. On success h->conninfo reaches the database "postgres"
 * as the superuser "postgres"; returns 0. On failure -1 with a reason
 * (and the logs' tails) in err, and nothing left behind. h must stay at
 * the same address until pg_harness_cleanup. */
static PG_HARNESS_UNUSED int pg_harness_start(pg_harness *h, char *err, size_t errlen)
{
    char prog[600], data[300];
    char *argv[16];
    int rc, attempt, i;
    memset(h, 0, sizeof *h);
    h->watch_fd = -1;
    if (pg_harness_find_bindir(h->bindir, sizeof h->bindir) != 0) {
        pg_harness_errf(err, errlen,
                        "PostgreSQL server binaries not found (no initdb in %s): install the Debian package "
                        "\"postgresql\" (scripts/install-deps.sh)",
                        getenv("PG_BINDIR") && *getenv("PG_BINDIR") ? "$PG_BINDIR" : "/usr/lib/postgresql/*/bin");
        return -1;
    }
    if (getuid() == 0) {
        struct passwd *pw = getpwnam("postgres");
        if (!pw) pw = getpwnam("nobody");
        if (!pw) {
            pg_harness_errf(err, errlen, "running as root and no user \"postgres\" or \"nobody\" to run initdb as");
            return -1;
        }
        h->as_other = 1;
        h->uid = pw->pw_uid;
        h->gid = pw->pw_gid;
    }
    snprintf(h->dir, sizeof h->dir, "/tmp/nostr-pg-XXXXXX");
    if (!mkdtemp(h->dir)) {
        pg_harness_errf(err, errlen, "mkdtemp /tmp/nostr-pg-XXXXXX: %s", strerror(errno));
        h->dir[0] = 0;
        return -1;
    }
    if (h->as_other && chown(h->dir, h->uid, h->gid) != 0) {
        pg_harness_errf(err, errlen, "chown %s: %s", h->dir, strerror(errno));
        pg_harness_rmrf(h);
        return -1;
    }
    if (!pg_harness_atexit_set) {
        atexit(pg_harness_atexit);
        pg_harness_atexit_set = 1;
    }
    for (i = 0; i < PG_HARNESS_MAX; i++)
        if (!pg_harness_live[i]) {
            pg_harness_live[i] = h;
            break;
        }
    pg_harness_start_watchdog(h);

    snprintf(prog, sizeof prog, "%s/initdb", h->bindir);
    snprintf(data, sizeof data, "%s/data", h->dir);
    argv[0] = prog;
    argv[1] = (char *)"-D";
    argv[2] = data;
    argv[3] = (char *)"-A";
    argv[4] = (char *)"trust";
    argv[5] = (char *)"-U";
    argv[6] = (char *)"postgres";
    argv[7] = (char *)"--no-sync";
    argv[8] = (char *)"-E";
    argv[9] = (char *)"UTF8";
    argv[10] = (char *)"--locale=C";
    argv[11] = NULL;
    rc = pg_harness_run(h, argv, 120);
    if (rc != 0) {
        pg_harness_errf(err, errlen, "initdb failed (status %d)", rc);
        pg_harness_tail(h, "harness.log", err, errlen);
        pg_harness_cleanup(h);
        return -1;
    }
    /* The port is free when we look; another process may take it before
     * postgres binds, so try a few. */
    for (attempt = 0; attempt < 3; attempt++) {
        h->port = pg_harness_free_port();
        if (h->port <= 0) continue;
        snprintf(h->conninfo, sizeof h->conninfo,
                 "host=127.0.0.1 port=%d user=postgres dbname=postgres connect_timeout=10", h->port);
        if (pg_harness_start_server(h, err, errlen) == 0) return 0;
    }
    pg_harness_cleanup(h);
    return -1;
}

/* A conninfo for another database on the same server. */
static PG_HARNESS_UNUSED void pg_harness_conninfo_db(const pg_harness *h, const char *dbname, char *out,
                                                     size_t outlen)
{
    snprintf(out, outlen, "host=127.0.0.1 port=%d user=postgres dbname=%s connect_timeout=10", h->port, dbname);
}

/* Run one SQL command on the database "postgres" (e.g. CREATE DATABASE).
 * 0, or -1 with the server's message in err. */
static PG_HARNESS_UNUSED int pg_harness_exec(const pg_harness *h, const char *sql, char *err, size_t errlen)
{
    PGconn *c = PQconnectdb(h->conninfo);
    PGresult *r;
    int ok;
    if (PQstatus(c) != CONNECTION_OK) {
        pg_harness_errf(err, errlen, "connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return -1;
    }
    r = PQexec(c, sql);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    if (!ok) pg_harness_errf(err, errlen, "%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

#endif
