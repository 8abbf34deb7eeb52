/**
 * LiveSecretHooks over Gondolin's real createHttpHooks, without a VM: the
 * hooks object a VM holds stays the same while secret names come and go,
 * kept secrets keep their placeholders, a new one is substituted for its
 * hosts only, and a removed one is substituted no more. (agent.test.ts
 * shows the same on a running VM.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LiveSecretHooks, type PolicyHooks } from "./live-secrets.ts";

const openPolicy: PolicyHooks = {
  onRequest: () => undefined,
  isRequestAllowed: () => true,
  isIpAllowed: () => true,
  onResponse: () => undefined,
};

/** The Authorization header that would leave the host for `url`, or the error refusing it. */
async function sent(live: LiveSecretHooks, url: string, authorization: string): Promise<string> {
  const out = await live.httpHooks.onRequest?.(new Request(url, { headers: { authorization } }));
  assert.ok(out instanceof Request, "a request goes on");
  return out.headers.get("authorization") ?? "";
}

describe("live secret hooks", () => {
  it("adds a name without new hooks for the VM; kept secrets keep their placeholder", async () => {
    const live = new LiveSecretHooks(openPolicy, [
      { name: "A", hosts: ["a.example"], value: "value-a" },
    ]);
    const hooks = live.httpHooks;
    const a = live.placeholderEnv().A as string;
    assert.ok(a && !a.includes("value-a"));

    assert.deepEqual(
      live.update([
        { name: "A", hosts: ["a.example"], value: "value-a" },
        { name: "B", hosts: ["b.example"], value: "value-b" },
      ]),
      { added: ["B"], removed: [] },
    );
    assert.equal(live.httpHooks, hooks, "the VM's hooks object is the same");
    assert.equal(live.placeholderEnv().A, a, "A keeps its placeholder");
    const b = live.placeholderEnv().B as string;
    assert.ok(b && b !== a && !b.includes("value-b"));
    assert.deepEqual(live.names(), ["A", "B"]);
    assert.equal(await sent(live, "http://b.example/", `Bearer ${b}`), "Bearer value-b");
    assert.equal(await sent(live, "http://a.example/", `Bearer ${a}`), "Bearer value-a");
    await assert.rejects(
      sent(live, "http://a.example/", `Bearer ${b}`),
      /secret B not allowed for host: a\.example/,
      "B only goes to its hosts",
    );
    assert.deepEqual(
      [...live.placeholders()].map(([placeholder, s]) => [placeholder, s.name, s.hosts]),
      [
        [a, "A", ["a.example"]],
        [b, "B", ["b.example"]],
      ],
    );
  });

  it("changes values and hosts in place, and the auditor's view follows", async () => {
    const live = new LiveSecretHooks(openPolicy, [
      { name: "A", hosts: ["a.example"], value: "value-a" },
    ]);
    const a = live.placeholderEnv().A as string;
    assert.deepEqual(live.update([{ name: "A", hosts: ["c.example"], value: "value-a2" }]), {
      added: [],
      removed: [],
    });
    assert.equal(live.placeholderEnv().A, a);
    assert.equal(await sent(live, "http://c.example/", `Bearer ${a}`), "Bearer value-a2");
    await assert.rejects(sent(live, "http://a.example/", `Bearer ${a}`), /not allowed for host/);
    assert.deepEqual(live.placeholders().get(a)?.hosts, ["c.example"]);
  });

  it("stops substituting a removed name: its placeholder goes out as the text it is", async () => {
    const live = new LiveSecretHooks(openPolicy, [
      { name: "A", hosts: ["a.example"], value: "value-a" },
      { name: "B", hosts: ["b.example"], value: "value-b" },
    ]);
    const { A: a, B: b } = live.placeholderEnv() as { A: string; B: string };
    assert.deepEqual(live.update([{ name: "B", hosts: ["b.example"], value: "value-b" }]), {
      added: [],
      removed: ["A"],
    });
    assert.deepEqual(live.placeholderEnv(), { B: b });
    assert.equal(await sent(live, "http://a.example/", `Bearer ${a}`), `Bearer ${a}`);
    assert.equal(await sent(live, "http://b.example/", `Bearer ${b}`), "Bearer value-b");
    assert.equal(live.placeholders().has(a), false);
  });
});
