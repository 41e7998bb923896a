/**
 * @module The stand-in's API half: an HTTP server on 127.0.0.1 (port 0) that speaks the subset
 * of the Kubernetes REST API the provider uses, over TLS (a self-signed certificate the kubeconfig trusts), with its documented shapes: namespaces;
 * namespaced pods, events, secrets, resourcequotas, persistentvolumeclaims (core/v1), jobs (batch/v1) and networkpolicies
 * (networking.k8s.io/v1) with create, get, list (labelSelector, fieldSelector), delete,
 * deletecollection and watch (newline-delimited `{type, object}`, from a resourceVersion or with
 * the current objects first); pod logs. A bearer token is required. Objects are checked against
 * the client library's models, and a field not in the model is refused (strict field validation).
 * Never shipped: test support only.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { makeSelfSigned } from '../../src/server/tls-selfsigned.js';
import { validateKubeObject } from '../kube-models.js';

export type KObj = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    deletionTimestamp?: string;
    generateName?: string;
    labels?: Record<string, string>;
    ownerReferences?: Array<{ kind: string; name: string; uid: string; apiVersion: string; controller?: boolean }>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
};

export interface Resource {
  plural: string;
  kind: string;
  apiVersion: string;
  /** URL prefix of its group (`/api/v1`, `/apis/batch/v1`). */
  prefix: string;
  namespaced: boolean;
}

export const RESOURCES: Resource[] = [
  { plural: 'namespaces', kind: 'Namespace', apiVersion: 'v1', prefix: '/api/v1', namespaced: false },
  { plural: 'pods', kind: 'Pod', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  { plural: 'events', kind: 'Event', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  { plural: 'secrets', kind: 'Secret', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  { plural: 'resourcequotas', kind: 'ResourceQuota', apiVersion: 'v1', prefix: '/api/v1', namespaced: true },
  {
    plural: 'persistentvolumeclaims',
    kind: 'PersistentVolumeClaim',
    apiVersion: 'v1',
    prefix: '/api/v1',
    namespaced: true,
  },
  { plural: 'jobs', kind: 'Job', apiVersion: 'batch/v1', prefix: '/apis/batch/v1', namespaced: true },
  {
    plural: 'networkpolicies',
    kind: 'NetworkPolicy',
    apiVersion: 'networking.k8s.io/v1',
    prefix: '/apis/networking.k8s.io/v1',
    namespaced: true,
  },
];

/** A refusal with a Kubernetes Status. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** Whether `labels` match a label selector (`a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated). */
export function matchesLabels(selector: string | null, labels: Record<string, string> = {}): boolean {
  if (!selector) return true;
  return selector
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .every((term) => {
      const ne = /^([^!=]+)!=(.*)$/.exec(term);
      if (ne) return labels[ne[1]!.trim()] !== ne[2]!.trim();
      const eq = /^([^!=]+)==?(.*)$/.exec(term);
      if (eq) return labels[eq[1]!.trim()] === eq[2]!.trim();
      if (term.startsWith('!')) return !(term.slice(1) in labels);
      return term in labels;
    });
}

function fieldValue(o: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], o);
}

/** Whether an object matches a field selector (`a.b=c`, `a.b!=c`, comma-separated). */
export function matchesFields(selector: string | null, o: Record<string, unknown>): boolean {
  if (!selector) return true;
  return selector.split(',').every((term) => {
    const m = /^([^!=]+)(!=|==|=)(.*)$/.exec(term.trim());
    if (!m) throw new ApiError(400, 'BadRequest', `invalid field selector: ${term}`);
    const v = String(fieldValue(o, m[1]!) ?? '');
    return m[2] === '!=' ? v !== m[3] : v === m[3];
  });
}

interface Watcher {
  res: ServerResponse;
  resource: Resource;
  namespace: string | null;
  labels: string | null;
  fields: string | null;
}

/** What the stand-in's controllers hear about API writes. */
export interface ApiHooks {
  /** After an object was created. */
  created?(o: KObj): void;
  /**
   * Instead of removing at once: the controller removes the object itself (e.g. a pod once its
   * container is gone). Return false to have the store remove it now.
   */
  deleting?(o: KObj, opts: { propagationPolicy: string; gracePeriodSeconds: number | null }): boolean;
  /** Reads a pod's log. */
  podLog?(o: KObj): Promise<string>;
}

/** The object store with resourceVersions and watches, and the HTTP server in front of it. */
export class KubeApiServer {
  private readonly objects = new Map<string, KObj>();
  private rv = 0;
  private readonly history: Array<{ rv: number; type: string; object: KObj; resource: Resource }> = [];
  private readonly watchers = new Set<Watcher>();
  private server: Server | undefined;
  url = '';
  hooks: ApiHooks = {};
  /** The server's certificate (PEM), self-signed for 127.0.0.1: the kubeconfig's certificate authority. */
  readonly cert: string;
  private readonly tlsKey: string;

  constructor(readonly token: string) {
    const tls = makeSelfSigned(['127.0.0.1'], 2);
    this.cert = tls.cert;
    this.tlsKey = tls.key;
  }

  private key(r: Resource, ns: string | null | undefined, name: string) {
    return `${r.plural}/${ns ?? ''}/${name}`;
  }

  resource(kind: string): Resource {
    const r = RESOURCES.find((x) => x.kind === kind || x.plural === kind);
    if (!r) throw new Error(`stand-in: no resource ${kind}`);
    return r;
  }

  get(kind: string, ns: string | null, name: string): KObj | undefined {
    const r = this.resource(kind);
    return this.objects.get(this.key(r, r.namespaced ? ns : null, name));
  }

  list(kind: string, ns: string | null, labels: string | null = null, fields: string | null = null): KObj[] {
    const r = this.resource(kind);
    return [...this.objects.values()].filter(
      (o) =>
        o.kind === r.kind &&
        (!r.namespaced || ns === null || o.metadata.namespace === ns) &&
        matchesLabels(labels, o.metadata.labels) &&
        matchesFields(fields, o),
    );
  }

  private emit(type: string, r: Resource, o: KObj) {
    const rv = Number(o.metadata.resourceVersion);
    this.history.push({ rv, type, object: structuredClone(o), resource: r });
    if (this.history.length > 5000) this.history.splice(0, this.history.length - 5000);
    for (const w of this.watchers) {
      if (w.resource !== r) continue;
      if (w.namespace !== null && o.metadata.namespace !== w.namespace) continue;
      if (!matchesLabels(w.labels, o.metadata.labels) || !matchesFields(w.fields, o)) continue;
      w.res.write(`${JSON.stringify({ type, object: o })}\n`);
    }
  }

  /** Stores a new object (name, uid, resourceVersion, timestamps filled in) and tells the hooks. */
  create(kind: string, ns: string | null, body: KObj): KObj {
    const r = this.resource(kind);
    if (body.kind !== undefined && body.kind !== r.kind)
      throw new ApiError(400, 'BadRequest', `the body is a ${body.kind}, not a ${r.kind}`);
    const problems = validateKubeObject({ ...body, apiVersion: r.apiVersion, kind: r.kind });
    if (problems.length)
      throw new ApiError(
        400,
        'BadRequest',
        `strict decoding error: ${problems.map((p) => `unknown or bad field "${p}"`).join(', ')}`,
      );
    const meta = body.metadata ?? ({} as KObj['metadata']);
    let name = meta.name;
    if (!name && meta.generateName) name = `${meta.generateName}${randomUUID().replace(/-/g, '').slice(0, 5)}`;
    if (!name || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name) || name.length > 253)
      throw new ApiError(422, 'Invalid', `${r.kind} "${name ?? ''}" is invalid: metadata.name: Invalid value`);
    const namespace = r.namespaced ? (ns ?? meta.namespace ?? 'default') : undefined;
    if (r.namespaced && !this.get('Namespace', null, namespace!))
      throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`);
    const k = this.key(r, namespace, name);
    if (this.objects.has(k)) throw new ApiError(409, 'AlreadyExists', `${r.plural} "${name}" already exists`);
    const o: KObj = {
      ...structuredClone(body),
      apiVersion: r.apiVersion,
      kind: r.kind,
      metadata: {
        ...structuredClone(meta),
        name,
        ...(namespace ? { namespace } : {}),
        uid: randomUUID(),
        resourceVersion: String(++this.rv),
        creationTimestamp: new Date().toISOString(),
      },
    };
    this.objects.set(k, o);
    this.emit('ADDED', r, o);
    this.hooks.created?.(o);
    return o;
  }

  /** Replaces an object's status (or other parts) and tells watchers. */
  update(o: KObj, change: (o: KObj) => void): void {
    const r = this.resource(o.kind);
    const k = this.key(r, o.metadata.namespace, o.metadata.name);
    const cur = this.objects.get(k);
    if (!cur) return;
    change(cur);
    cur.metadata.resourceVersion = String(++this.rv);
    this.emit('MODIFIED', r, cur);
  }

  /** Removes an object now. */
  remove(o: KObj): void {
    const r = this.resource(o.kind);
    const k = this.key(r, o.metadata.namespace, o.metadata.name);
    const cur = this.objects.get(k);
    if (!cur) return;
    this.objects.delete(k);
    cur.metadata.resourceVersion = String(++this.rv);
    this.emit('DELETED', r, cur);
  }

  /** Asks for an object to go: the hooks may take it over (a pod goes once its container is gone). */
  delete(o: KObj, opts: { propagationPolicy: string; gracePeriodSeconds: number | null }): void {
    if (o.metadata.deletionTimestamp === undefined)
      this.update(o, (x) => {
        x.metadata.deletionTimestamp = new Date().toISOString();
      });
    if (!this.hooks.deleting?.(o, opts)) this.remove(o);
  }

  /** Records an event about `about`. */
  event(about: KObj, type: 'Normal' | 'Warning', reason: string, message: string, component: string): void {
    const now = new Date().toISOString();
    this.create('Event', about.metadata.namespace ?? 'default', {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: `${about.metadata.name}.${randomUUID().replace(/-/g, '').slice(0, 16)}` },
      involvedObject: {
        apiVersion: about.apiVersion,
        kind: about.kind,
        name: about.metadata.name,
        namespace: about.metadata.namespace,
        uid: about.metadata.uid,
      },
      reason,
      message,
      type,
      source: { component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    } as unknown as KObj);
  }

  async listen(): Promise<void> {
    this.server = createServer({ cert: this.cert, key: this.tlsKey }, (req, res) => {
      this.handle(req, res).catch((e: unknown) => this.fail(res, e));
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const w of this.watchers) w.res.end();
    this.watchers.clear();
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  private fail(res: ServerResponse, e: unknown) {
    const err = e instanceof ApiError ? e : new ApiError(500, 'InternalError', (e as Error)?.message ?? String(e));
    if (res.headersSent) {
      res.end();
      return;
    }
    this.send(res, err.code, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: err.message,
      reason: err.reason,
      code: err.code,
    });
  }

  private send(res: ServerResponse, code: number, body: unknown) {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  private async body(req: IncomingMessage): Promise<Record<string, unknown> | null> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      size += (c as Buffer).length;
      if (size > 3 * 1024 * 1024) throw new ApiError(413, 'RequestEntityTooLarge', 'request body too large');
      chunks.push(c as Buffer);
    }
    if (size === 0) return null;
    try {
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
    } catch {
      throw new ApiError(400, 'BadRequest', 'the request body is not JSON');
    }
  }

  private route(path: string): { r: Resource; ns: string | null; name: string | null; sub: string | null } {
    for (const r of RESOURCES) {
      if (!path.startsWith(`${r.prefix}/`)) continue;
      const rest = path.slice(r.prefix.length + 1).split('/');
      if (!r.namespaced) {
        if (rest[0] === r.plural && rest.length <= 2) return { r, ns: null, name: rest[1] ?? null, sub: null };
        continue;
      }
      if (rest[0] === 'namespaces' && rest[2] === r.plural && rest.length <= 5)
        return { r, ns: rest[1]!, name: rest[3] ?? null, sub: rest[4] ?? null };
      if (rest[0] === r.plural && rest.length === 1) return { r, ns: null, name: null, sub: null };
    }
    throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.headers.authorization !== `Bearer ${this.token}`) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    const url = new URL(req.url ?? '/', 'http://stand-in');
    const q = url.searchParams;
    const { r, ns, name, sub } = this.route(url.pathname);
    const method = req.method ?? 'GET';
    const notFound = () => new ApiError(404, 'NotFound', `${r.plural} "${name}" not found`);
    if (method === 'GET' && name && sub === 'log') {
      const o = this.get(r.kind, ns, name);
      if (!o || r.kind !== 'Pod') throw notFound();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end((await this.hooks.podLog?.(o)) ?? '');
      return;
    }
    if (sub !== null) throw new ApiError(404, 'NotFound', `no subresource ${sub}`);
    if (method === 'GET' && name) {
      const o = this.get(r.kind, ns, name);
      if (!o) throw notFound();
      this.send(res, 200, o);
      return;
    }
    if (method === 'GET' && (q.get('watch') === 'true' || q.get('watch') === '1')) {
      this.watch(req, res, r, ns, q);
      return;
    }
    if (method === 'GET') {
      const items = this.list(r.kind, ns, q.get('labelSelector'), q.get('fieldSelector'));
      this.send(res, 200, {
        apiVersion: r.apiVersion,
        kind: `${r.kind}List`,
        metadata: { resourceVersion: String(this.rv) },
        items,
      });
      return;
    }
    if (method === 'POST' && !name) {
      const body = await this.body(req);
      if (!body) throw new ApiError(400, 'BadRequest', 'no body');
      this.send(res, 201, this.create(r.kind, ns, body as KObj));
      return;
    }
    if (method === 'DELETE') {
      const body = (await this.body(req)) ?? {};
      const opts = {
        propagationPolicy: String(q.get('propagationPolicy') ?? body.propagationPolicy ?? 'Background'),
        gracePeriodSeconds:
          q.get('gracePeriodSeconds') !== null
            ? Number(q.get('gracePeriodSeconds'))
            : typeof body.gracePeriodSeconds === 'number'
              ? body.gracePeriodSeconds
              : null,
      };
      if (name) {
        const o = this.get(r.kind, ns, name);
        if (!o) throw notFound();
        this.delete(o, opts);
        this.send(res, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, kind: r.plural, uid: o.metadata.uid },
        });
        return;
      }
      const items = this.list(r.kind, ns, q.get('labelSelector'), q.get('fieldSelector'));
      for (const o of items) this.delete(o, opts);
      this.send(res, 200, { apiVersion: r.apiVersion, kind: `${r.kind}List`, metadata: {}, items });
      return;
    }
    throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported on ${url.pathname}`);
  }

  private watch(req: IncomingMessage, res: ServerResponse, r: Resource, ns: string | null, q: URLSearchParams) {
    const w: Watcher = {
      res,
      resource: r,
      namespace: ns,
      labels: q.get('labelSelector'),
      fields: q.get('fieldSelector'),
    };
    const from = q.get('resourceVersion');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // As an API server does: the client's watch starts when the headers arrive, events or not.
    res.flushHeaders();
    const match = (o: KObj) =>
      (ns === null || o.metadata.namespace === ns) &&
      matchesLabels(w.labels, o.metadata.labels) &&
      matchesFields(w.fields, o);
    if (from && from !== '0') {
      const since = Number(from);
      const oldest = this.history[0]?.rv ?? this.rv + 1;
      if (since < oldest - 1) {
        res.end(
          `${JSON.stringify({ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410, message: `too old resource version: ${since}` } })}\n`,
        );
        return;
      }
      for (const h of this.history)
        if (h.rv > since && h.resource === r && match(h.object))
          res.write(`${JSON.stringify({ type: h.type, object: h.object })}\n`);
    } else {
      for (const o of this.list(r.kind, ns, w.labels, w.fields))
        res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
    }
    this.watchers.add(w);
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    timer?.unref();
    const drop = () => {
      this.watchers.delete(w);
      if (timer) clearTimeout(timer);
    };
    req.on('close', drop);
    res.on('close', drop);
  }
}
