/**
 * @module How the modal provider reads Modal's failures (pure, no SDK): gRPC codes and the SDK's
 * own error classes become errors naming what was done and Modal's message; RESOURCE_EXHAUSTED is
 * retried with backoff and named when it never clears; other failures are not retried; a GPU
 * request becomes Modal's words; a bad config key is named.
 */
import { describe, expect, it } from 'vitest';
import { InvalidRequest, ProviderUnavailable } from '../../core/errors.js';
import { makeSpec } from '../docker/docker.test-support.js';
import { mergeModalConfig, parseModalConfig } from './config.js';
import { GRPC, grpcCode, modalFailure, retryDelayMs, withModal } from './errors.js';
import { gpuOf } from './provider.js';

const grpcError = (code: number, details: string) =>
  Object.assign(new Error(`/modal.client.ModalClient/SandboxCreate ${code}: ${details}`), { code, details });

describe('modal errors', () => {
  it('maps codes to errors naming Modal and its message', () => {
    const auth = modalFailure(grpcError(GRPC.UNAUTHENTICATED, 'Invalid token'), 'creating a sandbox');
    expect(auth).toBeInstanceOf(ProviderUnavailable);
    expect(auth.message).toBe(
      'Modal refused the token (UNAUTHENTICATED) while creating a sandbox: Invalid token; set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET in the server environment, or store the org credential with `mctl credentials set modal`',
    );
    const missing = modalFailure(grpcError(GRPC.NOT_FOUND, 'Image im-x not found'), 'creating a sandbox');
    expect(missing).toBeInstanceOf(InvalidRequest);
    expect(missing.message).toBe('Modal refused creating a sandbox (NOT_FOUND): Image im-x not found');
    expect(modalFailure(grpcError(GRPC.UNAVAILABLE, 'connect ECONNREFUSED'), 'x', 'http://h:1').message).toBe(
      'Modal API unreachable at http://h:1 while x: connect ECONNREFUSED',
    );
    const build = modalFailure(new Error('Image build for im-1 failed with the exception:\npull denied'), 'y');
    expect(build).toBeInstanceOf(InvalidRequest);
    expect(build.message).toBe(
      'Modal could not build the image while y: Image build for im-1 failed with the exception: pull denied',
    );
  });

  it("reads the SDK's own error classes by name", () => {
    const e = Object.assign(new Error('Insufficient capacity to create sandbox.'), { name: 'ResourceExhaustedError' });
    expect(grpcCode(e)).toBe(GRPC.RESOURCE_EXHAUSTED);
    expect(grpcCode(Object.assign(new Error('x'), { name: 'NotFoundError' }))).toBe(GRPC.NOT_FOUND);
    expect(grpcCode(new Error('plain'))).toBeUndefined();
  });

  it('retries RESOURCE_EXHAUSTED with doubling backoff, then names it; nothing else is retried', async () => {
    const waits: number[] = [];
    const b = { retries: 3, baseMs: 100, maxMs: 250, sleep: async (ms: number) => void waits.push(ms) };
    let n = 0;
    await expect(
      withModal(
        'creating a sandbox',
        async () => {
          n++;
          throw grpcError(GRPC.RESOURCE_EXHAUSTED, 'rate limited');
        },
        b,
      ),
    ).rejects.toThrow(
      'Modal rate limit or quota (RESOURCE_EXHAUSTED) while creating a sandbox, still refused after retrying: rate limited',
    );
    expect(n).toBe(4);
    expect(waits).toEqual([100, 200, 250]);
    expect(retryDelayMs(b, 1)).toBe(100);
    let m = 0;
    const ok = await withModal(
      'x',
      async () => {
        if (m++ === 0) throw grpcError(GRPC.RESOURCE_EXHAUSTED, 'once');
        return 'done';
      },
      b,
    );
    expect(ok).toBe('done');
    let k = 0;
    await expect(
      withModal(
        'x',
        async () => {
          k++;
          throw grpcError(GRPC.PERMISSION_DENIED, 'no');
        },
        b,
      ),
    ).rejects.toThrow('Modal refused x (PERMISSION_DENIED): no');
    expect(k).toBe(1);
  });
});

describe('modal config and GPU words', () => {
  it('names a bad key and refuses a sandbox lifetime past 24h', () => {
    expect(() => parseModalConfig({ imagee: 'x' })).toThrow(/providers\.modal: .*imagee/);
    expect(() => parseModalConfig({ sandboxTimeout: '25h' })).toThrow(
      /sandboxTimeout: Modal sandboxes live at most 24h/,
    );
    expect(() => mergeModalConfig(parseModalConfig({}), { gpu: 3 })).toThrow(/sandbox_config: gpu/);
  });

  it('a pool image replaces a provider image id; defaults hold', () => {
    const base = parseModalConfig({ imageId: 'im-base' });
    expect(mergeModalConfig(base, {}).imageId).toBe('im-base');
    const over = mergeModalConfig(base, { image: 'reg/agent:2' });
    expect(over.imageId).toBeUndefined();
    expect(over.image).toBe('reg/agent:2');
    expect(mergeModalConfig(parseModalConfig({}), {}).image).toBe('marionette-agent:latest');
  });

  it('a session asking for GPUs by count gets the pool type; the pool can name its own', () => {
    const cfg = parseModalConfig({});
    expect(gpuOf(cfg, makeSpec({ resources: { gpu: '2' } }))).toBe('T4:2');
    expect(gpuOf(cfg, makeSpec({ resources: { gpu: 'A10G' } }))).toBe('A10G');
    expect(gpuOf(cfg, makeSpec({ resources: { gpu: '0' } }))).toBeUndefined();
    expect(gpuOf(cfg, makeSpec())).toBeUndefined();
    expect(gpuOf({ ...cfg, gpu: 'H100' }, makeSpec({ resources: { gpu: '1' } }))).toBe('H100');
  });
});
