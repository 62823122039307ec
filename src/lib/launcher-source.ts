// The C program of kiln's launcher helper: the same wire protocol and behaviour as the
// perl helper (prefork-helper.ts; prefork.ts describes both), compiled once per machine
// (launcher-binary.ts) where a C compiler is installed. A build farm runs thousands of
// tiny jobs: perl's fork copies a few MiB of page tables per job and its interpreter
// runs a few hundred ops around it, where this program costs a handful of system calls.
// Kept as text so that it is compiled from exactly what this kiln ships.

export const LAUNCHER_C = String.raw`
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Frames out to kiln: one growing buffer, written in one go (one wakeup of kiln). */
static char *out; static size_t out_n, out_cap;
static void need(size_t n) {
  if (out_n + n <= out_cap) return;
  while (out_n + n > out_cap) out_cap = out_cap ? out_cap * 2 : 65536 + 64;
  out = realloc(out, out_cap);
  if (!out) _exit(70);
}
static void frame(char type, const char *data, size_t len) {
  need(5 + len);
  out[out_n] = type;
  out[out_n + 1] = (char)(len >> 24); out[out_n + 2] = (char)(len >> 16);
  out[out_n + 3] = (char)(len >> 8); out[out_n + 4] = (char)len;
  if (len) memcpy(out + out_n + 5, data, len);
  out_n += 5 + len;
}
/* The command being run (0 between commands). kiln gone means its builds go too, also
   when a frame to it fails (EPIPE) before its stdin's EOF is seen. */
static pid_t running;
static void kill_all_and_exit(pid_t pid);
static void flush_out(void) {
  size_t o = 0;
  while (o < out_n) {
    ssize_t w = write(1, out + o, out_n - o);
    if (w < 0) { if (errno == EINTR) continue; kill_all_and_exit(running); }
    o += (size_t)w;
  }
  out_n = 0;
}

/* Commands from kiln: u32be length, payload. NULL at EOF. */
static int readn(char *b, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(0, b + got, n - got);
    if (r < 0) { if (errno == EINTR) continue; return -1; }
    if (r == 0) return -1;
    got += (size_t)r;
  }
  return 0;
}
static char *command(size_t *len) {
  unsigned char h[4];
  if (readn((char *)h, 4)) return NULL;
  *len = ((size_t)h[0] << 24) | ((size_t)h[1] << 16) | ((size_t)h[2] << 8) | h[3];
  char *c = malloc(*len + 1);
  if (!c || readn(c, *len)) return NULL;
  c[*len] = 0;
  return c;
}

static int reaper;
/* Reap zombie orphans; 1 while a child is alive, 0 when none is left at all. */
static int others(void) {
  for (;;) {
    pid_t w = waitpid(-1, NULL, WNOHANG);
    if (w > 0) continue;
    return (w == -1 && errno == ECHILD) ? 0 : 1;
  }
}

/* As a subreaper: kill every process left under this helper (a daemon that left the
   command's group with setsid, or cleared its environment, is re-parented here), until
   none is left or max_rounds scans of /proc (1 ms apart) have passed; how many distinct
   processes it killed (zombies are only reaped, not counted). */
static int kill_orphans(int max_rounds) {
  int killed = 0;
  pid_t seen[256]; int nseen = 0;
  {
    char self[24]; snprintf(self, sizeof self, "%d", (int)getpid());
    for (int round = 0; round < max_rounds; round++) {
      int found = 0;
      DIR *d = opendir("/proc");
      struct dirent *e;
      while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9') continue;
        char path[300], buf[512];
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0) continue;
        buf[n] = 0;
        char *r = strrchr(buf, ')');
        if (!r || r[1] != ' ' || !r[2] || r[3] != ' ') continue;
        char *pp = r + 4, *end = strchr(pp, ' ');
        if (!end || (size_t)(end - pp) != strlen(self) || strncmp(pp, self, strlen(self)) != 0) continue;
        found = 1;
        if (r[2] == 'Z') continue;
        pid_t victim = (pid_t)atoi(e->d_name);
        if (kill(victim, SIGKILL) != 0) continue;
        int again = 0;
        for (int i = 0; i < nseen; i++) if (seen[i] == victim) again = 1;
        if (!again) { killed++; if (nseen < 256) seen[nseen++] = victim; }
      }
      if (d) closedir(d);
      while (waitpid(-1, NULL, WNOHANG) > 0) {}
      if (!found && waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD) break;
      struct timespec ts = { 0, 1000000 }; nanosleep(&ts, NULL);
    }
  }
  return killed;
}

/* kiln is gone: kill the command's group and, as a subreaper, every process left under
   this helper, until none is left; then exit. Without the subreaper only the group can be reached. */
static void kill_all_and_exit(pid_t pid) {
  if (pid > 0) kill(-pid, SIGKILL);
  if (reaper) kill_orphans(1000);
  _exit(0);
}

static long long now_ms(void) {
  struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void on_chld(int s) { (void)s; }

/* The "left" line: - (no subreaper), 0 (nothing left), 1 (left, kiln sweeps), or kN (N
   left, killed here before kiln hears the command ended: nothing runs on into packing).
   Only after a command that ended by itself: one killed by a signal (kiln's SIGTERM of a
   timeout or cancel) leaves kiln to give its descendants their grace. A process that will
   not die within about 100 ms (stuck in the kernel) is left to kiln's sweep too: "1". */
static void status_frame(int st, struct rusage *ru, const char *tf) {
  char head[160], left[24];
  if (!reaper) snprintf(left, sizeof left, "-");
  else if (!others()) snprintf(left, sizeof left, "0");
  else if (WIFSIGNALED(st)) snprintf(left, sizeof left, "1");
  else { int k = kill_orphans(100); if (others()) snprintf(left, sizeof left, "1"); else snprintf(left, sizeof left, "k%d", k); }
  int n = WIFSIGNALED(st) ? snprintf(head, sizeof head, "-1 %d\n", WTERMSIG(st)) : snprintf(head, sizeof head, "%d 0\n", WEXITSTATUS(st));
  n += snprintf(head + n, sizeof head - n, "%lld %lld %ld\n%s\n",
    (long long)ru->ru_utime.tv_sec * 1000000 + ru->ru_utime.tv_usec,
    (long long)ru->ru_stime.tv_sec * 1000000 + ru->ru_stime.tv_usec, ru->ru_maxrss, left);
  char *t = NULL; size_t tn = 0;
  if (tf[0]) {
    int fd = open(tf, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      size_t cap = 4096; t = malloc(cap);
      for (;;) {
        if (tn == cap) t = realloc(t, cap *= 2);
        ssize_t r = read(fd, t + tn, cap - tn);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        tn += (size_t)r;
      }
      close(fd); unlink(tf);
    }
  }
  need(5 + (size_t)n + tn);
  char *all = malloc((size_t)n + tn + 1);
  memcpy(all, head, (size_t)n); if (tn) memcpy(all + n, t, tn);
  frame('X', all, (size_t)n + tn);
  free(all); free(t);
}

/* In the child: why it could not start, to the exec-status pipe. */
static void report(int fd, int e, const char *what) {
  char b[512];
  int n = snprintf(b, sizeof b, "%d%c%s%s", e, 0, what, strerror(e));
  ssize_t w = write(fd, b, (size_t)n); (void)w;
}

/* Descriptors kiln inherited from whatever started it (a CI runner's pipes, a shell's
   redirections, a make jobserver) must reach no command: only 0, 1 and 2 do. Node passes
   every inherited descriptor on to its children, so they are marked close-on-exec here,
   once, before any command starts. */
static void cloexec_inherited(void) {
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return;
  int own = dirfd(d);
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    char *end; long fd = strtol(de->d_name, &end, 10);
    if (end == de->d_name || *end != 0 || fd < 3 || fd == own) continue;
    int fl = fcntl((int)fd, F_GETFD);
    if (fl >= 0 && !(fl & FD_CLOEXEC)) fcntl((int)fd, F_SETFD, fl | FD_CLOEXEC);
  }
  closedir(d);
}

static int skippable(int e) { return e == ENOENT || e == ENOTDIR || e == ESTALE || e == ENODEV || e == ETIMEDOUT; }

int main(int argc, char **argv) {
  long pdelay = argc > 1 ? atol(argv[1]) : 20;
  cloexec_inherited();
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_handler = on_chld; sigemptyset(&sa.sa_mask);
  sigaction(SIGCHLD, &sa, NULL);
  /* SIGCHLD is blocked except inside ppoll: a child's exit wakes the poll, never races it. */
  sigset_t chld, unblocked;
  sigemptyset(&chld); sigaddset(&chld, SIGCHLD);
  sigprocmask(SIG_BLOCK, &chld, &unblocked);
  sigdelset(&unblocked, SIGCHLD);
  reaper = prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0;
  int nullfd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (nullfd < 0) return 71;
  frame('R', reaper ? "1 1" : "1 0", 3); flush_out();

  size_t len;
  char *job;
  while ((job = command(&len)) != NULL) {
    if (len == 0 || job[0] != 'J') { free(job); continue; }
    if (reaper) others();
    /* Fields: timeFile, cwd, argc, argv..., env... (NUL-separated, the last one unterminated). */
    size_t nf = 1; for (size_t i = 1; i < len; i++) if (job[i] == 0) nf++;
    char **f = calloc(nf + 1, sizeof *f);
    size_t k = 0; f[k++] = job + 1;
    for (size_t i = 1; i < len; i++) if (job[i] == 0) f[k++] = job + i + 1;
    if (nf < 4) { free(f); free(job); frame('E', "22\0bad launch request", 21); frame('C', "", 0); flush_out(); continue; }
    const char *tf = f[0], *cwd = f[1];
    char *end;
    unsigned long ac = strtoul(f[2], &end, 10);
    if (*end != 0 || f[2][0] == '-' || ac < 1 || ac > nf - 3) { free(f); free(job); frame('E', "22\0bad launch request", 21); frame('C', "", 0); flush_out(); continue; }
    char **av = calloc(ac + 1, sizeof *av);
    for (size_t i = 0; i < ac; i++) av[i] = f[3 + i];
    size_t ec = nf - 3 - ac;
    char **ev = calloc(ec + 1, sizeof *ev);
    for (size_t i = 0; i < ec; i++) ev[i] = f[3 + ac + i];
    /* argv[0] searched in the command's own PATH, as execvp does (default /bin:/usr/bin). */
    const char *path = "/bin:/usr/bin";
    for (size_t i = 0; i < ec; i++) if (strncmp(ev[i], "PATH=", 5) == 0) { path = ev[i] + 5; break; }
    size_t nc = 1; for (const char *p = path; *p; p++) if (*p == ':') nc++;
    char **cands = calloc(nc + 1, sizeof *cands);
    size_t cn = 0;
    if (strchr(av[0], '/')) cands[cn++] = strdup(av[0]);
    else {
      const char *p = path;
      for (;;) {
        const char *e = strchr(p, ':'); size_t dl = e ? (size_t)(e - p) : strlen(p);
        char *c = malloc(dl + strlen(av[0]) + 3);
        if (dl == 0) sprintf(c, "./%s", av[0]); else sprintf(c, "%.*s/%s", (int)dl, p, av[0]);
        cands[cn++] = c;
        if (!e) break;
        p = e + 1;
      }
    }
    char **shv = calloc(ac + 2, sizeof *shv);
    shv[0] = "/bin/sh";
    for (size_t i = 1; i < ac; i++) shv[i + 1] = av[i];

    int o[2] = {-1, -1}, e[2] = {-1, -1}, s[2] = {-1, -1};
    if (pipe2(o, O_CLOEXEC) || pipe2(e, O_CLOEXEC) || pipe2(s, O_CLOEXEC)) {
      int x = errno;
      int all[6] = {o[0], o[1], e[0], e[1], s[0], s[1]};
      for (int i = 0; i < 6; i++) if (all[i] >= 0) close(all[i]);
      char b[300]; int n = snprintf(b, sizeof b, "%d%cpipe: %s", x, 0, strerror(x));
      frame('E', b, (size_t)n); frame('C', "", 0); flush_out();
      goto next;
    }
    /* vfork: the child borrows this process's memory until it execs, so no page table is
       copied (measured: 0.10 against 0.17 ms of the helper's CPU per command). Until then
       it only makes system calls and writes its own stack frame, errno and shv[1]. */
    pid_t pid = vfork();
    if (pid < 0) {
      char b[300]; int n = snprintf(b, sizeof b, "%d%cvfork: %s", errno, 0, strerror(errno));
      close(o[0]); close(o[1]); close(e[0]); close(e[1]); close(s[0]); close(s[1]);
      frame('E', b, (size_t)n); frame('C', "", 0); flush_out();
      goto next;
    }
    if (pid == 0) {
      sigset_t none; sigemptyset(&none);
      signal(SIGPIPE, SIG_DFL); signal(SIGCHLD, SIG_DFL);
      sigprocmask(SIG_SETMASK, &none, NULL);
      setsid();
      /* Every command starts with umask 022, whatever kiln's own is (as dpkg-buildpackage and
         BitBake do): a build's output modes must not depend on who ran kiln. */
      umask(022);
      dup2(nullfd, 0); dup2(o[1], 1); dup2(e[1], 2);
      if (chdir(cwd) != 0) { report(s[1], errno, "chdir: "); _exit(127); }
      int err = 0;
      for (size_t i = 0; i < cn; i++) {
        execve(cands[i], av, ev);
        int x = errno;
        if (x == ENOEXEC) { shv[1] = cands[i]; execve(shv[0], shv, ev); x = errno; }
        if (x == EACCES) { err = x; continue; }
        if (skippable(x)) continue;
        report(s[1], x, ""); _exit(127);
      }
      report(s[1], err ? err : ENOENT, ""); _exit(127);
    }
    running = pid;
    close(o[1]); close(e[1]); close(s[1]);
    {
      /* The pid goes out once the command has run for pdelay ms or printed something, or
         together with its exit status: a short command costs kiln one wakeup, not three. */
      char ptext[32]; int pn = snprintf(ptext, sizeof ptext, "%d", (int)pid);
      int ppending = 1; long long pdeadline = now_ms() + pdelay;
      int fo = o[0], fe = e[0];
      int exited = 0, xsent = 0, st = 0; struct rusage ru; memset(&ru, 0, sizeof ru);
      char failed[600]; ssize_t failed_n = 0; int checked = 0;
      static char buf[65536];
      for (;;) {
        if (!exited) {
          pid_t r = wait4(pid, &st, WNOHANG, &ru);
          /* Reaped: its pid may be reused, so no group kill by it from here on; what is left
             of the group are orphans of this subreaper, which the sweep finds. */
          if (r == pid) { exited = 1; if (reaper) running = 0; }
          else if (r < 0 && errno != EINTR) { exited = 1; st = 255 << 8; }
        }
        if (exited && !checked) {
          /* The child is gone: the exec-status pipe is at EOF or holds why it could not start. */
          checked = 1;
          do failed_n = read(s[0], failed, sizeof failed - 1); while (failed_n < 0 && errno == EINTR);
          if (failed_n < 0) failed_n = 0;
          if (failed_n > 0) { if (fo >= 0) close(fo); if (fe >= 0) close(fe); fo = fe = -1; }
        }
        if (exited && fo < 0 && fe < 0) break;
        if (exited && !xsent) { if (ppending) frame('P', ptext, (size_t)pn); ppending = 0; status_frame(st, &ru, tf); flush_out(); xsent = 1; }
        else if (exited && reaper) others();
        /* Both pipes closed but the command runs on: the loop goes on with stdin alone, so
           the pid still goes out after pdelay and kiln can still abandon or go away. */
        struct pollfd p[3]; int np = 0;
        p[np].fd = 0; p[np++].events = POLLIN;
        int io = -1, ie = -1;
        if (fo >= 0) { io = np; p[np].fd = fo; p[np++].events = POLLIN; }
        if (fe >= 0) { ie = np; p[np].fd = fe; p[np++].events = POLLIN; }
        long long wait = -1;
        if (!exited) { wait = 100; if (ppending) { long long left = pdeadline - now_ms(); if (left < wait) wait = left < 0 ? 0 : left; } }
        struct timespec ts = { (time_t)(wait / 1000), (long)(wait % 1000) * 1000000 };
        int n = ppoll(p, (nfds_t)np, wait < 0 ? NULL : &ts, &unblocked);
        if (ppending && now_ms() >= pdeadline) { frame('P', ptext, (size_t)pn); flush_out(); ppending = 0; }
        if (n <= 0) continue;
        for (int which = 0; which < 2; which++) {
          int idx = which == 0 ? io : ie;
          if (idx < 0 || !(p[idx].revents & (POLLIN | POLLHUP | POLLERR))) continue;
          int fd = which == 0 ? fo : fe;
          ssize_t r = read(fd, buf, sizeof buf);
          if (r < 0 && errno == EINTR) continue;
          if (r <= 0) { close(fd); if (which == 0) fo = -1; else fe = -1; }
          else { if (ppending) frame('P', ptext, (size_t)pn); ppending = 0; frame(which == 0 ? 'o' : 'e', buf, (size_t)r); flush_out(); }
        }
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
          size_t cl; char *c = command(&cl);
          if (c == NULL) kill_all_and_exit(running);
          if (cl == 1 && c[0] == 'A') { if (fo >= 0) close(fo); if (fe >= 0) close(fe); fo = fe = -1; }
          free(c);
        }
      }
      close(s[0]);
      if (failed_n > 0) { frame('E', failed, (size_t)failed_n); frame('C', "", 0); flush_out(); goto next; }
      if (!xsent) { if (ppending) frame('P', ptext, (size_t)pn); status_frame(st, &ru, tf); }
      frame('C', "", 0); flush_out();
    }
  next:
    running = 0;
    for (size_t i = 0; i < cn; i++) free(cands[i]);
    free(cands); free(shv); free(av); free(ev); free(f); free(job);
  }
  /* kiln is gone between commands: what an earlier command left behind goes too. */
  kill_all_and_exit(0);
  return 0;
}
`;
