/**
 * @module Who may call what: the roles an API token can have and, for every operation of the REST
 * API (src/api/operations.ts), the least role that may call it and whether a token limited to one
 * project may. The server checks every request against this one table before the route runs
 * (src/server/auth.ts); docs/security.md shows it (test/auth.roles.e2e.test.ts keeps the page, the
 * table and the server's routes in step, and calls every route with every role). An operation
 * missing here is refused to every token.
 *
 * Roles, each including the ones below it:
 * - `viewer`: reads everything of its org (sessions, tasks, logs, runners, pools, agents, costs).
 * - `member`: runs work: creates, cancels, suspends and resumes sessions and tasks.
 * - `operator`: runs the fleet: pools, profiles, agent cards, runners and their registration tokens.
 * - `admin`: API tokens, the audit log, orgs, projects and members.
 *
 * Scope: a token may be limited to one project. Such a token may call the operations marked
 * `project` (on the resources of its project where they have one); `org` operations change or read
 * what the whole org shares and need a token for the whole org.
 */

export const ROLES = ['viewer', 'member', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** `public`: no token needed. */
export type Access = { role: Role | 'public'; scope: 'project' | 'org' };

/** Does a token with role `have` reach `need`? */
export function roleAllows(have: string, need: Role | 'public'): boolean {
  if (need === 'public') return true;
  const h = ROLES.indexOf(have as Role);
  return h >= 0 && h >= ROLES.indexOf(need);
}

const a = (role: Access['role'], scope: Access['scope'] = 'project'): Access => ({ role, scope });

/** Every operation's access, by operationId (the order of the operations table). */
export const ROUTE_ACCESS: Record<string, Access> = {
  health: a('public'),
  openapi: a('public'),
  liveness: a('public'),
  readiness: a('public'),
  metrics: a('operator', 'org'),
  streamEvents: a('viewer'),
  createDashboardLink: a('viewer'),
  dashboardLogin: a('public'),

  createSession: a('member'),
  listSessions: a('viewer'),
  getSession: a('viewer'),
  cancelSession: a('member'),
  explainSession: a('viewer'),
  listSessionEvents: a('viewer'),
  getSessionLogs: a('viewer'),
  suspendSession: a('member'),
  resumeSession: a('member'),

  createTask: a('member'),
  listTasks: a('viewer'),
  getTask: a('viewer'),
  cancelTask: a('member'),
  getTaskLogs: a('viewer'),
  watchTask: a('viewer'),

  listRunners: a('viewer'),
  getRunner: a('viewer'),
  drainRunner: a('operator', 'org'),
  createRegistrationToken: a('operator', 'org'),
  listRegistrationTokens: a('operator', 'org'),
  revokeRegistrationToken: a('operator', 'org'),
  rotateRegistrationToken: a('operator', 'org'),
  registerExternalRunner: a('operator', 'org'),

  listPools: a('viewer'),
  getPool: a('viewer'),
  createPool: a('operator', 'org'),
  updatePool: a('operator', 'org'),
  deletePool: a('operator', 'org'),

  listProfiles: a('viewer'),
  getProfile: a('viewer'),
  putProfile: a('operator', 'org'),
  deleteProfile: a('operator', 'org'),

  listAgents: a('viewer'),
  getAgent: a('viewer'),
  createAgent: a('operator', 'org'),
  updateAgent: a('operator', 'org'),
  deleteAgent: a('operator', 'org'),
  // A preview: renders a card's command line, changes nothing.
  renderAgent: a('viewer'),

  // A session's workspace: the same as its tasks (exec and push change it, diff reads it).
  execSession: a('member'),
  openSessionTerminal: a('member'),
  diffSession: a('viewer'),
  pushSession: a('member'),
  // `mctl sessions cp`: copying out can carry what the agent left (keys too), so the same as exec.
  getSessionFiles: a('member'),
  putSessionFiles: a('member'),

  // Kits: user kits' install commands run on runners, so only operators write them.
  listKits: a('viewer'),
  getKit: a('viewer'),
  createKit: a('operator', 'org'),
  deleteKit: a('operator', 'org'),
  // Git credentials: hosts and kinds only, never a secret; only admins set them.
  listGitCredentials: a('operator', 'org'),
  putGitCredential: a('admin', 'org'),
  deleteGitCredential: a('admin', 'org'),

  listProviders: a('viewer'),
  listCosts: a('viewer', 'org'),

  whoami: a('viewer'),
  createApiToken: a('admin'),
  listApiTokens: a('admin'),
  revokeApiToken: a('admin'),
  rotateApiToken: a('admin'),
  listAudit: a('admin', 'org'),

  // Orgs (only the install's own org may create or delete others: src/server/routes/orgs.ts), projects, members.
  listOrgs: a('viewer', 'org'),
  getOrg: a('viewer', 'org'),
  createOrg: a('admin', 'org'),
  deleteOrg: a('admin', 'org'),
  listProjects: a('viewer', 'org'),
  createProject: a('admin', 'org'),
  deleteProject: a('admin', 'org'),
  listMembers: a('viewer', 'org'),
  addMember: a('admin', 'org'),
  removeMember: a('admin', 'org'),

  // Workspaces (docs/workspaces.md): a session's snapshot, fork and progress in its project; the
  // snapshot listings, downloads and diffs and the collection need a token for the whole org.
  snapshotSession: a('member'),
  forkSession: a('member'),
  getSessionWorkspace: a('viewer'),
  listSnapshots: a('viewer'),
  getSnapshot: a('viewer', 'org'),
  downloadSnapshot: a('viewer', 'org'),
  diffSnapshots: a('viewer', 'org'),
  gcWorkspaces: a('operator', 'org'),

  // Provider credentials (docs/providers/credentials.md): where each comes from, never a value;
  // only admins set or delete them, as for git credentials.
  listProviderCredentials: a('operator', 'org'),
  putProviderCredential: a('admin', 'org'),
  deleteProviderCredential: a('admin', 'org'),
};

/** The access of an operation; undefined for one missing from the table (refused to every token). */
export function accessOf(operationId: string): Access | undefined {
  return Object.hasOwn(ROUTE_ACCESS, operationId) ? ROUTE_ACCESS[operationId] : undefined;
}
