/**
 * @module `mctl credentials set|list|delete`: the org's provider credentials (E2B, Daytona, Modal,
 * Vercel). A value is read from a named environment variable (`--from-env NAME`) or from stdin
 * (`--stdin`), never from the command line (where `ps` and shell history would show it), and no
 * command ever prints one. Which fields a provider takes comes from the server's answer, so the
 * CLI loads no provider code.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { CliError } from '../client.js';
import type { Ctx } from '../context.js';
import { ago, print, table } from '../output.js';

type Obj = Record<string, unknown>;
const collect = (v: string, acc: string[]) => [...acc, v];

/** A declared field as the server lists it. */
export interface DeclaredField {
  name: string;
  env: string;
  required: boolean;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The declared field a `NAME` (a field name or its environment variable) names, if any. */
function fieldNamed(declared: readonly DeclaredField[], name: string): DeclaredField | undefined {
  return declared.find((f) => f.name === name || f.env === name);
}

/**
 * The field values `--from-env` and `--stdin` give for `provider` (pure, for tests): `--from-env`
 * takes `VAR` (a declared variable, or any variable when the provider has one required field) or
 * `FIELD=VAR`; stdin is `NAME=VALUE` lines (a field name or its variable) or, for a provider with
 * one required field, the value alone. Errors name the option and the field, never a value.
 */
export function credentialValues(
  provider: string,
  declared: readonly DeclaredField[],
  fromEnv: readonly string[],
  stdin: string | null,
  env: Readonly<Record<string, string | undefined>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  const required = declared.filter((f) => f.required);
  const sole = required.length === 1 ? required[0] : undefined;
  const names = declared.map((f) => `${f.name} (${f.env})`).join(', ');
  for (const spec of fromEnv) {
    const eq = spec.indexOf('=');
    const variable = eq >= 0 ? spec.slice(eq + 1) : spec;
    let field: DeclaredField | undefined;
    if (eq >= 0) {
      field = fieldNamed(declared, spec.slice(0, eq));
      if (!field)
        throw new CliError(
          `--from-env ${spec}: provider ${provider} has no field ${JSON.stringify(spec.slice(0, eq))}`,
          `its fields: ${names}`,
        );
    } else field = declared.find((f) => f.env === spec) ?? sole;
    if (!field)
      throw new CliError(
        `--from-env ${spec}: provider ${provider} takes several fields; say which one this variable holds`,
        `use --from-env FIELD=${spec}; its fields: ${names}`,
      );
    if (!NAME.test(variable))
      throw new CliError(`--from-env ${spec}: ${JSON.stringify(variable)} is not a variable name`);
    const v = env[variable];
    if (!v) throw new CliError(`--from-env ${spec}: ${variable} is not set (or empty) in this environment`);
    out[field.name] = v;
  }
  if (stdin !== null) {
    const text = stdin.trim();
    if (!text)
      throw new CliError(
        '--stdin: stdin was empty',
        `e.g. printf %s "$KEY" | mctl credentials set ${provider} --stdin`,
      );
    const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
    const pairs = lines.map((l) => {
      const eq = l.indexOf('=');
      const f = eq > 0 ? fieldNamed(declared, l.slice(0, eq).trim()) : undefined;
      return f ? { f, value: l.slice(eq + 1).trim() } : null;
    });
    if (pairs.every((p) => p !== null)) {
      for (const p of pairs) if (p?.value) out[p.f.name] = p.value;
    } else if (sole && lines.length === 1) out[sole.name] = text;
    else
      throw new CliError(
        `--stdin: provider ${provider} takes several fields; give them as lines NAME=VALUE`,
        `NAME is a field or its variable: ${names}`,
      );
  }
  for (const f of required)
    if (!out[f.name])
      throw new CliError(
        `provider ${provider}: credential field ${f.name} is required and was not given`,
        `give it with --from-env ${f.env}, or as a line ${f.name}=VALUE on --stdin`,
      );
  return out;
}

export function credentialCommands(program: Command, ctx: Ctx): void {
  const creds = program
    .command('credentials')
    .alias('credential')
    .description('Provider credentials of the org (E2B, Daytona, Modal, Vercel); values are never shown');
  creds
    .command('set <provider>')
    .description('Set the credential for a provider, from environment variables or stdin (never from arguments)')
    .option(
      '--from-env <name>',
      'read a value from this environment variable (FIELD=NAME to say which field; repeatable)',
      collect,
      [] as string[],
    )
    .option('--stdin', 'read the value (or NAME=VALUE lines, one per field) from stdin')
    .action(async (provider: string, o: Obj, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const fromEnv = o.fromEnv as string[];
      if (!fromEnv.length && !o.stdin)
        throw new CliError('give --from-env NAME or --stdin', `e.g. mctl credentials set ${provider} --from-env NAME`);
      const all = (await api.listProviderCredentials()).items;
      const listed = all.find((c) => c.provider === provider);
      if (!listed) {
        const takes = all.map((c) => c.provider).join(', ');
        const known = (await api.listProviders()).items.some((p) => p.id === provider);
        throw new CliError(
          known ? `provider ${provider} takes no credential` : `unknown provider ${JSON.stringify(provider)}`,
          `providers that take a credential: ${takes}`,
        );
      }
      const stdin = o.stdin ? readFileSync(0, 'utf8') : null;
      const fields = credentialValues(provider, listed.declared, fromEnv, stdin, process.env);
      const r = await api.putProviderCredential(provider, { fields });
      print(out, r, () => `credential for ${r.provider} set (fields: ${r.fields.join(', ')})`);
    });
  creds
    .command('list')
    .description('List provider credentials: where each comes from and its field names (never values)')
    .action(async (_o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.listProviderCredentials();
      print(out, r.items, () =>
        table(r.items, [
          { header: 'PROVIDER', get: (c) => c.provider },
          { header: 'SOURCE', get: (c) => c.source },
          { header: 'FIELDS', get: (c) => c.fields.join(',') || '-' },
          { header: 'ENV FALLBACK', get: (c) => c.declared.map((f) => f.env).join(',') },
          { header: 'UPDATED', get: (c) => (c.updatedAt ? ago(c.updatedAt) : '-') },
        ]),
      );
    });
  creds
    .command('delete <provider>')
    .description('Delete the org’s stored credential for a provider (the server environment’s fallback stays)')
    .action(async (provider: string, _o: unknown, cmd: Command) => {
      const { api, out } = ctx(cmd);
      const r = await api.deleteProviderCredential(provider);
      print(out, r, () => `stored credential for ${r.deleted} deleted`);
    });
}
