import assert from "node:assert/strict";
import { open } from "node:fs/promises";
import { describe, it } from "node:test";
import { daemonPath, ensureGuestDaemons, GUEST_DAEMONS, gondolinGuestSources } from "./build.ts";

/** Reads the ELF header and program headers: class, machine, and whether an interpreter is requested. */
async function elfInfo(
  path: string,
): Promise<{ is64: boolean; machine: number; dynamic: boolean }> {
  const file = await open(path, "r");
  try {
    const header = Buffer.alloc(64);
    await file.read(header, 0, 64, 0);
    assert.equal(header.subarray(0, 4).toString("latin1"), "\x7fELF", `${path} is not an ELF file`);
    const phoff = Number(header.readBigUInt64LE(0x20));
    const phentsize = header.readUInt16LE(0x36);
    const phnum = header.readUInt16LE(0x38);
    const table = Buffer.alloc(phentsize * phnum);
    await file.read(table, 0, table.length, phoff);
    const PT_INTERP = 3;
    const dynamic = Array.from({ length: phnum }, (_, i) =>
      table.readUInt32LE(i * phentsize),
    ).includes(PT_INTERP);
    return { is64: header[4] === 2, machine: header.readUInt16LE(0x12), dynamic };
  } finally {
    await file.close();
  }
}

describe("guest daemons", () => {
  it("are built from the installed gondolin package as static x86_64 binaries", async () => {
    const sources = await gondolinGuestSources();
    assert.match(sources.dir, /node_modules\/@earendil-works\/gondolin\/dist\/guest$/);
    const bin = await ensureGuestDaemons();
    assert.match(
      bin,
      new RegExp(`gondolin-${sources.version.replaceAll(".", "\\.")}-zig-0\\.16\\.0`),
    );
    const EM_X86_64 = 62;
    for (const daemon of GUEST_DAEMONS) {
      const info = await elfInfo(daemonPath(bin, daemon));
      assert.deepEqual(info, { is64: true, machine: EM_X86_64, dynamic: false }, daemon);
    }
  });
});
