// kiln doctor [--fix] [--json]: leftovers of dead kilns (sandbox journal entries, mounts,
// cgroups, workspaces, stale locks) and whether the isolated sandboxes can run here.
// Exit 0 when nothing is left over (after --fix: when everything was removed), 1 otherwise.

import type { Command } from 'commander';
import { KilnError } from '../errors.ts';
import { runDoctor } from '../sandbox/doctor.ts';
import type { CliContext } from './main.ts';
import { addStateOptions, layoutFrom, stateFlags, type StateOptions } from './options.ts';

export function registerDoctor(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('doctor')
    .description('find what dead kiln processes left behind (mounts, cgroups, workspaces, locks) and check the sandboxes; --fix removes it')
    .option('--fix', 'remove what is found')
    .option('--json', 'print the report as JSON')
    .option('--cgroup-parent <name>', 'name of the cgroup directory that holds the build groups', parseCgroupParent, 'kiln');
  addStateOptions(cmd);
  cmd.action(async (opts: StateOptions & { fix?: boolean; json?: boolean; cgroupParent: string }) => {
    const state = layoutFrom(opts);
    const report = await runDoctor({ stateDir: state.root, cacheDir: state.cache, fix: opts.fix === true, cgroupParent: opts.cgroupParent });
    ctx.exitCode = report.remaining === 0 ? 0 : 1;
    if (opts.json) {
      ctx.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return;
    }
    const out = ctx.stdout;
    out.write(`kiln doctor: state ${report.stateDir}\n`);
    for (const c of report.checks) out.write(`  ${c.ok ? 'ok  ' : 'no  '} ${c.name}: ${c.detail}\n`);
    if (report.findings.length === 0) {
      out.write('nothing left over\n');
      return;
    }
    for (const f of report.findings) {
      const mark = f.fixed === undefined ? 'found' : f.fixed ? 'fixed' : 'FAILED';
      out.write(`${mark.padEnd(6)} ${f.kind.padEnd(9)} ${f.path}\n         ${f.detail}${f.error === undefined ? '' : `\n         error: ${f.error}`}\n`);
    }
    out.write(report.remaining === 0 ? 'all removed\n' : `${report.remaining} left over${opts.fix ? '' : `; run \`kiln doctor --fix${stateFlags(opts)}${opts.cgroupParent === 'kiln' ? '' : ` --cgroup-parent ${opts.cgroupParent}`}\` to remove them`}\n`);
  });
}

/** One directory name, as kiln names its build groups' parent: never a path. */
export function parseCgroupParent(value: string): string {
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(value) || value.includes('..')) {
    throw new KilnError('usage', `--cgroup-parent: "${value}" is not a directory name`, {
      hint: 'give the one name under which kiln made its build groups (letters, digits, "_", "-", "."; no "/"): the default, kiln, unless your builds were told otherwise',
    });
  }
  return value;
}
