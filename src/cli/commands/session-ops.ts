/**
 * @module `mctl sessions exec ID -- CMD...`, `mctl sessions diff ID` and
 * `mctl sessions push ID --branch NAME`: work with a session's workspace through its runner.
 * `exec` prints the command's output as it comes (../exec-stream.ts) and exits with its exit code.
 */
import type { Command } from 'commander';
import { CliError } from '../client.js';
import { ctx } from '../context.js';
import { streamExec } from '../exec-stream.js';
import { print } from '../output.js';
import { startTerminal } from '../terminal-start.js';
import { parseTimeout } from './agents.js';
import { cpCommand } from './session-cp.js';

/** `Name <email>` into its parts. */
function parseAuthor(v: string): { name: string; email: string } {
  const m = /^\s*(.+?)\s*<([^<>\s]+)>\s*$/.exec(v);
  if (!m) throw new CliError(`--author ${JSON.stringify(v)}: expected "Name <email>"`);
  return { name: m[1]!, email: m[2]! };
}

export function sessionOpCommands(sessions: Command, setExit: (code: number) => void): void {
  cpCommand(sessions);
  sessions
    .command('exec <id> <command...>')
    .description("Run a command in the session's workspace (put it after --); exits with its exit code")
    .option('--timeout <duration>', 'kill it past this (default 10m, at most 1h)')
    .option('-i, --stdin', 'with -t: type into the command (-it: an interactive terminal)')
    .option('-t, --tty', 'with -i: run it on a terminal (a PTY on the runner), resized with yours')
    .action(async (id: string, command: string[], o: Record<string, unknown>, cmd: Command) => {
      if (o.stdin || o.tty) {
        if (!(o.stdin && o.tty))
          throw new CliError(
            `${o.tty ? '-t' : '-i'} alone is not supported: use -it for an interactive terminal`,
            'without -it the output is streamed and stdin is not read',
          );
        if (o.timeout)
          throw new CliError('--timeout does not apply to -it: the terminal lasts until its command exits');
        return setExit(await startTerminal(cmd, id, command));
      }
      const { api, out } = ctx(cmd);
      const body = {
        command,
        ...(o.timeout ? { timeoutMs: parseTimeout(String(o.timeout), '--timeout') } : {}),
      };
      if (out === 'table') return setExit(await streamExec(api, id, body));
      const r = await api.execSession(id, body);
      print(out, r, () => '');
      if (r.error) process.stderr.write(`mctl: ${r.error}\n`);
      setExit(r.exitCode ?? 1);
    });
  sessions
    .command('diff <id>')
    .description("The workspace's changes against the session's base commit (a patch)")
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.diffSession(id);
      print(out, r, () => r.diff.replace(/\n$/, ''));
    });
  sessions
    .command('push <id>')
    .description('Commit what the agent left and push it to a branch of the session’s repository')
    .requiredOption('--branch <name>', 'the branch to push to')
    .option('-m, --message <text>', 'commit message (default: "Changes from Marionette session ID")')
    .option('--author <who>', 'commit author, "Name <email>" (default Marionette <marionette@localhost>)')
    .action(async (id: string, o: Record<string, unknown>, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const author = o.author ? parseAuthor(String(o.author)) : null;
      const r = await api.pushSession(id, {
        branch: String(o.branch),
        ...(o.message ? { message: String(o.message) } : {}),
        ...(author ? { authorName: author.name, authorEmail: author.email } : {}),
      });
      print(out, r, () => `pushed ${r.commit} to ${r.branch}`);
    });
}
