/**
 * @module A local stand-in of Modal's API for tests (never shipped): a gRPC server (nice-grpc's
 * server side) speaking the `modal` SDK's own generated service definitions (./proto.ts), with
 * only the RPCs the modal provider's SDK calls make: `AuthTokenGet`, `AppGetOrCreate`,
 * `EnvironmentGetOrCreate` (the image builder version), `ImageGetOrCreate` (a registry image by
 * tag), `ImageFromId`, `ImageDelete`, `SandboxCreate`/`SandboxCreateV2`, `SandboxGetTaskId`(V2),
 * `SandboxWait`(V2), `SandboxTerminate`(V2), `SandboxList`(V2) and `SandboxTagsGet`(V2) with tags,
 * `TaskGetCommandRouterAccess`/`SandboxGetCommandRouterAccess`, and on the same port the task
 * command router's `TaskSnapshotFilesystem`. Every other RPC answers UNIMPLEMENTED naming itself.
 *
 * Transport: plaintext HTTP/2 on 127.0.0.1 (the SDK is pointed at `http://127.0.0.1:PORT` through
 * its `MODAL_SERVER_URL`; for a loopback server URL the SDK itself dials the command router
 * without TLS). Auth: the `x-modal-token-id` / `x-modal-token-secret` metadata must match the
 * stand-in's token, else UNAUTHENTICATED. Sandboxes are Docker containers (./engine.ts), so the
 * agent in one really starts, dials a test server's gateway on loopback and runs tasks. Faults can
 * be injected per RPC (gRPC code, message, times), and every sandbox create request is recorded
 * (resources, GPU) for tests to check.
 */
import { randomBytes } from 'node:crypto';
import type Dockerode from 'dockerode';
import { type CallContext, createServer, ServerError, Status } from 'nice-grpc';
import { Engine, type SandboxRec, STATUS, v1SandboxId } from './engine.js';
import { modalDefinitions, type ServiceDefinition } from './proto.js';

/** The Docker label key of every stand-in container and image (the value is the stand-in's id). */
export const MODAL_STANDIN_LABEL = 'io.marionette.test.modal-standin';

export interface Fault {
  /** The gRPC status code. */
  code: Status;
  message: string;
  /** How many calls fail (default 1). */
  times?: number;
  /** Only calls about sandboxes created after the fault was set (so a status poll of an older one cannot use it up). */
  newSandboxesOnly?: boolean;
}

export interface ModalStandin {
  /** The SDK's server URL (`http://127.0.0.1:PORT`). */
  url: string;
  tokenId: string;
  tokenSecret: string;
  id: string;
  engine: Engine;
  /** Every RPC as its method name (`sandboxCreateV2`), in order. */
  calls: string[];
  /** The next `times` calls of RPC `method` (its V1 name also covers the V2 one) fail with `fault`. */
  fail(method: string, fault: Fault): void;
  /** The sandboxes still running, by id. */
  running(): Promise<SandboxRec[]>;
  leftovers(): Promise<string[]>;
  close(): Promise<void>;
}

export interface ModalStandinOptions {
  docker: Dockerode;
  /** Registry images that exist: `name:tag` → local Docker image. */
  registry: Record<string, string>;
  /** Bind mounts of every sandbox container (read-only). */
  mounts?: Array<{ source: string; target: string }>;
}

/** An unsigned JWT with an expiry an hour out (the SDK reads `exp` only). */
function jwt(sub: string): string {
  const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${part({ alg: 'none', typ: 'JWT' })}.${part({ sub, exp: Math.floor(Date.now() / 1000) + 3600 })}.standin`;
}

type Handler = (req: Record<string, unknown>, ctx: CallContext) => Promise<unknown>;

const tagMap = (tags: unknown): Record<string, string> =>
  Object.fromEntries(
    ((tags as Array<{ tagName: string; tagValue: string }>) ?? []).map((t) => [t.tagName, t.tagValue]),
  );

export async function startModalStandin(o: ModalStandinOptions): Promise<ModalStandin> {
  const defs = modalDefinitions();
  const id = randomBytes(5).toString('hex');
  const tokenId = `ak-standin${id}`;
  const tokenSecret = `as-${randomBytes(16).toString('hex')}`;
  const engine = new Engine({
    docker: o.docker,
    label: { key: MODAL_STANDIN_LABEL, value: id },
    mounts: o.mounts ?? [],
  });
  const registry = new Map(Object.entries(o.registry).map(([tag, img]) => [tag, engine.addImage(img).id]));
  const apps = new Map<string, string>();
  const calls: string[] = [];
  const faults = new Map<string, Fault & { left: number; setAt: number }>();
  let url = '';

  const sandbox = (sandboxId: unknown): SandboxRec => {
    const s = engine.sandboxes.get(String(sandboxId));
    if (!s) throw new ServerError(Status.NOT_FOUND, `Sandbox ${String(sandboxId)} not found`);
    return s;
  };
  const routerAccess = () => ({ url: url.replace(/^http:/, 'https:'), jwt: jwt('router') });

  async function create(req: Record<string, unknown>, family: 'v1' | 'v2') {
    const def = (req.definition ?? {}) as Record<string, unknown>;
    const imageId = String(def.imageId ?? '');
    if (!engine.images.has(imageId)) throw new ServerError(Status.NOT_FOUND, `Image ${imageId} not found`);
    const s: SandboxRec = {
      id: family === 'v1' ? v1SandboxId() : `sb2-${randomBytes(10).toString('hex')}`,
      taskId: `ta-${randomBytes(8).toString('hex')}`,
      appId: String(req.appId ?? ''),
      imageId,
      tags: tagMap(req.tags),
      command: (def.entrypointArgs as string[]) ?? [],
      resources: (def.resources ?? {}) as SandboxRec['resources'],
      timeoutSecs: Number(def.timeoutSecs ?? 0),
      family,
      createdAt: Date.now() / 1000,
    };
    if (s.command.length === 0)
      throw new ServerError(Status.INVALID_ARGUMENT, 'the stand-in runs only sandboxes with a command');
    engine.sandboxes.set(s.id, s);
    await engine.boot(s);
    return s;
  }

  async function list(req: Record<string, unknown>) {
    const want = tagMap(req.tags);
    const before = Number(req.beforeTimestamp ?? 0);
    const out: SandboxRec[] = [];
    for (const s of engine.sandboxes.values()) {
      if (req.appId && s.appId !== req.appId) continue;
      if (before && s.createdAt >= before) continue;
      if (Object.entries(want).some(([k, v]) => s.tags[k] !== v)) continue;
      if (!req.includeFinished && (await engine.refresh(s))) continue;
      out.push(s);
    }
    out.sort((a, b) => b.createdAt - a.createdAt);
    return {
      sandboxes: out.slice(0, 100).map((s) => ({
        id: s.id,
        createdAt: s.createdAt,
        appId: s.appId,
        tags: Object.entries(s.tags).map(([tagName, tagValue]) => ({ tagName, tagValue })),
      })),
    };
  }

  async function wait(req: Record<string, unknown>) {
    const s = sandbox(req.sandboxId);
    const until = Date.now() + Math.min(Number(req.timeout ?? 0), 10) * 1000;
    for (;;) {
      const result = await engine.refresh(s);
      if (result || Date.now() >= until) return result ? { result } : {};
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  const client: Record<string, Handler> = {
    authTokenGet: async () => ({ token: jwt('client') }),
    appGetOrCreate: async (req) => {
      const name = String(req.appName);
      let appId = apps.get(name);
      if (!appId) {
        if (req.objectCreationType !== 1) throw new ServerError(Status.NOT_FOUND, `App '${name}' not found`);
        appId = `ap-${randomBytes(8).toString('hex')}`;
        apps.set(name, appId);
      }
      return { appId };
    },
    environmentGetOrCreate: async () => ({
      environmentId: 'en-standin',
      metadata: { name: 'main', settings: { imageBuilderVersion: '2024.10', webhookSuffix: '' } },
    }),
    imageGetOrCreate: async (req) => {
      const image = (req.image ?? {}) as { dockerfileCommands?: string[] };
      const [from, ...rest] = image.dockerfileCommands ?? [];
      const tag = /^FROM (\S+)$/.exec(from ?? '')?.[1] ?? '';
      if (rest.length) throw new ServerError(Status.UNIMPLEMENTED, 'the stand-in builds no Dockerfile commands');
      const imageId = registry.get(tag);
      if (!imageId)
        return {
          imageId: `im-missing${randomBytes(4).toString('hex')}`,
          result: {
            status: STATUS.FAILURE,
            exception: `pull access denied for ${tag}: repository does not exist (stand-in)`,
          },
        };
      return { imageId, result: { status: STATUS.SUCCESS } };
    },
    imageFromId: async (req) => {
      if (!engine.images.has(String(req.imageId)))
        throw new ServerError(Status.NOT_FOUND, `Could not find image with ID ${String(req.imageId)}`);
      return { imageId: req.imageId };
    },
    imageDelete: async (req) => {
      const img = engine.images.get(String(req.imageId));
      if (!img) throw new ServerError(Status.NOT_FOUND, `Could not find image with ID ${String(req.imageId)}`);
      await engine.deleteImage(img);
      return {};
    },
    sandboxCreate: async (req) => ({ sandboxId: (await create(req, 'v1')).id }),
    sandboxCreateV2: async (req) => {
      const s = await create(req, 'v2');
      return { sandboxId: s.id, taskId: s.taskId, tunnels: [], commandRouterAccess: routerAccess() };
    },
    sandboxGetTaskId: async (req) => {
      const s = sandbox(req.sandboxId);
      const result = await engine.refresh(s);
      return result ? { taskResult: result } : { taskId: s.taskId };
    },
    sandboxWait: wait,
    sandboxTerminate: async (req) => {
      await engine.terminate(sandbox(req.sandboxId));
      return {};
    },
    sandboxList: list,
    sandboxTagsGet: async (req) => ({
      tags: Object.entries(sandbox(req.sandboxId).tags).map(([tagName, tagValue]) => ({ tagName, tagValue })),
    }),
    taskGetCommandRouterAccess: async (req) => {
      if (!engine.byTask(String(req.taskId)))
        throw new ServerError(Status.NOT_FOUND, `Task ${String(req.taskId)} not found`);
      return routerAccess();
    },
    sandboxGetCommandRouterAccess: async (req) => {
      sandbox(req.sandboxId);
      return routerAccess();
    },
  };
  for (const m of ['sandboxGetTaskId', 'sandboxWait', 'sandboxTerminate', 'sandboxList', 'sandboxTagsGet'])
    client[`${m}V2`] = client[m]!;

  const router: Record<string, Handler> = {
    taskSnapshotFilesystem: async (req) => {
      const s = engine.byTask(String(req.taskId));
      if (!s) throw new ServerError(Status.NOT_FOUND, `Task ${String(req.taskId)} not found`);
      if (await engine.refresh(s)) throw new ServerError(Status.FAILED_PRECONDITION, `Sandbox ${s.id} has finished`);
      return { imageId: (await engine.snapshot(s)).id };
    },
  };

  /** Every method of `def`: the handler, behind auth and faults, else UNIMPLEMENTED. */
  function implement(def: ServiceDefinition, handlers: Record<string, Handler>, checkToken: boolean) {
    const impl: Record<string, Handler> = {};
    for (const name of Object.keys(def.methods)) {
      impl[name] = async (req, ctx) => {
        calls.push(name);
        if (
          checkToken &&
          (ctx.metadata.get('x-modal-token-id') !== tokenId || ctx.metadata.get('x-modal-token-secret') !== tokenSecret)
        )
          throw new ServerError(Status.UNAUTHENTICATED, 'Token ID or secret is invalid (stand-in)');
        const fault = faults.get(name) ?? faults.get(name.replace(/V2$/, ''));
        const about = fault?.newSandboxesOnly ? engine.sandboxes.get(String(req.sandboxId ?? '')) : undefined;
        if (fault && fault.left > 0 && (!fault.newSandboxesOnly || (about && about.createdAt >= fault.setAt))) {
          fault.left--;
          throw new ServerError(fault.code, fault.message);
        }
        const h = handlers[name];
        if (!h)
          throw new ServerError(Status.UNIMPLEMENTED, `the Modal stand-in does not implement ${def.name}.${name}`);
        return h(req, ctx);
      };
    }
    return impl;
  }

  const server = createServer();
  // biome-ignore lint/suspicious/noExplicitAny: the definitions are loaded at run time (./proto.ts)
  server.add(defs.client as any, implement(defs.client, client, true) as any);
  // biome-ignore lint/suspicious/noExplicitAny: as above
  server.add(defs.router as any, implement(defs.router, router, false) as any);
  const port = await server.listen('127.0.0.1:0');
  url = `http://127.0.0.1:${port}`;

  return {
    url,
    tokenId,
    tokenSecret,
    id,
    engine,
    calls,
    fail(method, fault) {
      faults.set(method, { ...fault, left: fault.times ?? 1, setAt: Date.now() / 1000 });
    },
    async running() {
      const out: SandboxRec[] = [];
      for (const s of engine.sandboxes.values()) if (!(await engine.refresh(s))) out.push(s);
      return out;
    },
    leftovers: () => engine.leftovers(),
    async close() {
      await server.shutdown().catch(() => server.forceShutdown());
      await engine.close();
    },
  };
}
