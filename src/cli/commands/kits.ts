/**
 * @module `mctl kits list|show|create|delete` and `mctl git-credentials set|list|delete`, plus the
 * repository and kit options `mctl sessions create` takes (`--repo`, `--ref`, `--depth`,
 * `--full-history`, `--kit`). A credential's secret is read from stdin or a file, never from the
 * command line (where `ps` and shell history would show it).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { CreateSessionInput, KitInput } from '../../client/index.js';
import { CliError } from '../client.js';
import type { Ctx } from '../context.js';
import { print, table } from '../output.js';

type Obj = Record<string, unknown>;
const collect = (v: string, acc: string[]) => [...acc, v];

/** Adds the repository and kit options to `sessions create`. */
export function repoOptions(cmd: Command): Command {
  return cmd
    .option('--repo <url>', 'clone this repository into the workspace before the first task (https, ssh, file)')
    .option('--ref <ref>', 'with --repo: branch, tag or commit to check out (default: the remote default branch)')
    .option('--depth <n>', 'with --repo: shallow clone of this many commits')
    .option('--full-history', 'with --repo: every branch and tag (routes to pools providing full-history-clone)')
    .option('--kit <id@version>', 'add a kit to the agent card’s (repeatable)', collect, [] as string[]);
}

/** The body's `repo` and `kits` from `repoOptions`. */
export function applyRepoOptions(o: Obj, body: CreateSessionInput): void {
  const kits = o.kit as string[] | undefined;
  if (kits?.length) body.kits = kits;
  if (o.repo === undefined) {
    for (const f of ['ref', 'depth', 'fullHistory'] as const)
      if (o[f] !== undefined) throw new CliError(`--${f === 'fullHistory' ? 'full-history' : f} needs --repo`);
    return;
  }
  const repo: NonNullable<CreateSessionInput['repo']> = { url: String(o.repo) };
  if (o.ref !== undefined) repo.ref = String(o.ref);
  if (o.depth !== undefined) {
    const n = Number(o.depth);
    if (!Number.isInteger(n) || n < 1)
      throw new CliError(`--depth ${JSON.stringify(o.depth)}: expected a positive integer`);
    repo.depth = n;
  }
  if (o.fullHistory) {
    if (repo.depth) throw new CliError('--depth and --full-history exclude each other');
    repo.fullHistory = true;
  }
  body.repo = repo;
}

const lines = (v: unknown) => (Array.isArray(v) ? (v as string[]) : []);

function showKit(k: Obj): string {
  const env = Object.entries((k.env as Record<string, string>) ?? {});
  return [
    `kit:         ${k.id}@${k.version} (${k.source})`,
    `description: ${k.description || '-'}`,
    `os:          ${lines(k.os).join(', ')}`,
    `detect:      ${k.detect ?? '-'}`,
    `install:     ${lines(k.installCommands).join('\n             ') || '-'}`,
    `postAcquire: ${lines(k.postAcquire).join('\n             ') || '-'}`,
    `preRelease:  ${lines(k.preRelease).join('\n             ') || '-'}`,
    `env:         ${env.map(([n, v]) => `${n}=${v}`).join(' ') || '-'}`,
  ].join('\n');
}

export function kitCommands(program: Command, ctx: Ctx): void {
  const kits = program.command('kits').alias('kit').description('Toolchain kits');
  kits
    .command('list')
    .description('List kits (the org’s, the config file’s and the built-in ones)')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listKits();
      print(out, r.items, () =>
        table(r.items, [
          { header: 'KIT', get: (k) => `${k.id}@${k.version}` },
          { header: 'SOURCE', get: (k) => k.source },
          { header: 'OS', get: (k) => k.os.join(',') },
          { header: 'DESCRIPTION', get: (k) => k.description },
        ]),
      );
    });
  kits
    .command('show <ref>')
    .description('Show a kit (id or id@version)')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const k = await api.getKit(ref);
      print(out, k, () => showKit(k));
    });
  kits
    .command('create <ref>')
    .description('Create a kit id@version')
    .option('--description <text>', 'what it is')
    .option('--os <list>', 'OSes it installs on (comma-separated; default linux,darwin)')
    .option('--detect <cmd>', 'exits 0 when the toolchain is already there (the install is skipped)')
    .option('--install <cmd>', 'install command (repeatable, in order)', collect, [] as string[])
    .option('--post-acquire <cmd>', 'run in the workspace after the clone (repeatable)', collect, [] as string[])
    .option('--pre-release <cmd>', 'run best-effort at teardown (repeatable)', collect, [] as string[])
    .option('--env <k=v>', 'environment, $PATH expands (repeatable)', collect, [] as string[])
    .option('-f, --file <path>', 'the kit as JSON (fields as in the API)')
    .action(async (ref: string, o: Obj, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const at = ref.indexOf('@');
      if (at <= 0) throw new CliError(`kit ${JSON.stringify(ref)}: name it as id@version`);
      let body: KitInput = { id: ref.slice(0, at), version: ref.slice(at + 1) };
      if (o.file) {
        try {
          body = { ...(JSON.parse(readFileSync(String(o.file), 'utf8')) as KitInput), ...body };
        } catch (e: unknown) {
          throw new CliError(`--file ${String(o.file)}: ${(e as Error).message}`);
        }
      }
      if (o.description !== undefined) body.description = String(o.description);
      if (o.os !== undefined)
        body.os = String(o.os)
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      if (o.detect !== undefined) body.detect = String(o.detect);
      if (lines(o.install).length) body.installCommands = lines(o.install);
      if (lines(o.postAcquire).length) body.postAcquire = lines(o.postAcquire);
      if (lines(o.preRelease).length) body.preRelease = lines(o.preRelease);
      for (const kv of lines(o.env)) {
        const i = kv.indexOf('=');
        if (i <= 0) throw new CliError(`--env ${JSON.stringify(kv)}: expected NAME=value`);
        body.env = { ...(body.env ?? {}), [kv.slice(0, i)]: kv.slice(i + 1) };
      }
      const k = await api.createKit(body);
      print(out, k, () => `kit ${k.id}@${k.version} created`);
    });
  kits
    .command('delete <ref>')
    .description('Delete a kit (id@version; id alone: every version)')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.deleteKit(ref);
      print(out, r, () => `kit ${ref} deleted`);
    });
}

export function gitCredentialCommands(program: Command, ctx: Ctx): void {
  const creds = program
    .command('git-credentials')
    .alias('git-credential')
    .description('Credentials git uses to clone, per host');
  creds
    .command('set <host>')
    .description('Set the credential for a host: a token (https) or an ssh key; read from stdin or a file')
    .option('--token-stdin', 'read a token from stdin')
    .option('--username <name>', 'with a token: the user name git gives (default x-access-token)')
    .option('--ssh-key-file <path>', 'an ssh private key file')
    .action(async (host: string, o: Obj, cmd: Command) => {
      const { api, out } = ctx(cmd);
      let r: Awaited<ReturnType<typeof api.putGitCredential>>;
      if (o.tokenStdin && !o.sshKeyFile) {
        const secret = readFileSync(0, 'utf8').trim();
        if (!secret) throw new CliError('--token-stdin: stdin was empty');
        r = await api.putGitCredential(host, {
          kind: 'token',
          secret,
          ...(o.username ? { username: String(o.username) } : {}),
        });
      } else if (o.sshKeyFile && !o.tokenStdin) {
        let secret: string;
        try {
          secret = readFileSync(String(o.sshKeyFile), 'utf8');
        } catch (e: unknown) {
          throw new CliError(`--ssh-key-file: ${(e as Error).message}`);
        }
        r = await api.putGitCredential(host, { kind: 'ssh-key', secret });
      } else throw new CliError('give exactly one of --token-stdin or --ssh-key-file');
      print(out, r, () => `git credential for ${r.host} set (${r.kind})`);
    });
  creds
    .command('list')
    .description('List git credentials (hosts and kinds; secrets are never shown)')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listGitCredentials();
      print(out, r.items, () =>
        table(r.items, [
          { header: 'HOST', get: (c) => c.host },
          { header: 'KIND', get: (c) => c.kind },
          { header: 'USERNAME', get: (c) => c.username ?? '' },
        ]),
      );
    });
  creds
    .command('delete <host>')
    .description('Delete the credential for a host')
    .action(async (host: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.deleteGitCredential(host);
      print(out, r, () => `git credential for ${r.deleted} deleted`);
    });
}
