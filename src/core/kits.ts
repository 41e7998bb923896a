/**
 * @module Toolchain kits and their composition (pure). A kit is `id@version` with the OSes it runs
 * on, an optional `detect` command (the toolchain is already there: skip the install), install
 * commands, post-clone hooks (`postAcquire`), best-effort teardown hooks (`preRelease`) and env
 * (PATH augmentation). An agent card's kits and a session's `--kit`s compose, in that order, into
 * the seed's `ComposedToolchainDemand`, which is threaded onto the work item and run by the runner
 * (src/agent/kits.ts), never by a provider.
 *
 * Composition rules: compose order kept; a kit named twice is taken once; an install command two
 * kits share runs once; two versions of one kit are an error naming both and where each came
 * from; two kits setting one env name to different values are an error, except `PATH`, where a
 * later kit's `$PATH` stands for the earlier kits' value.
 */
import { InvalidRequest } from './errors.js';

export interface Kit {
  id: string;
  version: string;
  /** The OSes (Node's `process.platform` names: linux, darwin) the kit installs on. */
  os: string[];
  /** A shell command that exits 0 when the toolchain is already there (the install is skipped). */
  detect: string | null;
  installCommands: string[];
  postAcquire: string[];
  preRelease: string[];
  env: Record<string, string>;
  description: string;
  builtIn: boolean;
}

/** One kit of a demand, as the runner runs it (the seed's flat lists lose which kit a command is from). */
export interface KitUnit {
  ref: string;
  os: string[];
  detect: string | null;
  installCommands: string[];
  postAcquire: string[];
  preRelease: string[];
}

/** The seed's kit demand shape, plus `units` (per kit, for detect and for naming a failing kit). */
export interface ComposedToolchainDemand {
  /** `kitId@version` entries, in compose order. */
  kits: string[];
  os: string;
  /** Ordered, deduplicated installs. */
  installCommands: string[];
  /** Post-clone hooks (`npm ci`, `go mod download`). */
  postAcquire: string[];
  /** Teardown hooks, best-effort. */
  preRelease: string[];
  env: Record<string, string>;
  units: KitUnit[];
}

export const KIT_ID = /^[a-z0-9][a-z0-9._-]{0,62}$/;
export const KIT_VERSION = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$/;

/** Splits `id@version` (`id` alone: version null); throws InvalidRequest naming the bad reference. */
export function parseKitRef(ref: string): { id: string; version: string | null } {
  const at = ref.indexOf('@');
  const id = at < 0 ? ref : ref.slice(0, at);
  const version = at < 0 ? null : ref.slice(at + 1);
  if (!KIT_ID.test(id) || (version !== null && !KIT_VERSION.test(version)))
    throw new InvalidRequest(`kit ${JSON.stringify(ref)} is not a kit reference`, {
      hint: 'write id@version (e.g. node@system or mytool@1.0); ids are lower case letters, digits, . _ -',
    });
  return { id, version };
}

export const kitRef = (k: Pick<Kit, 'id' | 'version'>): string => `${k.id}@${k.version}`;

/** Where a kit reference in a composition came from (named in conflicts). */
export interface KitRequest {
  ref: string;
  from: string;
}

/**
 * Finds the kit a reference names among `known` (the org's, then the config's, then the built-in
 * kits: the first list holding the id wins). Without a version the reference takes the only
 * version known; with several it is an error listing them.
 */
export function resolveKit(ref: string, known: readonly Kit[]): Kit {
  const { id, version } = parseKitRef(ref);
  const same = known.filter((k) => k.id === id);
  if (!same.length)
    throw new InvalidRequest(`unknown kit ${JSON.stringify(ref)}`, { hint: 'list kits with `mctl kits list`' });
  if (version === null) {
    const versions = [...new Set(same.map((k) => k.version))];
    if (versions.length > 1)
      throw new InvalidRequest(`kit ${id} has several versions (${versions.join(', ')}); name one as ${id}@VERSION`);
    return same[0]!;
  }
  const k = same.find((x) => x.version === version);
  if (!k)
    throw new InvalidRequest(
      `unknown kit ${JSON.stringify(ref)}: kit ${id} has version ${[...new Set(same.map((x) => x.version))].join(', ')}`,
      { hint: 'list kits with `mctl kits list`' },
    );
  return k;
}

const PATH_REF = /\$\{PATH\}|\$PATH(?![A-Za-z0-9_])/g;

/**
 * Composes requested kits into one demand. `requests` in compose order (the card's kits, then the
 * session's); throws InvalidRequest for an unknown kit, two versions of one kit, or an env clash.
 *
 * @example composeKits([{ ref: 'node', from: 'agent card claude' }], BUILTIN_KITS)
 */
export function composeKits(
  requests: readonly KitRequest[],
  known: readonly Kit[],
  os = 'linux',
): ComposedToolchainDemand {
  const chosen: { kit: Kit; from: string }[] = [];
  for (const r of requests) {
    const kit = resolveKit(r.ref, known);
    const prior = chosen.find((c) => c.kit.id === kit.id);
    if (prior) {
      if (prior.kit.version !== kit.version)
        throw new InvalidRequest(
          `kit ${kit.id}: ${kitRef(prior.kit)} (from ${prior.from}) conflicts with ${kitRef(kit)} (from ${r.from})`,
          { hint: `ask for one version of ${kit.id}` },
        );
      continue;
    }
    chosen.push({ kit, from: r.from });
  }
  const installs = new Set<string>();
  const post = new Set<string>();
  const pre = new Set<string>();
  const env: Record<string, string> = {};
  const envFrom: Record<string, string> = {};
  const units: KitUnit[] = [];
  for (const { kit } of chosen) {
    const ref = kitRef(kit);
    for (const c of kit.installCommands) installs.add(c);
    for (const c of kit.postAcquire) post.add(c);
    for (const c of kit.preRelease) pre.add(c);
    for (const [name, value] of Object.entries(kit.env)) {
      const prev = env[name];
      if (name === 'PATH') env.PATH = prev === undefined ? value : value.replace(PATH_REF, () => prev);
      else if (prev !== undefined && prev !== value)
        throw new InvalidRequest(
          `kits ${envFrom[name]} and ${ref} set ${name} differently (${JSON.stringify(prev)} and ${JSON.stringify(value)})`,
        );
      else env[name] = value;
      envFrom[name] = ref;
    }
    units.push({
      ref,
      os: kit.os,
      detect: kit.detect,
      installCommands: kit.installCommands,
      postAcquire: kit.postAcquire,
      preRelease: kit.preRelease,
    });
  }
  return {
    kits: units.map((u) => u.ref),
    os,
    installCommands: [...installs],
    postAcquire: [...post],
    preRelease: [...pre],
    env,
    units,
  };
}

/** A shell snippet that installs packages with whichever package manager the machine has. */
function pkgInstall(pkgs: { apt: string; apk: string; dnf: string; brew: string }): string {
  return [
    `if command -v apt-get >/dev/null 2>&1; then (apt-get update -qq || true) && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${pkgs.apt}`,
    `elif command -v apk >/dev/null 2>&1; then apk add --no-cache ${pkgs.apk}`,
    `elif command -v dnf >/dev/null 2>&1; then dnf install -y ${pkgs.dnf}`,
    `elif command -v brew >/dev/null 2>&1; then brew install ${pkgs.brew}`,
    `else echo "no package manager found (apt-get, apk, dnf, brew)" >&2; exit 1; fi`,
  ].join('; ');
}

const builtin = (k: Omit<Kit, 'builtIn' | 'version' | 'os'> & Partial<Pick<Kit, 'os'>>): Kit => ({
  version: 'system',
  os: ['linux', 'darwin'],
  ...k,
  builtIn: true,
});

/**
 * The built-in kits: the common toolchains at the version the runner machine's package manager
 * has (`@system`), skipped when already installed (`detect`), with each ecosystem's dependency
 * fetch as the post-clone hook when the repository has its manifest.
 */
export const BUILTIN_KITS: readonly Kit[] = Object.freeze([
  builtin({
    id: 'node',
    description: 'Node.js and npm from the package manager; `npm ci` (or `npm install`) after the clone',
    detect: 'command -v node && command -v npm',
    installCommands: [pkgInstall({ apt: 'nodejs npm', apk: 'nodejs npm', dnf: 'nodejs npm', brew: 'node' })],
    postAcquire: ['if [ -f package-lock.json ]; then npm ci; elif [ -f package.json ]; then npm install; fi'],
    preRelease: [],
    env: {},
  }),
  builtin({
    id: 'python',
    description: 'Python 3 and pip; installs requirements.txt after the clone',
    detect: 'command -v python3 && python3 -m pip --version',
    installCommands: [
      pkgInstall({
        apt: 'python3 python3-pip python3-venv',
        apk: 'python3 py3-pip',
        dnf: 'python3 python3-pip',
        brew: 'python',
      }),
    ],
    postAcquire: ['if [ -f requirements.txt ]; then python3 -m pip install -r requirements.txt; fi'],
    preRelease: [],
    env: {},
  }),
  builtin({
    id: 'go',
    description: 'Go from the package manager; `go mod download` after the clone',
    detect: 'command -v go',
    installCommands: [pkgInstall({ apt: 'golang-go', apk: 'go', dnf: 'golang', brew: 'go' })],
    postAcquire: ['if [ -f go.mod ]; then go mod download; fi'],
    preRelease: [],
    env: { PATH: '$PATH:$HOME/go/bin' },
  }),
  builtin({
    id: 'rust',
    description: 'Rust (cargo, rustc) from the package manager; `cargo fetch` after the clone',
    detect: 'command -v cargo && command -v rustc',
    installCommands: [pkgInstall({ apt: 'cargo rustc', apk: 'cargo rust', dnf: 'cargo rust', brew: 'rust' })],
    postAcquire: ['if [ -f Cargo.toml ]; then cargo fetch; fi'],
    preRelease: [],
    env: { PATH: '$PATH:$HOME/.cargo/bin' },
  }),
  builtin({
    id: 'java',
    description: 'A JDK and Maven from the package manager; Maven dependencies after the clone',
    detect: 'command -v java && command -v javac',
    installCommands: [
      pkgInstall({
        apt: 'default-jdk-headless maven',
        apk: 'openjdk17 maven',
        dnf: 'java-17-openjdk-devel maven',
        brew: 'openjdk maven',
      }),
    ],
    postAcquire: ['if [ -f pom.xml ] && command -v mvn >/dev/null; then mvn -q -B dependency:go-offline; fi'],
    preRelease: [],
    env: {},
  }),
]);

/** A kit as written in marionette.yaml or an API body (snake_case in the file, camelCase in JSON). */
export interface KitInput {
  id: string;
  version: string;
  os?: string[] | undefined;
  detect?: string | null | undefined;
  installCommands?: string[] | undefined;
  postAcquire?: string[] | undefined;
  preRelease?: string[] | undefined;
  env?: Record<string, string> | undefined;
  description?: string | undefined;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks a user kit; throws InvalidRequest naming the bad field. */
export function makeKit(k: KitInput, where: string): Kit {
  if (!KIT_ID.test(k.id))
    throw new InvalidRequest(
      `${where}: id ${JSON.stringify(k.id)} is not a kit id (lower case letters, digits, . _ -)`,
    );
  if (!KIT_VERSION.test(k.version))
    throw new InvalidRequest(`${where}: version ${JSON.stringify(k.version)} is not a kit version`);
  for (const name of Object.keys(k.env ?? {}))
    if (!ENV_NAME.test(name)) throw new InvalidRequest(`${where}: env name ${JSON.stringify(name)} is not valid`);
  const os = k.os ?? ['linux', 'darwin'];
  if (!os.length) throw new InvalidRequest(`${where}: os lists no OS`);
  return {
    id: k.id,
    version: k.version,
    os,
    detect: k.detect?.trim() ? k.detect : null,
    installCommands: k.installCommands ?? [],
    postAcquire: k.postAcquire ?? [],
    preRelease: k.preRelease ?? [],
    env: k.env ?? {},
    description: k.description ?? '',
    builtIn: false,
  };
}
