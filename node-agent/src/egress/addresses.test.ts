import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AddressRules, unmapIpv4 } from "./addresses.ts";

describe("egress address rules", () => {
  const rules = new AddressRules({
    platformCidrs: ["10.96.0.0/12"],
    nodeAddresses: () => ["203.0.113.1", "2001:db8::1"],
  });
  const kind = (ip: string) => rules.classify(ip).kind;

  it("puts the host, metadata, special-purpose ranges and embedded IPv4 on the floor", () => {
    for (const ip of [
      "127.0.0.1",
      "127.8.9.10",
      "0.0.0.0",
      "169.254.169.254",
      "100.100.100.200",
      "192.0.0.8",
      "198.18.0.1",
      "198.19.255.255",
      "224.0.0.1",
      "239.255.255.250",
      "255.255.255.255",
      "::",
      "::1",
      "[::1]",
      "::ffff:127.0.0.1",
      "::ffff:7f00:1",
      "::ffff:169.254.169.254",
      "::127.0.0.1",
      "64:ff9b::7f00:1",
      "64:ff9b:1::1",
      "2002:7f00:1::",
      "2001:0:4136:e378::1",
      "fe80::1",
      "fe80::1%eth0",
      "ff02::1",
      "fd00:ec2::254",
    ])
      assert.equal(kind(ip), "floor", ip);
  });

  it("puts the node's own addresses and the platform's ranges on the floor", () => {
    assert.equal(kind("203.0.113.1"), "floor");
    assert.equal(kind("2001:db8::1"), "floor");
    assert.equal(kind("10.96.0.1"), "floor");
    assert.match(JSON.stringify(rules.classify("10.100.1.1")), /platform service address/);
  });

  it("calls private networks internal and everything else public", () => {
    for (const ip of [
      "10.0.0.1",
      "172.16.5.4",
      "192.168.1.1",
      "100.64.0.1",
      "fd12::1",
      "::ffff:10.0.0.1",
    ])
      assert.equal(kind(ip), "internal", ip);
    for (const ip of ["203.0.113.2", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "172.32.0.1"])
      assert.equal(kind(ip), "public", ip);
  });

  it("treats anything that is not an address as the floor", () => {
    assert.equal(kind("localhost"), "floor");
    assert.equal(kind(""), "floor");
  });

  it("unmaps IPv4-mapped IPv6 in either spelling", () => {
    assert.equal(unmapIpv4("::ffff:127.0.0.1"), "127.0.0.1");
    assert.equal(unmapIpv4("::FFFF:7F00:0001"), "127.0.0.1");
    assert.equal(unmapIpv4("0:0:0:0:0:ffff:a9fe:a9fe"), "169.254.169.254");
    assert.equal(unmapIpv4("2001:db8::1"), "2001:db8::1");
    assert.equal(unmapIpv4("10.0.0.1"), "10.0.0.1");
  });
});
