import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ExecClientControl, ExecServerControl } from "@turgon/api/agent";
import {
  binaryStdinFrame,
  describeEnd,
  readServerFrame,
  resizeMessage,
  stdinFrame,
} from "./protocol.ts";

const buffer = (...bytes: number[]) => Uint8Array.from(bytes).buffer;

describe("the terminal's exec frames", () => {
  it("sends typed text as UTF-8 on the stdin channel, and onBinary data byte for byte", () => {
    assert.deepEqual([...stdinFrame("é\r")], [0, 0xc3, 0xa9, 13]);
    assert.deepEqual([...binaryStdinFrame("\x1b[M\xff")], [0, 0x1b, 0x5b, 0x4d, 0xff]);
  });

  it("sends resize messages the router and agent accept", () => {
    const message = JSON.parse(resizeMessage(120, 40));
    assert.deepEqual(ExecClientControl.parse(message), { type: "resize", cols: 120, rows: 40 });
  });

  it("reads output of both streams and each server control message", () => {
    const out = readServerFrame(buffer(1, 104, 105));
    assert.equal(out.kind, "output");
    assert.deepEqual(out.kind === "output" && [out.stream, [...out.data]], ["stdout", [104, 105]]);
    const err = readServerFrame(buffer(2, 33));
    assert.equal(err.kind === "output" && err.stream, "stderr");
    for (const control of [
      { type: "started" },
      { type: "exit", exitCode: 3 },
      { type: "exit", exitCode: 130, signal: 2 },
      { type: "error", message: "sandbox x is Stopped" },
    ] as const) {
      const frame = readServerFrame(JSON.stringify(control));
      assert.equal(frame.kind, "control", JSON.stringify(control));
      assert.deepEqual(frame.kind === "control" && ExecServerControl.parse(frame.control), control);
    }
  });

  it("calls anything else malformed, never throwing", () => {
    for (const data of [
      buffer(),
      buffer(0, 1),
      buffer(9),
      "not json",
      "null",
      "{}",
      '{"type":"exit"}',
    ])
      assert.equal(readServerFrame(data).kind, "malformed", String(data));
  });

  it("says how a session ended: the exit status first, else why the socket closed", () => {
    assert.equal(describeEnd({ exitCode: 3, closeCode: 1000 }), "Process exited with status 3");
    assert.equal(
      describeEnd({ exitCode: 130, signal: 2 }),
      "Process exited with status 130 (signal 2)",
    );
    assert.equal(
      describeEnd({ error: "exec failed", closeCode: 1011 }),
      "The session ended: exec failed",
    );
    assert.match(describeEnd({ closeCode: 1006 }), /failed or dropped/);
    assert.equal(describeEnd({ closeCode: 1001 }), "The connection closed (code 1001)");
  });
});
