/**
 * The route × role table, exhaustively: every route the server registered (read from its OpenAPI
 * document, which the route helper writes for every Fastify route it adds) is in the role table
 * (src/api/roles.ts) and in the operations table, and is called with a token of every role, a
 * token limited to a project and no token: a role below the table's is refused with 403 (a problem
 * naming the role needed), every other call gets past the door (whatever the route then answers:
 * 400 for no body, 404 for an id that does not exist). docs/security.md shows the same table
 * (`UPDATE_DOCS=1 npx vitest run test/auth.roles.e2e.test.ts` rewrites it).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPERATIONS } from '../src/api/operations.js';
import { ROLES, ROUTE_ACCESS, roleAllows } from '../src/api/roles.js';
import { ROOT, type ServerHandle, startServer } from './harness.js';
import { expectProblem } from './problems.support.js';

interface Route {
  id: string;
  method: string;
  path: string;
}

/** The role table as docs/security.md shows it, in the operations table's order. */
function renderRoleTable(): string {
  const rows = Object.entries(OPERATIONS).map(([id, op]) => {
    const a = ROUTE_ACCESS[id];
    const role = !a ? 'refused (not in the table)' : a.role === 'public' ? 'public (no token)' : a.role;
    const scope = !a || a.role === 'public' ? '-' : a.scope === 'project' ? 'yes' : 'no (whole org only)';
    return `| \`${id}\` | ${op.method} | \`${op.path}\` | ${role} | ${scope} |`;
  });
  return ['| operation | method | path | least role | project-scoped token |', '|---|---|---|---|---|', ...rows].join(
    '\n',
  );
}

const BEGIN = '<!-- roles-table:begin (generated from src/api/roles.ts by test/auth.roles.e2e.test.ts) -->';
const END = '<!-- roles-table:end -->';

describe('route × role table', () => {
  let srv: ServerHandle;
  const tokens: Record<string, string> = {};
  let routes: Route[] = [];

  beforeAll(async () => {
    srv = await startServer();
    for (const role of ROLES) {
      const r = await srv.api<{ token: string }>('POST', '/v1/tokens', { role, name: `t-${role}` });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      tokens[role] = r.body.token;
    }
    const p = await srv.api<{ token: string }>('POST', '/v1/tokens', { role: 'admin', project: 'default', name: 'p' });
    expect(p.status, JSON.stringify(p.body)).toBe(201);
    tokens.project = p.body.token;
    const doc = await srv.api<{ paths: Record<string, Record<string, { operationId: string }>> }>(
      'GET',
      '/v1/openapi.json',
    );
    routes = Object.entries(doc.body.paths).flatMap(([path, ops]) =>
      Object.entries(ops).map(([m, o]) => ({ id: o.operationId, method: m.toUpperCase(), path })),
    );
  }, 60_000);
  afterAll(async () => {
    await srv?.destroy();
  });

  it('has every registered route in the role table and the operations table, and nothing else', () => {
    const registered = routes.map((r) => r.id).sort();
    expect(registered.length).toBeGreaterThan(40);
    expect(Object.keys(ROUTE_ACCESS).sort()).toEqual(registered);
    expect(Object.keys(OPERATIONS).sort()).toEqual(registered);
  });

  it('refuses every role below the table’s with 403 and lets the others past, on every route', async () => {
    const calls: { route: Route; who: string; status: number }[] = [];
    for (const route of routes) {
      const url = route.path.replace(/\{[^}]+\}/g, 'nonexistent-id');
      const access = ROUTE_ACCESS[route.id]!;
      for (const who of [...ROLES, 'project', 'none'] as const) {
        const token = who === 'none' ? null : tokens[who]!;
        const r = await srv.api(route.method, url, undefined, token);
        calls.push({ route, who, status: r.status });
        const role = who === 'project' ? 'admin' : who;
        const allowed =
          access.role === 'public' ||
          (who !== 'none' && roleAllows(role, access.role) && !(who === 'project' && access.scope === 'org'));
        const what = `${route.method} ${route.path} as ${who}`;
        if (allowed) expect([401, 403], `${what}: ${JSON.stringify(r.body)}`).not.toContain(r.status);
        else if (who === 'none') expectProblem(r, 401, /missing bearer token/);
        else if (who === 'project') expectProblem(r, 403, /limited to project .* needs a token for the whole org/);
        else
          expectProblem(r, 403, new RegExp(`^role ${who} may not call ${route.id}: it needs ${access.role} or above`));
      }
    }
    // The walk really covered every route with every caller.
    expect(calls.length).toBe(routes.length * (ROLES.length + 2));
  }, 120_000);

  it('refuses a route the table does not know to every token (deny by default)', async () => {
    // No such route: a valid token gets the 404, no token the 401 (the door comes first).
    expect((await srv.api('GET', '/v1/nothing-here', undefined, tokens.viewer)).status).toBe(404);
    expect((await srv.api('GET', '/v1/nothing-here', undefined, null)).status).toBe(401);
  });

  it('is the table docs/security.md shows', () => {
    const file = join(ROOT, 'docs', 'security.md');
    const text = readFileSync(file, 'utf8');
    const a = text.indexOf(BEGIN);
    const b = text.indexOf(END);
    expect(a, `docs/security.md has the markers ${BEGIN} … ${END}`).toBeGreaterThan(-1);
    const current = text.slice(a + BEGIN.length, b).trim();
    const expected = renderRoleTable();
    if (process.env.UPDATE_DOCS === '1' && current !== expected)
      writeFileSync(file, `${text.slice(0, a + BEGIN.length)}\n${expected}\n${text.slice(b)}`);
    else expect(current, 'run UPDATE_DOCS=1 npx vitest run test/auth.roles.e2e.test.ts').toBe(expected);
  });
});
