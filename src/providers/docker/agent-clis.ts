/**
 * @module Agent CLIs for the docker agent image (`marionette images build --with claude,codex`):
 * the pinned npm packages of each built-in agent, installed on this machine with npm into a folder
 * under `$MARIONETTE_HOME/agent-clis/`, which the image build copies in (at the same path), with
 * each CLI linked from `/usr/local/bin`. The versions are the ones the built-in cards were checked
 * against (docs/agents.md); `name@version` picks another.
 */
import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { InvalidRequest, ProviderUnavailable, toError } from '../../core/errors.js';

const execFileP = promisify(execFile);

/** Each built-in agent's npm package, the version its card was checked against, and its binary. */
export const AGENT_CLI_PACKAGES: Readonly<Record<string, { pkg: string; version: string; bin: string }>> = {
  claude: { pkg: '@anthropic-ai/claude-code', version: '2.1.332', bin: 'claude' },
  codex: { pkg: '@openai/codex', version: '0.171.0', bin: 'codex' },
  gemini: { pkg: '@google/gemini-cli', version: '0.61.0', bin: 'gemini' },
  opencode: { pkg: 'opencode-ai', version: '1.18.33', bin: 'opencode' },
};

export interface AgentCliSpec {
  name: string;
  pkg: string;
  version: string;
  bin: string;
}

/** Parses `claude,codex@0.172.0`; an unknown name is a clear error. */
export function parseWith(list: string): AgentCliSpec[] {
  const out: AgentCliSpec[] = [];
  for (const item of list
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const [name, version] = item.split('@') as [string, string | undefined];
    const known = AGENT_CLI_PACKAGES[name];
    if (!known)
      throw new InvalidRequest(
        `--with ${JSON.stringify(item)}: unknown agent; expected some of ${Object.keys(AGENT_CLI_PACKAGES).join(', ')} (optionally name@version)`,
      );
    if (version !== undefined && !/^[0-9A-Za-z.+-]+$/.test(version))
      throw new InvalidRequest(`--with ${JSON.stringify(item)}: ${JSON.stringify(version)} is not a version`);
    out.push({ name, pkg: known.pkg, version: version ?? known.version, bin: known.bin });
  }
  return out;
}

/**
 * Installs the CLIs with npm into `<home>/agent-clis/<names and versions>` (reused when already
 * there) and returns the folder and the `/usr/local/bin` links for the image.
 */
export async function installAgentClis(
  home: string,
  specs: AgentCliSpec[],
  npm = 'npm',
): Promise<{ dir: string; links: { path: string; target: string }[] }> {
  const key = specs.map((s) => `${s.name}-${s.version}`).join('_');
  const dir = join(home, 'agent-clis', key);
  mkdirSync(dir, { recursive: true });
  try {
    await execFileP(
      npm,
      [
        'install',
        '--prefix',
        dir,
        '--no-audit',
        '--no-fund',
        '--no-save',
        ...specs.map((s) => `${s.pkg}@${s.version}`),
      ],
      { maxBuffer: 16 * 1024 * 1024, timeout: 15 * 60_000 },
    );
  } catch (e: unknown) {
    throw new ProviderUnavailable(
      `installing ${specs.map((s) => s.name).join(', ')} with npm failed: ${toError(e).message}`,
    );
  }
  return {
    dir,
    links: specs.map((s) => ({ path: `/usr/local/bin/${s.bin}`, target: join(dir, 'node_modules', '.bin', s.bin) })),
  };
}
