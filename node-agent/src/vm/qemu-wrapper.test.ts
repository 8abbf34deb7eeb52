import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { chmod, mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { promisify } from "node:util";
import { qemuWrapper } from "./qemu-wrapper.ts";

const run = promisify(execFile);

describe("the QEMU wrapper", () => {
  const dirs: string[] = [];
  const scratch = async () => {
    const dir = await mkdtemp(join(tmpdir(), "turgon-qemu-wrapper-test-"));
    dirs.push(dir);
    return dir;
  };
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it("runs the real program with the caller's arguments, then its own, quoted as given", async () => {
    const wrapper = await qemuWrapper("/bin/echo", ["-object", "it's $HOME; `x`"], await scratch());
    assert.match(wrapper, /\/echo$/, "the wrapper keeps the program's own name");
    const { stdout } = await run(wrapper, ["-m", "256M"]);
    assert.equal(stdout, "-m 256M -object it's $HOME; `x`\n");
  });

  it("is written once per content, and another content is another file", async () => {
    const dir = await scratch();
    const first = await qemuWrapper("/bin/echo", ["a"], dir);
    const written = (await stat(first)).mtimeMs;
    assert.equal(await qemuWrapper("/bin/echo", ["a"], dir), first);
    assert.equal((await stat(first)).mtimeMs, written);
    const other = await qemuWrapper("/bin/echo", ["b"], dir);
    assert.notEqual(other, first);
    assert.match(await readFile(other, "utf8"), /'b'/);
    assert.equal((await stat(other)).mode & 0o777, 0o700);
  });

  it("refuses a directory it cannot write, naming why", async () => {
    const dir = await scratch();
    const file = await qemuWrapper("/bin/echo", ["a"], dir);
    await assert.rejects(
      qemuWrapper("/bin/echo", ["a"], join(file, "not-a-directory")),
      /cannot write a QEMU wrapper: .*ENOTDIR/,
    );
  });

  it("refuses a shared directory under the temporary directory (anyone could plant a script)", async () => {
    const tmp = await scratch();
    const shared = join(tmp, `turgon-qemu-${process.getuid?.() ?? 0}`);
    await mkdir(shared);
    await chmod(shared, 0o777);
    const previous = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      await assert.rejects(qemuWrapper("/bin/echo", ["a"]), /is not a private directory/);
    } finally {
      if (previous === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = previous;
    }
  });
});
