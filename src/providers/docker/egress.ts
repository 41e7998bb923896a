/**
 * @module The egress policy compiled for docker (see docs/egress.md):
 * - `open`: the pool's `network` as configured (default: the `marionette` bridge);
 * - `none`: `NetworkMode: none` (loopback only);
 * - `{ allow }`: `NetworkMode: none` too, plus an egress proxy (src/egress/proxy.ts) on the host,
 *   one per container, on a unix socket in a folder of its own that is bind-mounted into the
 *   container; the agent there starts the loopback bridge (src/egress/bridge.ts) and every task
 *   gets `HTTP_PROXY` / `HTTPS_PROXY` pointing at it. The container has no route anywhere else, so
 *   the proxy is its only way out whatever the task does with the variables.
 *
 * Why not an `Internal: true` network with the proxy on it: the proxy would have to listen on an
 * address of that bridge (the host's side differs per engine version and is not reachable at all
 * from a rootless or remote engine's containers), and a second container per session would run
 * it. A unix socket needs no address, works the same under runc and runsc (`--host-uds=open`) and
 * for nested sandboxes, and the proxy runs in the server, which counts and logs what it refuses.
 */
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type Dockerode from 'dockerode';
import type { EgressPolicy } from '../../core/egress.js';
import { EGRESS_BRIDGE_PORT, EGRESS_SOCKET_ENV, egressProxyEnv } from '../../egress/bridge.js';
import type { EgressOwner } from '../../egress/ledger.js';
import { type EgressDenial, EgressProxy } from '../../egress/proxy.js';
import { safeName } from './helpers.js';

/** Where the proxy's socket folder appears inside a container. */
export const EGRESS_DIR_IN_BOX = '/run/marionette-egress';

/** Called for every refused connection of a container's proxy. */
export type EgressDeniedHook = (owner: EgressOwner, d: EgressDenial) => void;

/** What a container gets for its policy. */
export interface EgressPlan {
  networkMode: string;
  mounts: Dockerode.MountSettings[];
  env: Record<string, string>;
}

/** The egress proxies of one docker provider, by runner. */
export class DockerEgress {
  private readonly proxies = new Map<string, Promise<EgressProxy>>();

  constructor(
    /** Host folder holding one sub-folder (with the socket) per runner. */
    private readonly dir: string = join(tmpdir(), `marionette-egress-${process.pid}`),
    private readonly onDenied?: EgressDeniedHook,
  ) {}

  /**
   * The network mode, mounts and env for `policy` (undefined: the pool's own `network`, i.e. open).
   * Starts the container's proxy for an allow list; `user` (`uid:gid`) may connect to its socket.
   */
  async plan(policy: EgressPolicy | undefined, network: string, owner: EgressOwner, user: string): Promise<EgressPlan> {
    if (policy === undefined || policy === 'open') return { networkMode: network, mounts: [], env: {} };
    if (policy === 'none') return { networkMode: 'none', mounts: [], env: {} };
    const folder = await this.start(policy, owner, user);
    const url = `http://127.0.0.1:${EGRESS_BRIDGE_PORT}`;
    return {
      networkMode: 'none',
      mounts: [{ Type: 'bind', Source: folder, Target: EGRESS_DIR_IN_BOX, ReadOnly: true }],
      env: { [EGRESS_SOCKET_ENV]: `${EGRESS_DIR_IN_BOX}/egress.sock`, ...egressProxyEnv(url) },
    };
  }

  /** Starts (or finds) the proxy of `owner.runnerId`; returns the folder to mount. */
  async start(policy: { allow: string[] }, owner: EgressOwner, user: string): Promise<string> {
    const folder = join(this.dir, safeName(owner.runnerId));
    let p = this.proxies.get(owner.runnerId);
    if (p === undefined) {
      p = (async () => {
        mkdirSync(folder, { recursive: true, mode: 0o755 });
        const sock = join(folder, 'egress.sock');
        const proxy = await new EgressProxy({
          policy,
          listen: sock,
          ...(this.onDenied ? { onDenied: (d: EgressDenial) => this.onDenied?.(owner, d) } : {}),
        }).start();
        // Only the container's user may connect (when we may hand it over; else anyone on this host).
        const [uid, gid] = user.split(':').map(Number) as [number, number];
        try {
          chownSync(sock, uid, gid);
          chmodSync(sock, 0o600);
        } catch {
          chmodSync(sock, 0o666);
        }
        return proxy;
      })();
      this.proxies.set(owner.runnerId, p);
      p.catch(() => this.proxies.delete(owner.runnerId));
    }
    await p;
    return folder;
  }

  /**
   * After a server restart the proxies of running containers are gone (their tasks reach nothing:
   * the policy fails closed). The reconciler's status check calls this for a running container:
   * a handle whose metadata carries an allow-list policy gets its proxy back at the same socket.
   * Returns whether it started one.
   */
  async revive(metadata: Record<string, unknown>): Promise<boolean> {
    const runnerId = metadata.runnerId;
    if (typeof metadata.egress !== 'string' || typeof runnerId !== 'string' || this.proxies.has(runnerId)) return false;
    const policy = JSON.parse(metadata.egress) as EgressPolicy;
    if (typeof policy === 'string') return false;
    const owner: EgressOwner = {
      orgId: String(metadata.orgId ?? ''),
      sessionId: typeof metadata.sessionId === 'string' ? metadata.sessionId : null,
      poolId: String(metadata.poolId ?? ''),
      runnerId,
    };
    await this.start(policy, owner, typeof metadata.user === 'string' ? metadata.user : '1000:1000');
    return true;
  }

  /** The live proxy of a runner, if any (counters, tests). */
  proxyOf(runnerId: string): Promise<EgressProxy> | undefined {
    return this.proxies.get(runnerId);
  }

  /** Stops a runner's proxy and removes its folder. Idempotent. */
  async stop(runnerId: string): Promise<void> {
    const p = this.proxies.get(runnerId);
    this.proxies.delete(runnerId);
    if (p !== undefined) await (await p.catch(() => null))?.close();
    rmSync(join(this.dir, safeName(runnerId)), { recursive: true, force: true });
  }

  async close(): Promise<void> {
    for (const id of [...this.proxies.keys()]) await this.stop(id);
  }
}
