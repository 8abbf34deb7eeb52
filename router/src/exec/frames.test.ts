import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { agentFrame, clientFrame } from "./frames.ts";

const text = (s: string) => Buffer.from(s, "utf8");

describe("exec frames read by the router", () => {
  it("passes the protocol's frames, re-serialized", () => {
    assert.deepEqual(clientFrame(Buffer.of(0, 65), true), { ok: true, kind: "data" });
    const resize = clientFrame(text('{"type":"resize","cols":90,"rows":20}'), false);
    assert.ok(resize.ok && resize.kind === "control");
    assert.equal(resize.text, '{"type":"resize","cols":90,"rows":20}');
    assert.ok(agentFrame(text('{"type":"exit","exitCode":3}'), false).ok);
    assert.ok(agentFrame(Buffer.of(2, 1, 2), true).ok);
  });

  it("refuses anything else without throwing", () => {
    const bad: [Buffer, boolean][] = [
      [text("{"), false],
      [text(""), false],
      [text("null"), false],
      [text('"start"'), false],
      [text('{"type":"start","command":["/bin/sh"]}'), false],
      [text('{"type":"resize","cols":0,"rows":20}'), false],
      [text('{"type":"eof","extra":1}'), false],
      [Buffer.from([0xff, 0xfe, 0x00]), false],
      [Buffer.alloc(0), true],
      [Buffer.of(1, 65), true],
    ];
    for (const [data, binary] of bad) {
      const frame = clientFrame(data, binary);
      assert.equal(frame.ok, false, `${binary ? "binary" : "text"} ${data.toString("hex")}`);
    }
    for (const [data, binary] of [
      [text("not json"), false],
      [text('{"type":"exit"}'), false],
      [text('{"type":"bogus"}'), false],
      [Buffer.alloc(0), true],
      [Buffer.of(0, 65), true],
      [Buffer.of(9), true],
    ] as [Buffer, boolean][])
      assert.equal(agentFrame(data, binary).ok, false, data.toString("hex"));
  });
});
