/** Front port allocation (`FrontPorts`), without processes. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ephemeralPortRange, FrontPorts, FrontPortsExhausted } from "./ports.ts";

describe("front ports", () => {
  it("hands out the range in order, and a port to one sandbox at a time", () => {
    const ports = new FrontPorts({ first: 5000, last: 5002 });
    assert.equal(ports.reserve("a"), 5000);
    assert.equal(ports.reserve("b"), 5001);
    assert.equal(ports.reserve("a"), 5000, "a sandbox that holds a port keeps it");
    assert.equal(ports.reserve("c"), 5002);
    assert.throws(() => ports.reserve("d"), FrontPortsExhausted);
    assert.deepEqual(ports.range, { first: 5000, last: 5002 });
  });

  it("gives another sandbox the port released longest ago, and a sandbox its own previous port", () => {
    const ports = new FrontPorts({ first: 5000, last: 5003 });
    for (const uid of ["a", "b", "c", "d"]) ports.reserve(uid);
    ports.release("c");
    ports.release("a");
    ports.release("b");
    assert.equal(ports.reserve("e"), 5002, "c's port was released first");
    assert.equal(
      ports.reserve("b"),
      5001,
      "b gets its own port back (a reboot keeps its endpoint)",
    );
    assert.equal(ports.reserve("f"), 5000);
    ports.release("e");
    ports.release("f");
    // e's port 5002 was released before f's 5000: reused first.
    assert.equal(ports.reserve("g"), 5002);
  });

  it("moves a claimed warm VM's port to its sandbox, never free in between", () => {
    const ports = new FrontPorts({ first: 5000, last: 5001 });
    assert.equal(ports.reserve("warm-vm"), 5000);
    ports.transfer("warm-vm", "sandbox");
    assert.equal(ports.portOf("sandbox"), 5000);
    assert.equal(ports.portOf("warm-vm"), undefined);
    assert.equal(ports.reserve("other"), 5001, "the moved port is not handed out");
    ports.release("warm-vm");
    assert.equal(ports.portOf("sandbox"), 5000, "releasing the VM's id frees nothing");
    ports.release("sandbox");
    assert.equal(ports.reserve("next"), 5000);
  });

  it("adopts what running supervisors hold, inside the range or not", () => {
    const ports = new FrontPorts({ first: 5000, last: 5001 });
    ports.adopt("a", 5000);
    ports.adopt("old", 6000);
    assert.equal(ports.reserve("b"), 5001, "an adopted port is not handed out");
    assert.equal(ports.portOf("old"), 6000);
    ports.release("old");
    assert.throws(() => ports.reserve("c"), FrontPortsExhausted, "6000 is not the range's");
  });

  it("sets aside a port another process holds (EADDRINUSE) for a while", () => {
    let now = 1_000_000;
    const ports = new FrontPorts({ first: 5000, last: 5001 }, { now: () => now });
    assert.equal(ports.reserve("a"), 5000);
    ports.refused("a", 5000);
    assert.equal(ports.reserve("a"), 5001, "the next try takes another port");
    ports.release("a");
    assert.equal(ports.reserve("b"), 5001, "5000 is still set aside");
    assert.throws(() => ports.reserve("c"), FrontPortsExhausted);
    now += 10 * 60_000;
    assert.equal(ports.reserve("c"), 5000, "and comes back after ten minutes");
  });

  it("in ephemeral mode lets each supervisor bind any port, advertising the kernel's range", () => {
    const ports = new FrontPorts("ephemeral");
    assert.equal(ports.reserve("a"), 0);
    ports.adopt("a", 45_678);
    assert.equal(ports.portOf("a"), 45_678);
    assert.deepEqual(ports.range, ephemeralPortRange());
    assert.ok(ports.range.first >= 1024 && ports.range.last <= 65_535);
  });
});
