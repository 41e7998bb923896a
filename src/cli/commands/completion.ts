/**
 * @module `mctl completion bash|zsh|fish`: a shell completion script for every noun, verb and
 * option of mctl, generated from the command tree itself (so it never falls behind). Install:
 * `source <(mctl completion bash)`, `mctl completion zsh > "${fpath[1]}/_mctl"`,
 * `mctl completion fish > ~/.config/fish/completions/mctl.fish`.
 */
import type { Command } from 'commander';
import { CliError } from '../client.js';

interface Node {
  name: string;
  aliases: string[];
  description: string;
  options: string[];
  children: Node[];
}

function tree(c: Command): Node {
  return {
    name: c.name(),
    aliases: c.aliases(),
    description: c.description().split('\n')[0] ?? '',
    options: c.options.map((o) => o.long ?? o.short ?? '').filter(Boolean),
    children: c.commands.map(tree),
  };
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function bash(root: Node): string {
  const cases: string[] = [];
  const global = root.options.join(' ');
  cases.push(
    `    "") words=${q([...root.children.flatMap((c) => [c.name, ...c.aliases]), ...root.options].join(' '))} ;;`,
  );
  for (const noun of root.children) {
    const names = [noun.name, ...noun.aliases].join('|');
    cases.push(`    ${names}) words=${q([...noun.children.map((v) => v.name), ...noun.options, global].join(' '))} ;;`);
    for (const verb of noun.children)
      cases.push(
        `    ${names
          .split('|')
          .map((n) => `${n}/${verb.name}`)
          .join('|')}) words=${q([...verb.options, global].join(' '))} ;;`,
      );
  }
  return `# bash completion for mctl (mctl completion bash)
_mctl() {
  local cur=\${COMP_WORDS[COMP_CWORD]} path="" i w n=0 words
  for ((i = 1; i < COMP_CWORD; i++)); do
    w=\${COMP_WORDS[i]}
    case $w in --server | --token | --context | --ca-file | -o | --output) i=$((i + 1)); continue ;; esac
    [[ $w == -* ]] && continue
    if ((n < 2)); then path=\${path:+$path/}$w; n=$((n + 1)); fi
  done
  case "$path" in
${cases.join('\n')}
    *) words=${q(global)} ;;
  esac
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o default -F _mctl mctl
`;
}

function zsh(root: Node): string {
  return `#compdef mctl
# zsh completion for mctl (mctl completion zsh): uses the bash function through bashcompinit
autoload -U +X bashcompinit && bashcompinit
${bash(root)}`;
}

function fish(root: Node): string {
  const lines = ['# fish completion for mctl (mctl completion fish)', 'complete -c mctl -f'];
  const nouns = root.children.map((c) => c.name).join(' ');
  for (const noun of root.children) {
    lines.push(
      `complete -c mctl -n "not __fish_seen_subcommand_from ${nouns}" -a ${noun.name} -d ${q(noun.description)}`,
    );
    for (const verb of noun.children) {
      lines.push(
        `complete -c mctl -n "__fish_seen_subcommand_from ${noun.name}; and not __fish_seen_subcommand_from ${noun.children.map((v) => v.name).join(' ')}" -a ${verb.name} -d ${q(verb.description)}`,
      );
      for (const o of verb.options.filter((x) => x.startsWith('--')))
        lines.push(
          `complete -c mctl -n "__fish_seen_subcommand_from ${noun.name}; and __fish_seen_subcommand_from ${verb.name}" -l ${o.slice(2)}`,
        );
    }
  }
  for (const o of root.options.filter((x) => x.startsWith('--'))) lines.push(`complete -c mctl -l ${o.slice(2)}`);
  return `${lines.join('\n')}\n`;
}

/** `all` builds the program with every noun (the completion covers them all). */
export function completionCommand(program: Command, all: () => Promise<Command>): void {
  program
    .command('completion <shell>')
    .description('Print a shell completion script: bash, zsh or fish')
    .action(async (shell: string) => {
      const root = tree(await all());
      const make = { bash, zsh, fish }[shell as 'bash' | 'zsh' | 'fish'];
      if (!make) throw new CliError(`completion ${JSON.stringify(shell)}: expected bash, zsh or fish`);
      process.stdout.write(make(root));
    });
}
