/**
 * @module Modal's errors as Marionette's: every failure of a call to Modal's API (gRPC) becomes an
 * error whose message names what was being done, the gRPC status and Modal's own message (a
 * refused token, a quota, a rate limit, an image Modal cannot find), so a session that fails to
 * provision carries it as its reason. RESOURCE_EXHAUSTED (Modal's rate limit and capacity answer)
 * is retried with backoff before it fails; the SDK itself retries transient codes and honours the
 * server's retry policy first. Errors are read structurally (`code`, `details`, `name`): nice-grpc's
 * `ClientError` and the SDK's own classes (`NotFoundError`, `ResourceExhaustedError`, ...).
 */
import { InvalidRequest, ProviderUnavailable, toError } from '../../core/errors.js';
import { CREDENTIAL_HINT } from './credentials.js';

/** gRPC status codes the provider tells apart. */
export const GRPC = {
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

interface VendorError {
  name?: string;
  message?: string;
  code?: unknown;
  details?: unknown;
}

/** The gRPC status of a failed call: the code nice-grpc carries, else the one the SDK's error class stands for. */
export function grpcCode(e: unknown): number | undefined {
  const v = e as VendorError | null;
  if (typeof v?.code === 'number') return v.code;
  switch (v?.name) {
    case 'NotFoundError':
      return GRPC.NOT_FOUND;
    case 'AlreadyExistsError':
      return GRPC.ALREADY_EXISTS;
    case 'ResourceExhaustedError':
      return GRPC.RESOURCE_EXHAUSTED;
    case 'InvalidError':
      return GRPC.INVALID_ARGUMENT;
    case 'ConflictError':
      return GRPC.FAILED_PRECONDITION;
    default:
      return undefined;
  }
}

/** Whether a failed call says the object does not exist. */
export function isNotFound(e: unknown): boolean {
  return grpcCode(e) === GRPC.NOT_FOUND;
}

/** Modal's own message (nice-grpc's `details`, else the error's message without nice-grpc's `/path CODE:` prefix). */
function vendorMessage(e: unknown): string {
  const v = e as VendorError | null;
  const raw =
    typeof v?.details === 'string' && v.details.trim() ? v.details : toError(e).message.replace(/^\/\S+ [A-Z_]+: /, '');
  return raw.replace(/\s+/g, ' ').trim() || 'no message';
}

/** The SDK's own words when Modal could not build or pull an image (a plain Error, no gRPC code). */
const IMAGE_BUILD_FAILED = /^Image build for \S+ (failed|terminated|timed out)/;

/**
 * The Marionette error for a failed Modal call made while `what`. Auth, quota, rate limit and
 * outages are ProviderUnavailable; a request Modal refused as bad (unknown image, bad resources)
 * is InvalidRequest.
 * @example modalFailure(err, 'creating a sandbox').message // "Modal refused the token (UNAUTHENTICATED) while creating a sandbox: Invalid token; set MODAL_TOKEN_ID ..."
 */
export function modalFailure(e: unknown, what: string, serverUrl?: string): Error {
  const code = grpcCode(e);
  const msg = vendorMessage(e);
  switch (code) {
    case GRPC.UNAUTHENTICATED:
      return new ProviderUnavailable(
        `Modal refused the token (UNAUTHENTICATED) while ${what}: ${msg}; ${CREDENTIAL_HINT}`,
      );
    case GRPC.PERMISSION_DENIED:
      return new ProviderUnavailable(`Modal refused ${what} (PERMISSION_DENIED): ${msg}`);
    case GRPC.RESOURCE_EXHAUSTED:
      return new ProviderUnavailable(
        `Modal rate limit or quota (RESOURCE_EXHAUSTED) while ${what}, still refused after retrying: ${msg}`,
      );
    case GRPC.INVALID_ARGUMENT:
    case GRPC.NOT_FOUND:
    case GRPC.ALREADY_EXISTS:
    case GRPC.FAILED_PRECONDITION:
      return new InvalidRequest(`Modal refused ${what} (${codeName(code)}): ${msg}`);
    case GRPC.UNAVAILABLE:
      return new ProviderUnavailable(
        `Modal API unreachable${serverUrl ? ` at ${serverUrl}` : ''} while ${what}: ${msg}`,
      );
    case undefined:
      if (IMAGE_BUILD_FAILED.test(msg))
        return new InvalidRequest(`Modal could not build the image while ${what}: ${msg}`);
      return new ProviderUnavailable(`Modal: ${what} failed: ${msg}`);
    default:
      return new ProviderUnavailable(`Modal failed ${what} (${codeName(code)}): ${msg}`);
  }
}

function codeName(code: number): string {
  return Object.entries(GRPC).find(([, v]) => v === code)?.[0] ?? `gRPC ${code}`;
}

export interface Backoff {
  retries: number;
  baseMs: number;
  maxMs: number;
}

/** How long to wait before retry `attempt` (1-based): base, doubling, capped. */
export function retryDelayMs(b: Backoff, attempt: number): number {
  return Math.min(b.baseMs * 2 ** (attempt - 1), b.maxMs);
}

/** Runs `call`, retrying it up to `retries` times while Modal answers RESOURCE_EXHAUSTED, then maps any failure with {@link modalFailure}. */
export async function withModal<T>(
  what: string,
  call: () => Promise<T>,
  opts: Backoff & { serverUrl?: string; sleep?: (ms: number) => Promise<void> },
): Promise<T> {
  const sleep = opts.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (e: unknown) {
      if (grpcCode(e) === GRPC.RESOURCE_EXHAUSTED && attempt <= opts.retries) {
        await sleep(retryDelayMs(opts, attempt));
        continue;
      }
      throw modalFailure(e, what, opts.serverUrl);
    }
  }
}
