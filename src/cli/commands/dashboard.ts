/**
 * @module `mctl dashboard`: prints a one-time login link to the dashboard (good for 5 minutes,
 * once) and opens it in the browser when asked (`--open`, or by default on a terminal).
 */
import { createRequire } from 'node:module';
import type { Command } from 'commander';
import { ctx } from '../context.js';
import { print } from '../output.js';

/** Opens `url` with the desktop's opener; failing quietly is right here (the link is printed). */
function openInBrowser(url: string): boolean {
  // Loaded here, not at the top: every mctl command shares this chunk, and child_process costs each ~1 ms.
  const { spawn } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
  const cmd = process.platform === 'darwin' ? 'open' : process.platform === 'win32' ? 'explorer' : 'xdg-open';
  try {
    const child = spawn(cmd, [url], { stdio: 'ignore', detached: true });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

export function dashboardCommands(program: Command): void {
  program
    .command('dashboard')
    .description('Print a one-time login link to the web dashboard (and open it)')
    .option('--open', 'open the link in the browser (default on a terminal)')
    .option('--no-open', 'only print the link')
    .action(async (o: { open?: boolean }, cmd: Command) => {
      const { api, out, tty } = ctx(cmd);
      const link = await api.createDashboardLink();
      const url = `${api.baseUrl}${link.path}`;
      print(out, { url, expiresAt: link.expiresAt }, () => url);
      const open = o.open ?? tty;
      if (open && out === 'table') {
        openInBrowser(url);
        process.stderr.write('opening it in your browser; the link works once, for 5 minutes\n');
      }
    });
}
