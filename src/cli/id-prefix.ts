/**
 * @module Unique id prefixes, as docker and git take them: every mctl command that names a
 * session, task, runner or pool accepts the start of its id (with or without the type tag:
 * `ses_mhx2k1q0a8` or `mhx2k1q0a8`). The prefix is resolved through the API (the kind's listing:
 * the newest 1000 sessions or tasks, every runner, every pool); an ambiguous prefix is an error
 * listing the candidates, an unknown one says so. A whole id is passed on as it is (no listing),
 * and a pool's exact name too. The resolution runs in a `preAction` hook, before the command's own
 * action, so the commands themselves only ever see whole ids.
 */
import type { Command } from 'commander';
import type { MarionetteClient } from '../client/index.js';
import { CliError } from './client.js';
import { ctx } from './context.js';

export type IdKind = 'session' | 'task' | 'runner' | 'pool';

/** A whole id: a type tag, `_`, then 21 base-36 digits (src/core/ids.ts). */
const WHOLE_ID = /^[a-z]{1,8}_[0-9a-z]{21}$/;
/** How many candidates an ambiguity error names. */
const SHOWN = 10;
/** The listing a prefix is looked up in (the API's most per page). */
const LIMIT = 1000;

interface Candidate {
  id: string;
  /** What the user may know it by besides its id (a pool's name, a session's agent). */
  label: string;
}

async function candidates(api: MarionetteClient, kind: IdKind): Promise<Candidate[]> {
  switch (kind) {
    case 'session':
      return (await api.listSessions({ limit: LIMIT })).items.map((s) => ({
        id: s.id,
        label: `${s.agent} ${s.state}`,
      }));
    case 'task':
      return (await api.listTasks({ limit: LIMIT })).items.map((t) => ({
        id: t.id,
        label: `${t.sessionId} ${t.state}`,
      }));
    case 'runner':
      return (await api.listRunners({ limit: LIMIT, all: true })).items.map((r) => ({
        id: r.id,
        label: `${r.poolId} ${r.state}`,
      }));
    case 'pool':
      return (await api.listPools()).items.map((p) => ({ id: p.id, label: p.name }));
  }
}

/**
 * The whole id `given` names: `given` itself when it is a whole id (or a pool's exact name or id),
 * else the one id of `kind` it is a prefix of. Throws a {@link CliError} when none or several match.
 */
export async function resolveId(api: MarionetteClient, kind: IdKind, given: string): Promise<string> {
  if (WHOLE_ID.test(given)) return given;
  if (given === '') throw new CliError(`an empty ${kind} id`);
  const all = await candidates(api, kind);
  if (kind === 'pool' && all.some((c) => c.id === given || c.label === given)) return given;
  const exact = all.find((c) => c.id === given);
  if (exact) return exact.id;
  const matches = all.filter((c) => c.id.startsWith(given) || c.id.slice(c.id.indexOf('_') + 1).startsWith(given));
  if (matches.length === 1) return matches[0]!.id;
  if (matches.length === 0)
    throw new CliError(
      `no ${kind} has an id starting with ${JSON.stringify(given)}`,
      `list them with \`mctl ${kind === 'pool' ? 'pools' : `${kind}s`} list\`${kind === 'session' || kind === 'task' ? ' (a prefix is looked up among the newest 1000; a whole id always works)' : ''}`,
      404,
    );
  const shown = matches
    .slice(0, SHOWN)
    .map((c) => `  ${c.id}  ${c.label}`)
    .join('\n');
  const more = matches.length > SHOWN ? `\n  ... and ${matches.length - SHOWN} more` : '';
  throw new CliError(
    `${kind} id prefix ${JSON.stringify(given)} is ambiguous: ${matches.length} match\n${shown}${more}`,
    'give more of the id',
  );
}

/** Which argument (by name) or option of which command names what. Keys: `noun verb`. */
const ARGS: Record<string, { arg?: IdKind; options?: Record<string, IdKind> }> = {
  'sessions get': { arg: 'session' },
  'sessions cancel': { arg: 'session' },
  'sessions logs': { arg: 'session' },
  'sessions explain': { arg: 'session' },
  'sessions suspend': { arg: 'session' },
  'sessions resume': { arg: 'session' },
  'sessions exec': { arg: 'session' },
  'sessions diff': { arg: 'session' },
  'sessions push': { arg: 'session' },
  'sessions events': { arg: 'session' },
  'sessions snapshot': { arg: 'session' },
  'sessions fork': { arg: 'session' },
  'tasks get': { arg: 'task' },
  'tasks cancel': { arg: 'task' },
  'tasks logs': { arg: 'task' },
  'tasks create': { options: { session: 'session' } },
  'tasks list': { options: { session: 'session' } },
  'runners get': { arg: 'runner' },
  'runners drain': { arg: 'runner' },
  'pools show': { arg: 'pool' },
  'pools update': { arg: 'pool' },
  'pools delete': { arg: 'pool' },
  'costs list': { options: { session: 'session' } },
  'workspaces list': { options: { session: 'session' } },
};

/** `noun verb` of a command (its parent's name and its own). */
function pathOf(cmd: Command): string {
  return `${cmd.parent?.name() ?? ''} ${cmd.name()}`;
}

/** Replaces id prefixes in the arguments and options of the command about to run with whole ids. */
export async function resolveIdsHook(_program: Command, actionCommand: Command): Promise<void> {
  const rule = ARGS[pathOf(actionCommand)];
  if (!rule) return;
  const needs =
    (rule.arg && typeof actionCommand.processedArgs[0] === 'string') ||
    Object.keys(rule.options ?? {}).some((o) => typeof actionCommand.getOptionValue(o) === 'string');
  if (!needs) return;
  const { api } = ctx(actionCommand);
  if (rule.arg && typeof actionCommand.processedArgs[0] === 'string')
    actionCommand.processedArgs[0] = await resolveId(api, rule.arg, actionCommand.processedArgs[0]);
  for (const [name, kind] of Object.entries(rule.options ?? {})) {
    const v = actionCommand.getOptionValue(name);
    if (typeof v === 'string') actionCommand.setOptionValue(name, await resolveId(api, kind, v));
  }
}
