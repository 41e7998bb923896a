/**
 * @module mctl's pool commands' shared parts: the options `pools create` and `pools update` take,
 * the request body they build, and the pool table's columns.
 */
import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { parseLabels } from '../../config/agent.js';
import { CliError } from '../client.js';
import type { Column } from '../output.js';

type Obj = Record<string, unknown> & { id: string };

/** A JSON value given inline or as a file path. */
export function readJsonOrFile(v: string, what: string): unknown {
  const text =
    v.trim().startsWith('{') || v.trim().startsWith('[') || v.trim() === 'null' ? v : readFileSync(v, 'utf8');
  try {
    return JSON.parse(text);
  } catch (e: unknown) {
    throw new CliError(`${what}: not valid JSON: ${(e as Error).message}`);
  }
}

function boolOption(v: string, flag: string): boolean | null {
  if (v === 'true') return true;
  if (v === 'false') return false;
  if (v === 'default') return null;
  throw new CliError(`${flag} ${JSON.stringify(v)}: expected true, false or default`);
}

export function poolBody(o: Record<string, unknown>): Record<string, unknown> {
  const b: Record<string, unknown> = {};
  if (o.provider !== undefined) b.provider = o.provider;
  if (o.mode !== undefined) b.mode = o.mode;
  if (o.project !== undefined) b.project = o.project === 'none' ? null : o.project;
  if (o.priority !== undefined) b.priority = Number(o.priority);
  if (o.labels !== undefined) b.labels = parseLabels(String(o.labels));
  if (o.runtimeProvides !== undefined)
    b.runtimeProvides = readJsonOrFile(String(o.runtimeProvides), '--runtime-provides');
  if (o.active !== undefined) b.active = o.active === true || o.active === 'true';
  if (o.minRunners !== undefined) b.minRunners = Number(o.minRunners);
  if (o.maxRunners !== undefined) b.maxRunners = Number(o.maxRunners);
  if (o.idleTimeout !== undefined) b.idleTimeout = o.idleTimeout;
  if (o.selector !== undefined) b.selector = o.selector;
  if (o.lifecycle !== undefined) b.lifecycle = o.lifecycle;
  if (o.sandboxConfig !== undefined) b.sandboxConfig = readJsonOrFile(String(o.sandboxConfig), '--sandbox-config');
  const sc: Record<string, unknown> = {};
  if (o.suspendStrategy !== undefined) sc.strategy = o.suspendStrategy;
  if (o.suspendFallback !== undefined) sc.fallback = o.suspendFallback;
  if (o.suspendMin !== undefined) sc.minDuration = o.suspendMin;
  if (o.suspendMax !== undefined) sc.maxDuration = o.suspendMax;
  if (o.preemptIdle !== undefined) sc.preemptIdle = boolOption(String(o.preemptIdle), '--preempt-idle');
  if (Object.keys(sc).length) b.suspendConfig = sc;
  return b;
}

export function poolOptions(cmd: Command): Command {
  return cmd
    .option(
      '--provider <id>',
      'provider (local, docker, kubernetes, e2b, daytona, modal, vercel, firecracker, pool, external)',
    )
    .addOption(new Option('--mode <mode>', 'managed | pool | external').choices(['managed', 'pool', 'external']))
    .option('--project <name>', "only this project's sessions use the pool ('none': every project)")
    .option('--priority <n>', 'higher wins')
    .option('--labels <k=v,...>', 'labels selectors match')
    .option('--runtime-provides <file|json>', 'substrate override {"runtimeKinds":[...],"requirementKinds":[...]}')
    .option('--active <bool>', 'true | false')
    .option('--min-runners <n>', 'warm runners to keep (managed) / expected (pool)')
    .option('--max-runners <n>', 'most runners at once')
    .option('--idle-timeout <d>', 'reap idle runners after this long (e.g. 5m)')
    .option('--selector <s>', 'runners joining must match (e.g. "os=darwin,arch=arm64")')
    .addOption(new Option('--lifecycle <l>', 'per-session | per-task').choices(['per-session', 'per-task']))
    .option('--sandbox-config <file|json>', "provider config for this pool's sandboxes")
    .option('--suspend-strategy <s>', 'pause | snapshot | terminate_preserve_storage | release_to_pool | terminate')
    .option('--suspend-fallback <s>', 'used when the strategy is not supported')
    .option('--suspend-min <d>', 'min_duration')
    .option('--suspend-max <d>', 'max_duration')
    .option(
      '--preempt-idle <bool>',
      "true | false | default: suspend an idle session's runner when a waiting session needs it (default: the server's sessions.preempt_idle)",
    );
}

export const poolCols: Column<Obj>[] = [
  { header: 'NAME', get: (p) => p.name },
  { header: 'MODE', get: (p) => p.mode },
  { header: 'PROVIDER', get: (p) => p.providerId },
  { header: 'PRIORITY', get: (p) => p.priority },
  { header: 'ACTIVE', get: (p) => p.active },
  {
    header: 'RUNNERS',
    get: (p) => {
      const r = p.runners as { live: number; idle: number; bound?: number } | undefined;
      return r ? `${r.live} (${r.idle} idle${r.bound ? `, ${r.bound} bound to idle sessions` : ''})` : '-';
    },
  },
  { header: 'MIN/MAX', get: (p) => `${p.minRunners}/${p.maxRunners ?? '-'}` },
  { header: 'LABELS', get: (p) => p.labels },
  { header: 'HEALTH', get: (p) => p.health },
];
