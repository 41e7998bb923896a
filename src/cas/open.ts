/**
 * @module Opens the configured backend from typed options (the config layer parses the file and
 * environment; this module reads neither). Filesystem: `$MARIONETTE_HOME/cas` unless a root is
 * given. S3: bucket, prefix, endpoint, region; credentials from the AWS SDK's standard chain.
 */
import { join } from 'node:path';
import { FsBackend } from './fs-backend.js';
import { S3Backend } from './s3-backend.js';
import type { ChunkBackend } from './types.js';

export type StoreOptions =
  | { kind: 'filesystem'; root?: string; fsync?: boolean }
  | { kind: 's3'; bucket: string; prefix?: string; endpoint?: string; region?: string };

/**
 * @example
 *   const backend = openBackend({ kind: 'filesystem' }, home);          // <home>/cas
 *   const backend = openBackend({ kind: 's3', bucket: 'ws', prefix: 'prod/' }, home);
 */
export function openBackend(opts: StoreOptions, home: string): ChunkBackend {
  switch (opts.kind) {
    case 'filesystem':
      return new FsBackend(opts.root ?? join(home, 'cas'), opts.fsync === undefined ? {} : { fsync: opts.fsync });
    case 's3':
      return new S3Backend({
        bucket: opts.bucket,
        ...(opts.prefix === undefined ? {} : { prefix: opts.prefix }),
        ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
        ...(opts.region === undefined ? {} : { region: opts.region }),
      });
  }
}
