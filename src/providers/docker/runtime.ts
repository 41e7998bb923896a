/**
 * @module The docker provider's `runtime` (e.g. `runsc`, gVisor) checked against the engine's
 * registered runtimes (`docker info` → Runtimes), so a pool asking for a runtime the engine lacks
 * fails at start and at provision with an error naming the known ones, never with an opaque
 * `docker run` failure. The answer is cached per provider for a minute.
 */
import { ProviderUnavailable } from '../../core/errors.js';
import type { DockerClient } from './objects.js';
import { engineMessage } from './objects.js';

const TTL_MS = 60_000;

export class RuntimeCheck {
  private cached: { at: number; names: Promise<string[]> } | null = null;

  constructor(
    private readonly docker: () => DockerClient,
    private readonly engineDisplay: string,
  ) {}

  /** The runtimes the engine knows (names), cached for a minute. */
  known(): Promise<string[]> {
    const now = Date.now();
    if (this.cached === null || now - this.cached.at > TTL_MS) {
      const names = this.docker()
        .info()
        .then((info: { Runtimes?: Record<string, unknown> }) => Object.keys(info.Runtimes ?? {}).sort());
      names.catch(() => {
        this.cached = null;
      });
      this.cached = { at: now, names };
    }
    return this.cached.names;
  }

  /** Why `runtime` cannot be used (null when it can, or when none is asked for). */
  async refusal(runtime: string | undefined): Promise<string | null> {
    if (runtime === undefined) return null;
    let names: string[];
    try {
      names = await this.known();
    } catch (e: unknown) {
      return `cannot list the runtimes of the Docker Engine at ${this.engineDisplay}: ${engineMessage(e)}`;
    }
    if (names.includes(runtime)) return null;
    return `runtime ${runtime} is not registered with the Docker Engine at ${this.engineDisplay} (known: ${names.join(', ') || 'none'}); register it in /etc/docker/daemon.json ("runtimes": {"${runtime}": {"path": ...}}) and reload dockerd, see docs/providers/docker.md`;
  }

  /** Throws ProviderUnavailable naming the known runtimes when `runtime` is not one of them. */
  async require(runtime: string | undefined): Promise<void> {
    const why = await this.refusal(runtime);
    if (why !== null) throw new ProviderUnavailable(`docker provider: ${why}`, { details: { runtime } });
  }
}
