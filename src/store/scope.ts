/**
 * @module The org scope every tenant-owned read and write takes. An `OrgScope` is made only by
 * `orgScope` (from the caller's principal, or the default org for config seeding); repository
 * methods that read or change an org's rows take one as a required argument, so a route cannot
 * forget the caller's org. Methods without a scope are the system's own (the assigner, the runner
 * gateway, the reconciler), which work across orgs by design.
 *
 * On PostgreSQL with row-level security on, every statement a scoped repository method runs is
 * tagged with its org (`inScope`): the connection it reserves sets `marionette.org_id` to that org,
 * and the tables' policies show it only that org's rows (see migration 006 and ./rls.ts).
 */
import { AsyncLocalStorage } from 'node:async_hooks';

declare const scopeBrand: unique symbol;

/** The org a call acts for. */
export interface OrgScope {
  readonly orgId: string;
  readonly [scopeBrand]: true;
}

/** The scope of `orgId` (the caller's principal's org, or the default org). */
export function orgScope(orgId: string): OrgScope {
  if (!orgId) throw new Error('orgScope: empty org id');
  return Object.freeze({ orgId }) as OrgScope;
}

const current = new AsyncLocalStorage<string>();

/** Runs `fn` with `scope` as the org its statements are tagged with (see the module note). */
export function inScope<T>(scope: OrgScope, fn: () => Promise<T>): Promise<T> {
  return current.run(scope.orgId, fn);
}

/** The org the running statement acts for: `*` (every org) outside any `inScope`. */
export function currentOrgSetting(): string {
  return current.getStore() ?? '*';
}
