/**
 * Closing a terminal hangs its session up, as closing a real terminal does.
 * Gondolin keeps a guest pty open after the host ends its stdin, so no
 * SIGHUP reaches the guest by itself: an interactive session's command is
 * started through `sh`, which writes its pid (the session leader, which
 * sandboxd gives the pty) to a file in the guest, and a closed tab runs
 * `hangUpScript` there, which sends SIGHUP to every process of that
 * session. Processes the user moved out of it (`setsid`) or that ignore
 * SIGHUP (`nohup`) live on, as they would on a real terminal.
 */

/** Where the guest keeps the session leaders' pids (tmpfs, gone with the VM). */
const LEADERS_DIR = "/run/turgon/exec";

/** The file holding the pid of session `id`'s leader. */
export function leaderFile(id: string): string {
  return `${LEADERS_DIR}/${id}.pid`;
}

/**
 * `command` started so that its pid lands in `file` first: same pid, same environment. A
 * string runs through a login shell, as Gondolin runs one.
 */
export function recordingLeader(file: string, command: string | string[]): string[] {
  const argv = typeof command === "string" ? ["/bin/sh", "-lc", command] : command;
  return [
    "/bin/sh",
    "-c",
    'mkdir -p "$(dirname "$0")" && echo $$ > "$0" && exec "$@"',
    file,
    ...argv,
  ];
}

/**
 * `sh -c hangUpScript <file>`: SIGHUP to every process whose session is the
 * one the file names, and the file removed. When that pid does not lead a
 * session (it cannot tell whose session it is in), only the pid itself.
 * Fields of /proc/<pid>/stat after the command name: state ppid pgrp session.
 */
export const HANG_UP_SCRIPT = `
leader=$(cat "$1" 2>/dev/null) || exit 0
rm -f "$1"
session_of() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f4; }
if [ "$(session_of "$leader")" = "$leader" ]; then
  for stat in /proc/[0-9]*/stat; do
    pid=\${stat#/proc/}; pid=\${pid%/stat}
    [ "$(session_of "$pid")" = "$leader" ] && kill -HUP "$pid" 2>/dev/null
  done
else
  kill -HUP "$leader" 2>/dev/null
fi
exit 0
`;

/** The argv that hangs up the session whose leader's pid is in `file`. */
export function hangUpCommand(file: string): string[] {
  return ["/bin/sh", "-c", HANG_UP_SCRIPT, "hang-up", file];
}
