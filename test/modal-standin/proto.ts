/**
 * @module The Modal SDK's own generated gRPC service definitions, for the stand-in (test support,
 * never shipped): `modal.client.ModalClient` (the control plane) and
 * `modal.task_command_router.TaskCommandRouter` (the per-task router the SDK's filesystem
 * snapshot goes through). The `modal` package ships them (ts-proto output, with each message's
 * encode/decode) inside its bundle without exporting them, so the bundle's CommonJS build is
 * evaluated once more in a function scope that returns the two definitions, with `require`
 * resolving from the package's own folder. Nothing is written to disk and nothing is copied: the
 * stand-in speaks exactly the wire format of the SDK version installed.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/** A ts-proto message codec, as nice-grpc reads it. */
export interface MessageType {
  encode(m: unknown): { finish(): Uint8Array };
  decode(b: Uint8Array): unknown;
  fromPartial?(m: unknown): unknown;
}

/** A ts-proto generic service definition (what nice-grpc's server accepts). */
export interface ServiceDefinition {
  name: string;
  fullName: string;
  methods: Record<
    string,
    {
      name: string;
      requestType: MessageType;
      responseType: MessageType;
      requestStream: boolean;
      responseStream: boolean;
      options: object;
    }
  >;
}

export interface ModalDefinitions {
  client: ServiceDefinition;
  router: ServiceDefinition;
}

let loaded: ModalDefinitions | undefined;

/** The SDK's ModalClient and TaskCommandRouter definitions (evaluated once per process). */
export function modalDefinitions(): ModalDefinitions {
  if (loaded) return loaded;
  const here = createRequire(import.meta.url);
  const file = here.resolve('modal').replace(/index\.js$/, 'index.cjs');
  const req = createRequire(file);
  const src = readFileSync(file, 'utf8');
  const mod = { exports: {} };
  const run = new Function(
    'require',
    'module',
    'exports',
    '__filename',
    '__dirname',
    `${src}\n;return { client: ModalClientDefinition, router: TaskCommandRouterDefinition };`,
  ) as (...a: unknown[]) => ModalDefinitions;
  loaded = run(req, mod, mod.exports, file, dirname(file));
  if (!loaded.client?.methods?.sandboxCreate || !loaded.router?.methods?.taskSnapshotFilesystem)
    throw new Error(`the modal SDK at ${file} has no ModalClient/TaskCommandRouter definitions this stand-in knows`);
  return loaded;
}
