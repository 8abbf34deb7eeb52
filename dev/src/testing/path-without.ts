import { access, constants, mkdtemp, readdir, stat, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/**
 * A PATH of one fresh directory holding a link to every program the given
 * PATH finds, except `missing`: the machine as it is, without those tools,
 * whatever directories they happen to live in (Go in /usr/local/go/bin or
 * in /usr/bin beside everything else). Returns the directory (the caller
 * removes it).
 */
export async function pathWithout(
  missing: string[],
  path: string = process.env.PATH ?? "",
): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "turgon-path-without-"));
  const linked = new Set(missing);
  for (const from of path.split(delimiter).filter(Boolean)) {
    const names = await readdir(from).catch(() => [] as string[]);
    for (const name of names) {
      if (linked.has(name)) continue;
      const target = join(from, name);
      const runnable =
        (await stat(target).then(
          (s) => s.isFile(),
          () => false,
        )) &&
        (await access(target, constants.X_OK).then(
          () => true,
          () => false,
        ));
      if (!runnable) continue;
      // The first directory on PATH that has a program wins, as for the shell.
      linked.add(name);
      await symlink(target, join(dir, name));
    }
  }
  return dir;
}
