import type { SandboxVm } from "../vm/launcher.ts";

/**
 * The sandbox's env for SSH sessions.
 *
 * Gondolin gives every `vm.exec` the VM's env (spec.env and the secret
 * placeholders), but sshd builds a fresh environment for each session, and
 * neither sshd's `SetEnv` nor PAM's env files can carry a value with a
 * newline. So the agent writes the env as a shell script on the guest's
 * tmpfs `/run` and has the SSH user's shells source it:
 *
 * - `~/.profile` (and `~/.bash_profile` / `~/.bash_login` if present, which
 *   bash reads instead): login shells, i.e. interactive `ssh host`;
 * - `~/.bashrc`: `ssh host 'cmd'` runs `bash -c 'cmd'`, and Debian's bash
 *   reads `~/.bashrc` when sshd starts it (SSH_SOURCE_BASHRC); also
 *   interactive shells that are not login shells.
 *
 * The hook line goes first, so the user's own dotfiles still win, and it is
 * added once. Turgon's guest keeps `/root` on tmpfs, so this works on a
 * read-only root disk too. Only placeholders ever reach the guest, never
 * secret values.
 */
export const SESSION_ENV_FILE = "/run/turgon/env.sh";

const HOOK = `if [ -r ${SESSION_ENV_FILE} ]; then . ${SESSION_ENV_FILE}; fi # turgon: the sandbox's env`;

/** `value` as one single-quoted shell word: quotes, `$`, backslashes and newlines stay verbatim. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** The env as a POSIX shell script of `export` lines, names sorted. */
export function envScript(env: Record<string, string>): string {
  const lines = Object.keys(env)
    .sort()
    .map((name) => `export ${name}=${shellQuote(env[name] as string)}`);
  return `# The sandbox's env (spec.env, secret placeholders), written by the Turgon agent.\n${lines.join("\n")}\n`;
}

/** Runs in the guest as root: $1 is the SSH user, stdin the env script. */
const INSTALL = `set -eu
home=$(getent passwd "$1" | cut -d: -f6 || true)
[ -n "$home" ] || home=/root
mkdir -p /run/turgon "$home"
cat >${SESSION_ENV_FILE}.new
chmod 644 ${SESSION_ENV_FILE}.new
mv ${SESSION_ENV_FILE}.new ${SESSION_ENV_FILE}
hook=${shellQuote(HOOK)}
for rc in .profile .bashrc .bash_profile .bash_login; do
  file="$home/$rc"
  case $rc in .bash_profile | .bash_login) [ -f "$file" ] || continue ;; esac
  if [ -f "$file" ] && grep -qxF "$hook" "$file"; then continue; fi
  { printf '%s\\n' "$hook"; cat "$file" 2>/dev/null || true; } >"$file.turgon"
  chown "$1:" "$file.turgon" 2>/dev/null || true
  mv "$file.turgon" "$file"
done
`;

export class SessionEnvError extends Error {}

/** Writes the env and the shell hooks that load it into the guest (idempotent). */
export async function installSessionEnv(
  vm: SandboxVm,
  user: string,
  env: Record<string, string>,
): Promise<void> {
  const result = await vm.exec(["/bin/sh", "-c", INSTALL, "turgon-session-env", user], {
    stdin: envScript(env),
  });
  if (result.exitCode !== 0)
    throw new SessionEnvError(
      `could not give SSH sessions the sandbox's env (exit ${result.exitCode}): ${result.stderr.trim()}`,
    );
}
