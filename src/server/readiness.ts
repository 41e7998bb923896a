/**
 * @module Readiness for `GET /readyz`: the store answers a read, every migration this build knows
 * is applied, and the runner gateway is listening. Each check is one cheap call; the migration list
 * is read once and cached after it first comes back complete (migrations only run at start).
 */
import { Migrator, sql } from 'kysely';
import { toError } from '../core/errors.js';
import type { Store } from '../store/index.js';
import { migrationProvider } from '../store/migrations/index.js';

export interface ReadinessCheck {
  ok: boolean;
  detail: string;
}

export interface Readiness {
  ok: boolean;
  checks: { store: ReadinessCheck; migrations: ReadinessCheck; gateway: ReadinessCheck };
}

/** A readiness probe over the store and the gateway (`gatewayListening` says whether it accepts connections). */
export function readinessProbe(store: Store, gatewayListening: () => boolean): () => Promise<Readiness> {
  let migrated = false;
  return async () => {
    const storeCheck = await sql`select 1 as one`
      .execute(store.db)
      .then(() => ({ ok: true, detail: `${store.dialect} answers` }))
      .catch((e: unknown) => ({ ok: false, detail: `${store.dialect} unreachable: ${toError(e).message}` }));
    let migrations: ReadinessCheck = { ok: true, detail: 'all applied' };
    if (!migrated) {
      migrations = await new Migrator({ db: store.db, provider: migrationProvider({ dialect: store.dialect }) })
        .getMigrations()
        .then((all) => {
          const pending = all.filter((m) => m.executedAt === undefined).map((m) => m.name);
          migrated = pending.length === 0;
          return migrated
            ? { ok: true, detail: 'all applied' }
            : { ok: false, detail: `not applied: ${pending.join(', ')}` };
        })
        .catch((e: unknown) => ({ ok: false, detail: `cannot read migrations: ${toError(e).message}` }));
    }
    const listening = gatewayListening();
    const gateway = { ok: listening, detail: listening ? 'listening' : 'not listening' };
    return {
      ok: storeCheck.ok && migrations.ok && gateway.ok,
      checks: { store: storeCheck, migrations, gateway },
    };
  };
}
