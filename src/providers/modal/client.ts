/**
 * @module The part of Modal the provider uses, as a small structural interface ({@link ModalApi}),
 * and its implementation on Modal's JS SDK (`modal` 0.x, Modal Labs' modal-client repository):
 * apps (look up, made when missing), images (from a registry tag or an image id, delete),
 * sandboxes (create with a command, tags and resources; poll; terminate; list by tags; read tags;
 * snapshot the filesystem to an image). Tests may pass any object of this shape; the server uses
 * the SDK. The SDK module is imported on the first call, never at server start.
 *
 * Where the SDK talks: the SDK reads its API address only from `MODAL_SERVER_URL` (or
 * `~/.modal.toml`) when a client is made; its `endpoint` parameter is declared but unused in
 * 0.11.1. So a configured `serverUrl` is put in `MODAL_SERVER_URL` for the synchronous
 * construction of the client and restored right after (nothing else runs in between). The token
 * is always given to the constructor, so the SDK never uses a token from the environment.
 */
import type { App, Image, ModalClient, Sandbox } from 'modal';
import type { ModalCredential } from './credentials.js';
import { isNotFound } from './errors.js';

export interface ModalConn extends ModalCredential {
  /** Modal's API address; absent: the SDK's default. */
  serverUrl?: string;
  environment?: string;
}

export interface ModalCreate {
  appName: string;
  /** A registry image (`name:tag`), or a Modal image id (wins). */
  image: { tag: string } | { id: string };
  command: string[];
  tags: Record<string, string>;
  timeoutMs: number;
  workdir?: string;
  cpu?: number;
  memoryMiB?: number;
  /** Modal's GPU words (`T4`, `A100:2`). */
  gpu?: string;
}

export interface ModalApi {
  /** Creates the sandbox (the SDK builds or finds its image first); resolves with its id. */
  create(p: ModalCreate): Promise<string>;
  /** null while the sandbox runs; its exit code once it finished; `gone` when Modal does not know it. */
  poll(sandboxId: string): Promise<number | null | 'gone'>;
  /** Terminates the sandbox; gone already is fine. */
  terminate(sandboxId: string): Promise<void>;
  /** Snapshots the sandbox's filesystem as a Modal image; resolves with the image id. */
  snapshotFilesystem(sandboxId: string, timeoutMs: number): Promise<string>;
  /** Deletes an image; gone already is fine. */
  deleteImage(imageId: string): Promise<void>;
  /** The running sandboxes of app `appName` carrying all of `tags`, with their tags. */
  list(appName: string, tags: Record<string, string>): Promise<Array<{ id: string; tags: Record<string, string> }>>;
  close(): Promise<void>;
}

/** A ModalClient for `conn`, with `serverUrl` in MODAL_SERVER_URL only while the constructor runs (see above). */
function makeClient(m: typeof import('modal'), conn: ModalConn): ModalClient {
  const params = {
    tokenId: conn.tokenId,
    tokenSecret: conn.tokenSecret,
    ...(conn.environment ? { environment: conn.environment } : {}),
    logLevel: 'error' as const,
  };
  if (!conn.serverUrl) return new m.ModalClient(params);
  const env = process.env;
  const before = env.MODAL_SERVER_URL;
  env.MODAL_SERVER_URL = conn.serverUrl;
  try {
    return new m.ModalClient(params);
  } finally {
    if (before === undefined) delete env.MODAL_SERVER_URL;
    else env.MODAL_SERVER_URL = before;
  }
}

/** {@link ModalApi} on the `modal` SDK, for one credential. */
export function sdkModalApi(conn: ModalConn): ModalApi {
  let made: Promise<ModalClient> | undefined;
  const sdk = () => (made ??= import('modal').then((m) => makeClient(m, conn)));
  const apps = new Map<string, Promise<App>>();
  const app = async (name: string) => {
    let a = apps.get(name);
    if (!a) {
      const client = await sdk();
      a = client.apps.fromName(name, {
        createIfMissing: true,
        ...(conn.environment ? { environment: conn.environment } : {}),
      });
      apps.set(name, a);
      a.catch(() => apps.delete(name));
    }
    return a;
  };
  const sandbox = async (id: string): Promise<Sandbox> => (await sdk()).sandboxes.fromId(id);
  return {
    async create(p) {
      const client = await sdk();
      const a = await app(p.appName);
      const image: Image =
        'id' in p.image ? await client.images.fromId(p.image.id) : client.images.fromRegistry(p.image.tag);
      const sb = await client.sandboxes.create(a, image, {
        command: p.command,
        tags: p.tags,
        timeoutMs: p.timeoutMs,
        ...(p.workdir ? { workdir: p.workdir } : {}),
        ...(p.cpu !== undefined ? { cpu: p.cpu } : {}),
        ...(p.memoryMiB !== undefined ? { memoryMiB: p.memoryMiB } : {}),
        ...(p.gpu ? { gpu: p.gpu } : {}),
      });
      return sb.sandboxId;
    },
    async poll(id) {
      try {
        return await (await sandbox(id)).poll();
      } catch (e: unknown) {
        if (isNotFound(e)) return 'gone';
        throw e;
      }
    },
    async terminate(id) {
      try {
        await (await sandbox(id)).terminate();
      } catch (e: unknown) {
        if (!isNotFound(e)) throw e;
      }
    },
    async snapshotFilesystem(id, timeoutMs) {
      const image = await (await sandbox(id)).snapshotFilesystem({ timeoutMs });
      return image.imageId;
    },
    async deleteImage(imageId) {
      try {
        await (await sdk()).images.delete(imageId);
      } catch (e: unknown) {
        if (!isNotFound(e)) throw e;
      }
    },
    async list(appName, tags) {
      const a = await app(appName);
      const out: Array<{ id: string; tags: Record<string, string> }> = [];
      for await (const sb of (await sdk()).sandboxes.list({ appId: a.appId, tags })) {
        try {
          out.push({ id: sb.sandboxId, tags: await sb.getTags() });
        } catch (e: unknown) {
          if (!isNotFound(e)) throw e;
        }
      }
      return out;
    },
    async close() {
      if (made) (await made).close();
    },
  };
}
