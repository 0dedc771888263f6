/* rabbitmq_harness.h - a throwaway RabbitMQ broker for tests.
 *
 * Starts Debian's rabbitmq-server (/usr/lib/rabbitmq/bin/rabbitmq-server,
 * the script behind /usr/sbin/rabbitmq-server without its "su rabbitmq"
 * wrapper; $RABBITMQ_SBIN overrides the directory) in a fresh directory
 * under /tmp, on free loopback ports, with everything in that directory:
 *
 *   HOME=DIR (the Erlang cookie, written by us)
 *   RABBITMQ_NODENAME=distrise<pid>n<k>@localhost   RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
 *   RABBITMQ_NODE_PORT, RABBITMQ_DIST_PORT, ERL_EPMD_PORT: free ports
 *   RABBITMQ_MNESIA_BASE=DIR/mnesia  RABBITMQ_LOG_BASE=DIR/log  RABBITMQ_PID_FILE=DIR/pid
 *   RABBITMQ_CONFIG_FILE=DIR/rabbitmq.conf  RABBITMQ_ADVANCED_CONFIG_FILE=DIR/advanced.config
 *   RABBITMQ_ENABLED_PLUGINS_FILE=DIR/enabled_plugins ("[]." - no plugins)
 *   RABBITMQ_CONF_ENV_FILE=DIR/rabbitmq-env.conf (empty: /etc/rabbitmq is ignored)
 *   RABBITMQ_CTL_DIST_PORT_MIN/MAX: a free range for rabbitmqctl
 *
 * Its own epmd runs on ERL_EPMD_PORT (never the system's 4369), started
 * by the harness in the foreground so it can be stopped. As root, the
 * broker, epmd and rabbitmqctl run as the user "rabbitmq" (or "nobody"),
 * owning the directory. The broker is up when an AMQP login works
 * (60 s at most).
 *
 * rmq_harness_kill SIGKILLs the broker's process group (the beam and its
 * helpers; a crash); rmq_harness_stop stops it cleanly (rabbitmqctl
 * stop); rmq_harness_restart starts it again on the same port and data.
 * rmq_harness_cleanup stops everything and removes the directory; an
 * atexit handler does the same, and a watchdog process (a shell waiting on
 * a pipe the test holds) does it when the test dies without atexit.
 *
 * Missing binaries are an error naming the Debian package "rabbitmq-server":
 * a test fails then, never passes by skipping.
 *
 * The including file must #define _GNU_SOURCE before any system header.
 * Link librabbitmq. */
#ifndef NOSTR_RMQ_HARNESS_H
#define NOSTR_RMQ_HARNESS_H

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
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <amqp.h>
#include <amqp_tcp_socket.h>

#if defined(__GNUC__)
#define RMQ_HARNESS_UNUSED __attribute__((unused))
#else
#define RMQ_HARNESS_UNUSED
#endif

#define RMQ_HARNESS_ENV_MAX 32

typedef struct rmq_harness {
    char sbin[512];    /* directory with rabbitmq-server and rabbitmqctl */
    char epmd[512];    /* epmd binary */
    char dir[256];     /* temp dir: config, data, logs */
    char node[96];     /* RABBITMQ_NODENAME */
    char url[256];     /* amqp://guest:guest@127.0.0.1:PORT */
    char host[32];
    int port, dist_port, epmd_port, ctl_port;
    int as_other; /* 1: we are root; the broker runs as uid/gid */
    uid_t uid;
    gid_t gid;
    pid_t server_pid; /* rabbitmq-server script: leader of the broker's process group */
    pid_t epmd_pid;
    int running;
    int watch_fd; /* write end of the watchdog's pipe, or -1 */
    pid_t watch_pid;
    char env_store[RMQ_HARNESS_ENV_MAX][600];
    char *envp[RMQ_HARNESS_ENV_MAX + 1];
} rmq_harness;

/* Brokers alive, for the atexit handler (tests are single-threaded). */
#define RMQ_HARNESS_MAX 4
static rmq_harness *rmq_harness_live[RMQ_HARNESS_MAX];
static int rmq_harness_atexit_set, rmq_harness_seq;

static RMQ_HARNESS_UNUSED void rmq_harness_errf(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    if (!err || !errlen) return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static double rmq_harness_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void rmq_harness_sleep_ms(long ms)
{
    struct timespec ts;
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static int rmq_harness_free_port(void)
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

/* The scripts' directory ($RABBITMQ_SBIN, Debian's, or the versioned one). */
static int rmq_harness_find(rmq_harness *h)
{
    const char *env = getenv("RABBITMQ_SBIN");
    char path[700];
    glob_t g;
    if (env && *env) {
        snprintf(h->sbin, sizeof h->sbin, "%s", env);
    } else {
        snprintf(h->sbin, sizeof h->sbin, "/usr/lib/rabbitmq/bin");
        snprintf(path, sizeof path, "%s/rabbitmq-server", h->sbin);
        if (access(path, X_OK) != 0 && glob("/usr/lib/rabbitmq/lib/rabbitmq_server-*/sbin", 0, NULL, &g) == 0) {
            snprintf(h->sbin, sizeof h->sbin, "%s", g.gl_pathv[g.gl_pathc - 1]);
            globfree(&g);
        }
    }
    snprintf(path, sizeof path, "%s/rabbitmq-server", h->sbin);
    if (access(path, X_OK) != 0) return -1;
    snprintf(path, sizeof path, "%s/rabbitmqctl", h->sbin);
    if (access(path, X_OK) != 0) return -1;
    snprintf(h->epmd, sizeof h->epmd, "/usr/bin/epmd");
    if (access(h->epmd, X_OK) != 0) {
        if (glob("/usr/lib/erlang/erts-*/bin/epmd", 0, NULL, &g) != 0) return -1;
        snprintf(h->epmd, sizeof h->epmd, "%s", g.gl_pathv[g.gl_pathc - 1]);
        globfree(&g);
    }
    return 0;
}

static void rmq_harness_setenv(rmq_harness *h, int *n, const char *name, const char *value)
{
    if (*n >= RMQ_HARNESS_ENV_MAX) return;
    snprintf(h->env_store[*n], sizeof h->env_store[*n], "%s=%s", name, value);
    h->envp[*n] = h->env_store[*n];
    (*n)++;
    h->envp[*n] = NULL;
}

/* The broker's whole environment: nothing inherited but these. */
static void rmq_harness_build_env(rmq_harness *h)
{
    char v[400];
    int n = 0;
    rmq_harness_setenv(h, &n, "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin");
    rmq_harness_setenv(h, &n, "HOME", h->dir);
    rmq_harness_setenv(h, &n, "LANG", "C.UTF-8");
    rmq_harness_setenv(h, &n, "LC_ALL", "C.UTF-8");
    rmq_harness_setenv(h, &n, "RABBITMQ_NODENAME", h->node);
    rmq_harness_setenv(h, &n, "RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1");
    snprintf(v, sizeof v, "%d", h->port);
    rmq_harness_setenv(h, &n, "RABBITMQ_NODE_PORT", v);
    snprintf(v, sizeof v, "%d", h->dist_port);
    rmq_harness_setenv(h, &n, "RABBITMQ_DIST_PORT", v);
    snprintf(v, sizeof v, "%d", h->epmd_port);
    rmq_harness_setenv(h, &n, "ERL_EPMD_PORT", v);
    rmq_harness_setenv(h, &n, "ERL_EPMD_ADDRESS", "127.0.0.1");
    snprintf(v, sizeof v, "%d", h->ctl_port);
    rmq_harness_setenv(h, &n, "RABBITMQ_CTL_DIST_PORT_MIN", v);
    snprintf(v, sizeof v, "%d", h->ctl_port + 10);
    rmq_harness_setenv(h, &n, "RABBITMQ_CTL_DIST_PORT_MAX", v);
    snprintf(v, sizeof v, "%s/mnesia", h->dir);
    rmq_harness_setenv(h, &n, "RABBITMQ_MNESIA_BASE", v);
    snprintf(v, sizeof v, "%s/log", h->dir);
    rmq_harness_setenv(h, &n, "RABBITMQ_LOG_BASE", v);
    snprintf(v, sizeof v, "%s/pid", h->dir);
    rmq_harness_setenv(h, &n, "RABBITMQ_PID_FILE", v);
    snprintf(v, sizeof v, "%s/rabbitmq.conf", h->dir);
    rmq_harness_setenv(h, &n, "RABBITMQ_CONFIG_FILE", v);
    snprintf(v, sizeof v, "%s/advanced.config", h->dir);
    rmq_harness_setenv(h, &n, "RABBITMQ_ADVANCED_CONFIG_FILE", v);
    snprintf(v, sizeof v, "%s/enabled_plugins", h->dir);
    rmq_harness_setenv(h, &n, "RABBITMQ_ENABLED_PLUGINS_FILE", v);
    snprintf(v, sizeof v, "%s/rabbitmq-env.conf", h->dir);
    rmq_harness_setenv(h, &n, "RABBITMQ_CONF_ENV_FILE", v);
    /* Erlang distribution on loopback only. */
    rmq_harness_setenv(h, &n, "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS", "-kernel inet_dist_use_interface {127,0,0,1}");
}

/* Write DIR/name with text, owned by the broker's user, mode mode. */
static int rmq_harness_write(const rmq_harness *h, const char *name, const char *text, mode_t mode)
{
    char path[400];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", h->dir, name);
    f = fopen(path, "w");
    if (!f) return -1;
    fputs(text, f);
    if (fclose(f) != 0) return -1;
    if (chmod(path, mode) != 0) return -1;
    if (h->as_other && chown(path, h->uid, h->gid) != 0) return -1;
    return 0;
}

static int rmq_harness_write_files(rmq_harness *h)
{
    char cookie[24];
    unsigned seed = (unsigned)getpid() ^ (unsigned)time(NULL);
    int i;
    /* Small test broker: no disk alarm on a nearly full /tmp, memory
     * alarm only where the test puts it (rmq_harness_set_watermark). */
    const char *conf = "loopback_users = none\n"
                       "disk_free_limit.absolute = 1MB\n"
                       "vm_memory_high_watermark.relative = 0.6\n"
                       "log.file.level = info\n"
                       "log.console = false\n";
    for (i = 0; i < 20; i++) cookie[i] = (char)('A' + (seed = seed * 1103515245u + 12345u) % 26u);
    cookie[20] = 0;
    if (rmq_harness_write(h, "rabbitmq.conf", conf, 0644) != 0) return -1;
    if (rmq_harness_write(h, "advanced.config", "[].\n", 0644) != 0) return -1;
    if (rmq_harness_write(h, "enabled_plugins", "[].\n", 0644) != 0) return -1;
    if (rmq_harness_write(h, "rabbitmq-env.conf", "", 0644) != 0) return -1;
    if (rmq_harness_write(h, ".erlang.cookie", cookie, 0400) != 0) return -1;
    return 0;
}

/* Child side: drop to the broker's user, chdir, output to DIR/logname. */
static void rmq_harness_child_setup(const rmq_harness *h, const char *logname)
{
    char logpath[400];
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, 0);
        close(fd);
    }
    snprintf(logpath, sizeof logpath, "%s/%s", h->dir, logname);
    fd = open(logpath, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    if (h->as_other) {
        if (setgroups(0, NULL) != 0 || setgid(h->gid) != 0 || setuid(h->uid) != 0) _exit(126);
    }
    if (chdir(h->dir) != 0) _exit(126);
}

/* Run argv with the broker's environment, as its user; wait at most
 * timeout_s. The exit status, or -1. */
static int rmq_harness_run(const rmq_harness *h, char *const argv[], double timeout_s)
{
    double deadline = rmq_harness_now() + timeout_s;
    pid_t pid = fork();
    int status;
    if (pid < 0) return -1;
    if (pid == 0) {
        rmq_harness_child_setup(h, "harness.log");
        execve(argv[0], argv, h->envp);
        _exit(127);
    }
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        if (r < 0 && errno != EINTR) return -1;
        if (rmq_harness_now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        rmq_harness_sleep_ms(20);
    }
}

/* The last lines of DIR/<name>, appended to err (for failure messages). */
static void rmq_harness_tail(const rmq_harness *h, const char *name, char *err, size_t errlen)
{
    char path[400], buf[1500];
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

/* What the watchdog reads to know what to kill: "server_pgid epmd_pid". */
static void rmq_harness_write_pids(const rmq_harness *h)
{
    char text[64];
    snprintf(text, sizeof text, "%d %d\n", h->running ? (int)h->server_pid : 0, (int)h->epmd_pid);
    rmq_harness_write(h, "harness.pids", text, 0644);
}

/* A shell that waits for EOF on a pipe (closed however the test exits),
 * then kills the broker's process group and epmd and removes the dir. */
static void rmq_harness_start_watchdog(rmq_harness *h)
{
    int fds[2];
    pid_t pid;
    char script[1024];
    if (pipe(fds) != 0) return;
    snprintf(script, sizeof script,
             "read _ 2>/dev/null; d='%s'; "
             "if [ -f \"$d/harness.pids\" ]; then read s e < \"$d/harness.pids\"; "
             "[ \"$s\" -gt 0 ] 2>/dev/null && kill -9 -\"$s\" 2>/dev/null; "
             "[ \"$e\" -gt 0 ] 2>/dev/null && kill -9 \"$e\" 2>/dev/null; sleep 0.3; fi; rm -rf \"$d\"",
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
    fcntl(fds[1], F_SETFD, FD_CLOEXEC); /* the broker must not hold it open */
    h->watch_fd = fds[1];
    h->watch_pid = pid;
}

/* 1 when an AMQP login as guest works. */
static int rmq_harness_ping(const rmq_harness *h)
{
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = c ? amqp_tcp_socket_new(c) : NULL;
    struct timeval tv;
    int ok = 0;
    tv.tv_sec = 2;
    tv.tv_usec = 0;
    if (s && amqp_socket_open_noblock(s, h->host, h->port, &tv) == AMQP_STATUS_OK) {
        amqp_rpc_reply_t r;
        amqp_set_handshake_timeout(c, &tv);
        r = amqp_login(c, "/", 0, AMQP_DEFAULT_FRAME_SIZE, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
        ok = r.reply_type == AMQP_RESPONSE_NORMAL;
        if (ok) amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    }
    if (c) amqp_destroy_connection(c);
    return ok;
}

static int rmq_harness_start_epmd(rmq_harness *h, char *err, size_t errlen)
{
    char port[16];
    char *argv[6];
    int i;
    snprintf(port, sizeof port, "%d", h->epmd_port);
    argv[0] = h->epmd;
    argv[1] = (char *)"-port";
    argv[2] = port;
    argv[3] = (char *)"-address";
    argv[4] = (char *)"127.0.0.1";
    argv[5] = NULL;
    h->epmd_pid = fork();
    if (h->epmd_pid < 0) {
        rmq_harness_errf(err, errlen, "fork: %s", strerror(errno));
        h->epmd_pid = 0;
        return -1;
    }
    if (h->epmd_pid == 0) {
        rmq_harness_child_setup(h, "epmd.log");
        setpgid(0, 0); /* ctest's timeout kill leaves it to the watchdog */
        execve(argv[0], argv, h->envp);
        _exit(127);
    }
    rmq_harness_write_pids(h);
    /* Wait until it listens (the broker would start a daemon epmd of its own otherwise). */
    for (i = 0; i < 100; i++) {
        struct sockaddr_in a;
        int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_port = htons((unsigned short)h->epmd_port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        if (fd >= 0) close(fd);
        if (ok) return 0;
        rmq_harness_sleep_ms(20);
    }
    rmq_harness_errf(err, errlen, "epmd did not listen on port %d", h->epmd_port);
    rmq_harness_tail(h, "epmd.log", err, errlen);
    return -1;
}

/* Start the broker on the existing directory and wait until a login
 * works. 0, or -1 with err filled (and the broker killed). */
static RMQ_HARNESS_UNUSED int rmq_harness_start_server(rmq_harness *h, char *err, size_t errlen)
{
    char prog[600];
    char *argv[2];
    double deadline = rmq_harness_now() + 60;
    int status;
    snprintf(prog, sizeof prog, "%s/rabbitmq-server", h->sbin);
    argv[0] = prog;
    argv[1] = NULL;
    h->server_pid = fork();
    if (h->server_pid < 0) {
        rmq_harness_errf(err, errlen, "fork: %s", strerror(errno));
        return -1;
    }
    if (h->server_pid == 0) {
        rmq_harness_child_setup(h, "server.out");
        setpgid(0, 0); /* the script, beam.smp and its helpers: one group to kill */
        execve(argv[0], argv, h->envp);
        _exit(127);
    }
    setpgid(h->server_pid, h->server_pid);
    h->running = 1;
    rmq_harness_write_pids(h);
    while (!rmq_harness_ping(h)) {
        if (waitpid(h->server_pid, &status, WNOHANG) == h->server_pid) {
            h->running = 0;
            rmq_harness_write_pids(h);
            rmq_harness_errf(err, errlen, "rabbitmq-server exited (status %d) in %s",
                             WIFEXITED(status) ? WEXITSTATUS(status) : -1, h->dir);
            rmq_harness_tail(h, "server.out", err, errlen);
            return -1;
        }
        if (rmq_harness_now() > deadline) {
            rmq_harness_errf(err, errlen, "RabbitMQ in %s did not accept a login on port %d within 60 s", h->dir,
                             h->port);
            rmq_harness_tail(h, "server.out", err, errlen);
            kill(-h->server_pid, SIGKILL);
            waitpid(h->server_pid, &status, 0);
            h->running = 0;
            rmq_harness_write_pids(h);
            return -1;
        }
        rmq_harness_sleep_ms(100);
    }
    return 0;
}

/* Crash the broker: SIGKILL its process group (beam.smp included), no
 * shutdown of any kind. Data stays for rmq_harness_restart. */
static RMQ_HARNESS_UNUSED void rmq_harness_kill(rmq_harness *h)
{
    int status;
    if (!h->running) return;
    kill(-h->server_pid, SIGKILL);
    waitpid(h->server_pid, &status, 0);
    h->running = 0;
    rmq_harness_write_pids(h);
}

/* Run rabbitmqctl -n NODE args... (NULL-terminated) against the broker.
 * Its exit status (0 = done), or -1. Output goes to DIR/harness.log. */
static RMQ_HARNESS_UNUSED int rmq_harness_ctl(const rmq_harness *h, const char *arg0, ...)
{
    char prog[600];
    char *argv[16];
    const char *s;
    va_list ap;
    int n = 0;
    snprintf(prog, sizeof prog, "%s/rabbitmqctl", h->sbin);
    argv[n++] = prog;
    argv[n++] = (char *)"-n";
    argv[n++] = (char *)h->node;
    va_start(ap, arg0);
    for (s = arg0; s && n < 15; s = va_arg(ap, const char *)) argv[n++] = (char *)s;
    va_end(ap);
    argv[n] = NULL;
    return rmq_harness_run(h, argv, 60);
}

/* Stop the broker cleanly (rabbitmqctl stop), keeping its data; SIGKILL
 * when that fails. 0 or -1. */
static RMQ_HARNESS_UNUSED int rmq_harness_stop(rmq_harness *h)
{
    double deadline;
    int status, rc;
    if (!h->running) return 0;
    rc = rmq_harness_ctl(h, "stop", NULL);
    deadline = rmq_harness_now() + 30;
    while (waitpid(h->server_pid, &status, WNOHANG) != h->server_pid) {
        if (rmq_harness_now() > deadline) {
            kill(-h->server_pid, SIGKILL);
            waitpid(h->server_pid, &status, 0);
            rc = -1;
            break;
        }
        rmq_harness_sleep_ms(50);
    }
    kill(-h->server_pid, SIGKILL); /* helpers (erl_child_setup) that outlived the VM */
    h->running = 0;
    rmq_harness_write_pids(h);
    return rc == 0 ? 0 : -1;
}

/* Start again after kill or stop: same node, port and data. */
static RMQ_HARNESS_UNUSED int rmq_harness_restart(rmq_harness *h, char *err, size_t errlen)
{
    if (h->running) rmq_harness_stop(h);
    return rmq_harness_start_server(h, err, errlen);
}

/* The memory alarm threshold, e.g. "0" (blocks every publisher) or "0.6"
 * (the harness's configured value). 0 or -1. */
static RMQ_HARNESS_UNUSED int rmq_harness_set_watermark(const rmq_harness *h, const char *fraction)
{
    return rmq_harness_ctl(h, "set_vm_memory_high_watermark", fraction, NULL) == 0 ? 0 : -1;
}

static void rmq_harness_rmrf(const rmq_harness *h)
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

/* Stop the broker and epmd, remove the directory, forget it. Safe twice. */
static void rmq_harness_cleanup(rmq_harness *h)
{
    int i, status;
    rmq_harness_stop(h);
    if (h->epmd_pid > 0) {
        kill(h->epmd_pid, SIGKILL);
        waitpid(h->epmd_pid, &status, 0);
        h->epmd_pid = 0;
    }
    rmq_harness_rmrf(h);
    h->dir[0] = 0;
    if (h->watch_fd >= 0) {
        close(h->watch_fd); /* the watchdog finds nothing left and exits */
        h->watch_fd = -1;
        waitpid(h->watch_pid, &status, 0);
    }
    for (i = 0; i < RMQ_HARNESS_MAX; i++)
        if (rmq_harness_live[i] == h) rmq_harness_live[i] = NULL;
}

static void rmq_harness_atexit(void)
{
    int i;
    for (i = 0; i < RMQ_HARNESS_MAX; i++)
        if (rmq_harness_live[i]) rmq_harness_cleanup(rmq_harness_live[i]);
}

/* Set up a directory and start epmd and the broker. On success h->url
 * reaches the vhost "/" as guest; returns 0. On failure -1 with a reason
 * (and log tails) in err, and nothing left behind. h must stay at the
 * same address until rmq_harness_cleanup. */
static RMQ_HARNESS_UNUSED int rmq_harness_start(rmq_harness *h, char *err, size_t errlen)
{
    int i;
    memset(h, 0, sizeof *h);
    h->watch_fd = -1;
    if (rmq_harness_find(h) != 0) {
        rmq_harness_errf(err, errlen,
                         "RabbitMQ not found (no rabbitmq-server and rabbitmqctl in %s, or no epmd): install the "
                         "Debian package \"rabbitmq-server\" (scripts/install-deps.sh)",
                         h->sbin);
        return -1;
    }
    if (getuid() == 0) {
        struct passwd *pw = getpwnam("rabbitmq");
        if (!pw) pw = getpwnam("nobody");
        if (!pw) {
            rmq_harness_errf(err, errlen, "running as root and no user \"rabbitmq\" or \"nobody\" to run the broker as");
            return -1;
        }
        h->as_other = 1;
        h->uid = pw->pw_uid;
        h->gid = pw->pw_gid;
    }
    snprintf(h->dir, sizeof h->dir, "/tmp/nostr-rmq-XXXXXX");
    if (!mkdtemp(h->dir)) {
        rmq_harness_errf(err, errlen, "mkdtemp /tmp/nostr-rmq-XXXXXX: %s", strerror(errno));
        h->dir[0] = 0;
        return -1;
    }
    if (h->as_other && chown(h->dir, h->uid, h->gid) != 0) {
        rmq_harness_errf(err, errlen, "chown %s: %s", h->dir, strerror(errno));
        rmq_harness_rmrf(h);
        return -1;
    }
    if (!rmq_harness_atexit_set) {
        atexit(rmq_harness_atexit);
        rmq_harness_atexit_set = 1;
    }
    for (i = 0; i < RMQ_HARNESS_MAX; i++)
        if (!rmq_harness_live[i]) {
            rmq_harness_live[i] = h;
            break;
        }
    rmq_harness_start_watchdog(h);
    snprintf(h->node, sizeof h->node, "distrise%dn%d@localhost", (int)getpid(), rmq_harness_seq++);
    snprintf(h->host, sizeof h->host, "127.0.0.1");
    if (rmq_harness_write_files(h) != 0) {
        rmq_harness_errf(err, errlen, "writing the broker's files in %s: %s", h->dir, strerror(errno));
        rmq_harness_cleanup(h);
        return -1;
    }
    h->epmd_port = rmq_harness_free_port();
    h->ctl_port = rmq_harness_free_port();
    h->dist_port = rmq_harness_free_port();
    h->port = rmq_harness_free_port();
    rmq_harness_build_env(h);
    if (h->port <= 0 || h->dist_port <= 0 || h->epmd_port <= 0 || rmq_harness_start_epmd(h, err, errlen) != 0) {
        if (h->port <= 0) rmq_harness_errf(err, errlen, "no free port");
        rmq_harness_cleanup(h);
        return -1;
    }
    snprintf(h->url, sizeof h->url, "amqp://guest:guest@127.0.0.1:%d", h->port);
    if (rmq_harness_start_server(h, err, errlen) != 0) {
        rmq_harness_cleanup(h);
        return -1;
    }
    return 0;
}

#endif
