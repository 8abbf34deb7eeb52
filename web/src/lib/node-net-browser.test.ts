import assert from "node:assert/strict";
import { isIP as nodeIsIP } from "node:net";
import { describe, it } from "node:test";
import { isIP } from "./node-net-browser.ts";

describe("the browser's node:net stand-in", () => {
  it("tells IPv4 and IPv6 addresses apart as Node does", () => {
    for (const address of [
      "1.2.3.4",
      "0.0.0.0",
      "255.255.255.255",
      "256.1.1.1",
      "01.2.3.4",
      "1.2.3",
      "1.2.3.4.5",
      "::",
      "::1",
      "fd00::",
      "fd00::/8",
      "1:2:3:4:5:6:7:8",
      "1:2:3:4:5:6:7:8:9",
      "1::2::3",
      "::ffff:1.2.3.4",
      "1:2:3:4:5:6:1.2.3.4",
      "1:2:3:4:5:6:7:1.2.3.4",
      "::1.2.3.4:1",
      "gggg::",
      "12345::",
      "1:2:3:4:5:6:7::",
      "::1:2:3:4:5:6:7",
      "",
      ":",
      "1:",
      " 1.2.3.4",
    ])
      assert.equal(isIP(address), nodeIsIP(address), JSON.stringify(address));
  });

  it("refuses zoned addresses, which CIDR fields refuse anyway", () => {
    assert.equal(isIP("fe80::1%eth0"), 0);
  });
});
