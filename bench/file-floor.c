/* The file floor of figure (a): the same COUNT `bash -e -c :` commands, JOBS at a time,
   started by this small C program, which also makes per job only the files kiln keeps for
   it: a log (created, a header of about 2 KB written, the build's output appended) and an
   artifact entry (a folder with a meta.json, made aside and renamed into place). No plan,
   workspace, record or event, and no Node. What this costs beyond make is what those
   files cost on this machine's file system at this moment; kiln cannot do less and keep
   them. bench/run.ts compiles it (cc) and runs it in a cgroup of its own, like make.

     file-floor COUNT JOBS DIR */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: file-floor COUNT JOBS DIR\n"); return 2; }
  int count = atoi(argv[1]), jobs = atoi(argv[2]);
  const char *dir = argv[3];
  if (count < 1 || jobs < 1) { fprintf(stderr, "file-floor: COUNT and JOBS must be positive\n"); return 2; }
  char path[4096], aside[4096];
  if (mkdir(dir, 0755) != 0) { perror(dir); return 1; }
  snprintf(path, sizeof path, "%s/logs", dir); mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/tmp", dir); mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/artifacts", dir); mkdir(path, 0755);
  for (int i = 0; i < 256; i++) { snprintf(path, sizeof path, "%s/artifacts/%02x", dir, i); mkdir(path, 0755); }
  char header[2048];
  memset(header, '.', sizeof header);
  header[sizeof header - 1] = '\n';
  char *env[] = { "PATH=/usr/bin:/bin", "HOME=/nonexistent", "LC_ALL=C.UTF-8", "SOURCE_DATE_EPOCH=315532800", NULL };
  pid_t *pids = calloc((size_t)jobs, sizeof *pids);
  int *ids = calloc((size_t)jobs, sizeof *ids);
  int next = 0, running = 0, failed = 0;
  while (next < count || running > 0) {
    for (int s = 0; s < jobs && next < count; s++) {
      if (pids[s] != 0) continue;
      snprintf(path, sizeof path, "%s/logs/p%d.log", dir, next);
      int log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (log < 0 || write(log, header, sizeof header) != (ssize_t)sizeof header) { perror(path); return 1; }
      pid_t pid = fork();
      if (pid == 0) {
        dup2(log, 1); dup2(log, 2);
        setsid();
        char *args[] = { "bash", "-e", "-c", ":", NULL };
        execve("/bin/bash", args, env);
        _exit(127);
      }
      close(log);
      pids[s] = pid; ids[s] = next++; running++;
    }
    int status;
    pid_t done = wait(&status);
    if (done < 0) { perror("wait"); return 1; }
    for (int s = 0; s < jobs; s++) {
      if (pids[s] != done) continue;
      pids[s] = 0; running--;
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) failed++;
      int id = ids[s];
      snprintf(aside, sizeof aside, "%s/tmp/art-%d", dir, id);
      if (mkdir(aside, 0755) != 0) { perror(aside); return 1; }
      snprintf(path, sizeof path, "%s/meta.json", aside);
      int meta = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
      char text[256];
      int len = snprintf(text, sizeof text, "{\n  \"name\": \"p%d\",\n  \"version\": \"1\",\n  \"arch\": \"amd64\"\n}\n", id);
      if (meta < 0 || write(meta, text, (size_t)len) != len) { perror(path); return 1; }
      close(meta);
      snprintf(path, sizeof path, "%s/artifacts/%02x/key-%d", dir, id & 255, id);
      if (rename(aside, path) != 0) { perror(path); return 1; }
    }
  }
  printf("%d commands, %d failed\n", count, failed);
  return failed == 0 ? 0 : 1;
}
