// The perl program of kiln's launcher helpers (prefork.ts describes what it does, its
// wire format and the numbers it is started with). Kept as text: perl is on every
// Debian system (dpkg needs it), and the helper loads no module of its own.

export const HELPER = String.raw`
# No module is loaded (strict, warnings and Errno too): every page of perl's own memory
# is one more to copy-on-write after each fork. Errno numbers come from kiln (os.constants).
binmode STDIN; binmode STDOUT;
# Descriptors kiln inherited from whatever started it (a CI runner's pipes, a shell's
# redirections) must reach no command: Node passes them on, so they are closed here.
if (opendir(my $fdd, '/proc/self/fd')) { my @fds = grep { /^\d+$/ && $_ > 2 } readdir $fdd; closedir $fdd;
  for my $fd (@fds) { if (open(my $h, '<&=', $fd)) { close $h } } }
$SIG{CHLD} = sub {};
# A write to a gone kiln fails with EPIPE instead of killing the helper before it can take
# the builds down (a handler, not IGNORE: exec resets it, so commands get the default).
$SIG{PIPE} = sub {};
# perl ignores SIGFPE; commands must not inherit that.
$SIG{FPE} = 'DEFAULT';
my ($WAIT4, $PRCTL, $SETSID, $DUP3, $CHDIR, $EXECVE, $EXIT, $PDELAY,
  $EINTR, $ECHILD, $ENOENT, $EACCES, $ENOEXEC, $ENOTDIR, $ESTALE, $ENODEV, $ETIMEDOUT) = map { $_ + 0 } @ARGV;
# Raw syscalls in the child need every number; without them the child goes through POSIX.
my $RAW = ($SETSID && $DUP3 && $CHDIR && $EXECVE && $EXIT) ? 1 : 0;
require POSIX unless $RAW;
my $WNOHANG = 1;
sub xexit { $RAW ? syscall($EXIT, $_[0] + 0) : POSIX::_exit($_[0]) }
sub readn { my ($n) = @_; my $b = '';
  while (length($b) < $n) { my $r = sysread(STDIN, $b, $n - length($b), length($b));
    if (!defined $r) { next if $! == $EINTR; return undef } return undef if $r == 0 } $b }
# The command being run (0 between commands): a frame kiln can no longer take (EPIPE, before
# its stdin's EOF is seen) means kiln is gone, and its builds go too.
my $running = 0;
sub put { my $b = $_[0]; my $o = 0;
  while ($o < length $b) { my $w = syswrite(STDOUT, $b, length($b) - $o, $o);
    if (!defined $w) { next if $! == $EINTR; killall($running) } $o += $w } }
sub fr { $_[0] . pack('N', length $_[1]) . $_[1] }
sub frame { put(fr(@_)) }
sub command { my $h = readn(4); return undef unless defined $h; readn(unpack('N', $h)) }
my $ru_ok = 0;
# Reap $pid: (wait status, struct rusage or '') once it is reaped, () when not yet (or EINTR).
sub reap { my ($pid, $flags) = @_;
  if ($ru_ok) { my $st = "\0" x 4; my $ru = "\0" x 256;
    my $r = syscall($WAIT4, $pid + 0, $st, $flags + 0, $ru);
    return (unpack('i', $st), $ru) if $r == $pid;
    return () if $r == 0 || $! == $EINTR; return (255 << 8, '') }
  my $r = waitpid($pid, $flags); return ($?, '') if $r == $pid;
  return () if $r == 0 || $! == $EINTR; (255 << 8, '') }
# Reap zombie orphans; 1 while a child is alive, 0 when none is left at all.
sub others { while (1) { my $w = waitpid(-1, $WNOHANG); next if $w > 0; return ($w == -1 && $! == $ECHILD) ? 0 : 1 } }
if ($WAIT4) { my $p = fork; xexit(7) if defined $p && $p == 0;
  if ($p) { $ru_ok = 1; my @w; @w = reap($p, 0) until @w; $ru_ok = (($w[0] >> 8) == 7 && $w[1] ne '') ? 1 : 0;
    waitpid($p, 0) unless $ru_ok } }
my $reaper = ($PRCTL && syscall($PRCTL, 36, 1, 0, 0, 0) == 0) ? 1 : 0;
# kiln is gone: the command's group, and (as a subreaper) every process left under this
# helper, setsid daemons included, until none is left; then exit.
sub killall { my ($pid) = @_; kill 'KILL', -$pid if $pid;
  if ($reaper) { for (1 .. 1000) { my $found = 0;
      if (opendir(my $d, '/proc')) { for my $n (readdir $d) { next unless $n =~ /^\d+$/;
          open(my $f, '<', "/proc/$n/stat") or next; my $st = <$f>; close $f;
          next unless defined $st && $st =~ /.*\) \S (\d+) /s && $1 == $$; kill 'KILL', $n; $found = 1 } closedir $d }
      1 while waitpid(-1, $WNOHANG) > 0;
      last if !$found && waitpid(-1, $WNOHANG) == -1;
      select(undef, undef, undef, 0.001) } }
  xexit(0) }
open(my $null, '<', '/dev/null') or die;
sub status { my ($st, $ru, $tf) = @_; my $t = '';
  if ($tf ne '' && open(my $fh, '<', $tf)) { local $/; $t = <$fh> // ''; close $fh; unlink $tf }
  my $u = '-';
  if ($ru ne '') { my ($us, $uu, $ss, $su, $rss) = unpack('q5', $ru); $u = join(' ', $us * 1000000 + $uu, $ss * 1000000 + $su, $rss) }
  my $left = $reaper ? others() : '-';
  fr('X', (($st & 127) ? "-1 " . ($st & 127) : ($st >> 8) . " 0") . "\n$u\n$left\n" . $t) }
# What the child runs through execve: argv[0] searched in the command's own PATH (as
# execvp does, default /bin:/usr/bin), the argv and environment as NULL-ended pointer
# arrays made here, before fork, so the child writes almost none of perl's memory
# (each page it writes is copied) and makes no system call but the ones below.
sub candidates { my ($name, @env) = @_;
  return ($name) if $name =~ m{/};
  my ($path) = map { substr($_, 5) } grep { substr($_, 0, 5) eq 'PATH=' } @env;
  my @dirs = split(/:/, $path // '/bin:/usr/bin', -1); @dirs = ('') unless @dirs;
  map { ($_ eq '' ? '.' : $_) . "/$name" } @dirs }
sub execute { my ($cands, $av, $ev, $argv) = @_; my $err = 0; my $msg = '';
  for my $c (@$cands) { syscall($EXECVE, $c, $$av, $ev);
    my $e = $! + 0;
    if ($e == $ENOEXEC) { my @sh = ('/bin/sh', $c, @$argv[1 .. $#$argv]); my $sv = pack('p' x @sh . 'Q', @sh, 0); syscall($EXECVE, $sh[0], $sv, $ev); $e = $! + 0 }
    if ($e == $EACCES) { $err = $e; $msg = "$!"; next }
    next if $e == $ENOENT || $e == $ENOTDIR || $e == $ESTALE || $e == $ENODEV || $e == $ETIMEDOUT;
    return ($e, "$!") }
  return $err ? ($err, $msg) : ($ENOENT, do { local $! = $ENOENT; "$!" }) }
put(fr('R', "$ru_ok $reaper"));
while (defined(my $job = command())) {
  $running = 0;
  next unless substr($job, 0, 1, '') eq 'J';
  others() if $reaper;
  my @f = split /\0/, $job, -1;
  my ($tf, $cwd, $argc) = splice(@f, 0, 3);
  my @argv = splice(@f, 0, $argc);
  pipe(my $or, my $ow) or die; pipe(my $er, my $ew) or die; pipe(my $sr, my $sw) or die;
  my (@cands, $av, $ev);
  if ($RAW) { @cands = candidates($argv[0], @f); $av = pack('p' x @argv . 'Q', @argv, 0); $ev = pack('p' x @f . 'Q', @f, 0) }
  my ($nfd, $ofd, $efd) = (fileno($null), fileno($ow), fileno($ew));
  my $pid = fork;
  if (!defined $pid) { put(fr('E', ($! + 0) . "\0fork: $!") . fr('C', '')); next }
  if ($pid == 0) {
    if ($RAW) {
      syscall($SETSID); umask 022; syscall($DUP3, $nfd, 0, 0); syscall($DUP3, $ofd, 1, 0); syscall($DUP3, $efd, 2, 0);
      if (syscall($CHDIR, $cwd) != 0) { syswrite($sw, ($! + 0) . "\0chdir: $!"); xexit(127) }
      my ($e, $m) = execute(\@cands, \$av, $ev, \@argv);
      syswrite($sw, "$e\0$m"); xexit(127);
    }
    $SIG{CHLD} = 'DEFAULT';
    POSIX::setsid();
    umask 022;
    open(STDIN, '<&', $null); open(STDOUT, '>&', $ow); open(STDERR, '>&', $ew);
    if (!chdir $cwd) { syswrite($sw, ($! + 0) . "\0chdir: $!"); xexit(127) }
    %ENV = (); for (@f) { my ($k, $v) = split /=/, $_, 2; $ENV{$k} = $v }
    exec { $argv[0] } @argv;
    syswrite($sw, ($! + 0) . "\0$!"); xexit(127);
  }
  $running = $pid;
  close $ow; close $ew; close $sw;
  # The pid goes out once the command has run for $PDELAY ms or printed something, or
  # together with its exit status: a short command costs kiln one wakeup, not three.
  my $p = fr('P', $pid); my $pwait = $PDELAY / 1000;
  my %open = (fileno($or) => [$or, 'o'], fileno($er) => [$er, 'e']);
  my $exited = 0; my @w; my $xsent = 0; my $failed = '';
  while (1) {
    # Reaped: its pid may be reused, so no group kill by it from here on (the sweep finds the rest).
    if (!$exited) { @w = reap($pid, $WNOHANG); if (@w) { $exited = 1; $running = 0 if $reaper } }
    if ($exited && !$xsent && $failed eq '') {
      # The child is gone, so the exec-status pipe is at EOF or holds why it could not start.
      while (!defined sysread($sr, $failed, 4096)) { last unless $! == $EINTR }
      if ($failed ne '') { close $_->[0] for values %open; %open = () }
    }
    last if $exited && !%open;
    if ($exited && !$xsent) { put($p . status(@w, $tf)); $p = ''; $xsent = 1 }
    elsif ($exited && $reaper) { others() }
    # Both pipes closed but the command runs on: the loop goes on with stdin alone, so the
    # pid still goes out after $PDELAY ms and kiln can still abandon or go away.
    my $rin = ''; vec($rin, $_, 1) = 1 for (0, keys %open);
    my $wait = $exited ? undef : ($p ne '' && $pwait < 0.1) ? $pwait : 0.1;
    my ($n, $left) = select(my $rout = $rin, undef, undef, $wait);
    if ($p ne '') { $pwait -= $wait - ($left // 0) if defined $wait; if ($pwait <= 0) { put($p); $p = '' } }
    next if $n <= 0;
    for my $fd (keys %open) {
      next unless vec($rout, $fd, 1);
      my $r = sysread($open{$fd}[0], my $buf, 65536);
      next if !defined $r && $! == $EINTR;
      if (!$r) { close $open{$fd}[0]; delete $open{$fd} } else { put($p . fr($open{$fd}[1], $buf)); $p = '' }
    }
    if (vec($rout, 0, 1)) {
      my $c = command();
      if (!defined $c) { killall($running) }
      if ($c eq 'A') { close $_->[0] for values %open; %open = () }
    }
  }
  close $sr;
  if ($failed ne '') { put(fr('E', $failed) . fr('C', '')); next }
  put($p . ($xsent ? '' : status(@w, $tf)) . fr('C', ''));
}
killall(0);
`;
