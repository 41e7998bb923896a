/**
 * @module `mctl tasks create|list|get|show|cancel|logs`. `create --wait` prints the task id at
 * once, progress on stderr, and the final state; `-o json --wait` prints the task as finished.
 */
import type { Command } from 'commander';
import type { Task } from '../../client/index.js';
import { CliError } from '../client.js';
import { ctx, limitOption, waitTimeout } from '../context.js';
import { ago, type Column, print, table } from '../output.js';
import { followLogs, pageLogs, waitAndReport } from '../wait.js';
import { parseTimeout } from './agents.js';
import { promptOf } from './habits.js';

export const taskCols: Column<Task>[] = [
  { header: 'ID', get: (t) => t.id },
  { header: 'SESSION', get: (t) => t.sessionId },
  { header: '#', get: (t) => t.ordinal },
  { header: 'STATE', get: (t) => t.state },
  { header: 'EXIT', get: (t) => t.exitCode },
  { header: 'ATTEMPT', get: (t) => t.attempt },
  { header: 'AGE', get: (t) => ago(t.createdAt) },
  { header: 'ERROR', get: (t) => t.error, cut: true },
];

export function taskCommands(program: Command, setExit: (code: number) => void): void {
  const tasks = program.command('tasks').alias('task').description('Tasks (prompts run inside a session)');
  tasks
    .command('create')
    .description('Queue a task in a session')
    .requiredOption('--session <id>', 'session')
    .option('--prompt <text>', 'prompt (- reads it from stdin)')
    .option('--prompt-file <path>', 'prompt from a file')
    .option('--wait', 'wait; exit status 0 only if it succeeded')
    .option('-f, --follow', 'stream its output')
    .option(
      '--timeout <duration>',
      'with --wait/--follow: stop waiting after this long (e.g. 30s, 5m); exit status 124',
    )
    .option('--task-timeout <duration>', "this task's timeout, e.g. 10m (it then ends timed_out)")
    .action(
      async (
        o: {
          session: string;
          prompt?: string;
          promptFile?: string;
          wait?: boolean;
          follow?: boolean;
          timeout?: string;
          taskTimeout?: string;
        },
        cmd: Command,
      ) => {
        const { api, out, tty } = ctx(cmd);
        const timeoutMs = waitTimeout(o);
        const prompt = promptOf(o);
        if (prompt === undefined)
          throw new CliError('give the prompt: --prompt TEXT, --prompt - (stdin) or --prompt-file PATH');
        const t = await api.createTask(o.session, {
          prompt,
          ...(o.taskTimeout ? { taskTimeoutMs: parseTimeout(o.taskTimeout) } : {}),
        });
        if (!(o.wait || o.follow)) return print(out, t, () => t.id);
        if (out === 'table') {
          if (o.follow) process.stderr.write(`task ${t.id} queued\n`);
          else process.stdout.write(`${t.id}\n`);
        }
        const r = await waitAndReport(api, t, { ...o, timeoutMs, finalOnStdout: out === 'table' && !o.follow }, tty);
        if (out !== 'table') {
          const now = await api.getTask(t.id);
          print(out, now, () => now.id);
        }
        setExit(r.code);
      },
    );
  tasks
    .command('list')
    .description('List tasks, newest first')
    .option('--session <id>', 'only this session')
    .option('--state <s>', 'only these states (comma-separated)')
    .option('--limit <n>', 'how many', '50')
    .action(async (o: { session?: string; state?: string; limit: string }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listTasks({
        limit: limitOption(o.limit),
        ...(o.session ? { session: o.session } : {}),
        ...(o.state ? { state: o.state as Task['state'] } : {}),
      });
      print(out, r.items, () => table(r.items, taskCols));
    });
  tasks
    .command('get <id>')
    .alias('show')
    .description('Show a task')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.getTask(id);
      print(out, t, () => table([t], taskCols, { full: true }));
    });
  tasks
    .command('cancel <id>')
    .description('Cancel a task (kills its whole process group)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const t = await api.cancelTask(id);
      print(
        out,
        t,
        () => `task ${t.id} ${t.state}${t.state === 'running' || t.state === 'assigned' ? ' (cancel requested)' : ''}`,
      );
    });
  tasks
    .command('logs <id>')
    .description("Print a task's output")
    .option('-f, --follow', 'keep streaming until the task ends')
    .action(async (id: string, o: { follow?: boolean }, cmd: Command) => {
      const { api, out } = ctx(cmd);
      if (o.follow) await followLogs(api, { taskId: id }, { raw: out === 'json' });
      else await pageLogs(api, { taskId: id }, out === 'json');
    });
}
