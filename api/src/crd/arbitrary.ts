/**
 * fast-check arbitraries for custom resources, made from the same OpenAPI
 * schemas the CRDs carry (so what is generated is what the API server
 * judges), and "slightly broken" variants: one field set to a value a user
 * might get wrong. For the admission-parity fuzz test.
 */
import fc from "fast-check";
import { crdManifest } from "../generate/crds.ts";
import { CUSTOM_RESOURCES } from "./index.ts";

type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  required?: string[];
  items?: Schema;
  additionalProperties?: Schema | boolean;
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
  minLength?: number;
  maxLength?: number;
  "x-kubernetes-validations"?: { rule: string }[];
  "x-kubernetes-list-map-keys"?: string[];
};

/** The OpenAPI schema of a resource's spec, as its generated CRD holds it. */
export function specSchema(kind: string): Schema {
  const resource = CUSTOM_RESOURCES.find((r) => r.kind === kind);
  if (!resource) throw new Error(`no custom resource ${kind}`);
  const manifest = crdManifest(resource) as {
    spec: { versions: { schema: { openAPIV3Schema: Schema } }[] };
  };
  const spec = manifest.spec.versions[0]?.schema.openAPIV3Schema.properties?.spec;
  if (!spec) throw new Error(`${kind} has no spec schema`);
  return spec;
}

const ipv4 = fc.ipV4();
const ipv6 = fc.ipV6();
/** Valid CIDRs of both families. */
const goodCidr = fc.oneof(
  fc.tuple(ipv4, fc.integer({ min: 0, max: 32 })).map(([ip, bits]) => `${ip}/${bits}`),
  fc.tuple(ipv6, fc.integer({ min: 0, max: 128 })).map(([ip, bits]) => `${ip}/${bits}`),
);
/** CIDRs right and wrong: prefixes past the family's width, garbage, zones, stray spaces. */
const anyCidr = fc.oneof(
  goodCidr,
  fc.tuple(ipv4, fc.integer({ min: 33, max: 99 })).map(([ip, bits]) => `${ip}/${bits}`),
  fc.constantFrom(
    "10.0.0.0/99",
    "10.0.0.0",
    "010.0.0.0/8",
    "10.0.0.0/8 ",
    "::/0",
    "fe80::1%eth0/64",
  ),
);
/** Memory quantities, mostly in range, sometimes not. */
const goodMemory = fc.integer({ min: 128, max: 8192 }).map((mib) => `${mib}Mi`);
const anyMemory = fc.oneof(
  goodMemory,
  fc.constantFrom("1Mi", "127Mi", "2Ti", "1025Gi", "5Ki", "0Mi", "1.5Gi"),
);

const timestamp = fc
  .date({
    min: new Date("2020-01-01T00:00:00Z"),
    max: new Date("2030-01-01T00:00:00Z"),
    noInvalidDate: true,
  })
  .map((d) => d.toISOString().replace(/\.\d{3}Z$/, "Z"));

function stringArbitrary(schema: Schema, valid: boolean): fc.Arbitrary<string> {
  const rules = schema["x-kubernetes-validations"] ?? [];
  if (rules.some((v) => v.rule.includes("isCIDR"))) return valid ? goodCidr : anyCidr;
  if (rules.some((v) => v.rule.includes("quantity(self)"))) return valid ? goodMemory : anyMemory;
  if (schema.format === "date-time") return timestamp;
  const maxLength = Math.min(schema.maxLength ?? 40, 40);
  if (schema.pattern) {
    try {
      const pattern = new RegExp(schema.pattern);
      return fc
        .stringMatching(pattern)
        .filter(
          (s) => s.length >= (schema.minLength ?? 0) && s.length <= (schema.maxLength ?? 1e9),
        );
    } catch {
      // a pattern fast-check cannot generate from: fall through to free text
    }
  }
  return fc.string({ minLength: schema.minLength ?? 0, maxLength });
}

/** Keys that a CEL rule `!(has(self.a) && has(self.b))` says are alternatives. */
function alternatives(schema: Schema): [string, string][] {
  return (schema["x-kubernetes-validations"] ?? []).flatMap((v) => {
    const match = /^!\(has\(self\.(\w+)\) && has\(self\.(\w+)\)\)$/.exec(v.rule);
    return match ? [[match[1] as string, match[2] as string] as [string, string]] : [];
  });
}

/**
 * Values of the shape `schema` describes. With `valid`, they also meet the
 * checks a shape cannot carry (CEL rules, list-map keys), so the API server
 * should take them; without, those are left to chance.
 */
export function arbitraryFromSchema(
  schema: Schema,
  valid = true,
  depth = 0,
): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom(...schema.enum);
  switch (schema.type) {
    case "object": {
      const properties = schema.properties ?? {};
      if (Object.keys(properties).length === 0) {
        if (schema.additionalProperties && typeof schema.additionalProperties === "object")
          return fc.dictionary(
            fc.stringMatching(/^[a-z][a-z0-9.-]{0,10}$/),
            arbitraryFromSchema(schema.additionalProperties, valid, depth + 1),
            { maxKeys: 3 },
          );
        return fc.constant({});
      }
      const model = Object.fromEntries(
        Object.entries(properties).map(([key, child]) => [
          key,
          arbitraryFromSchema(child, valid, depth + 1),
        ]),
      );
      const record = fc.record(model, { requiredKeys: schema.required ?? [] });
      const pairs = valid ? alternatives(schema) : [];
      if (pairs.length === 0) return record;
      return record.map((value) => {
        const out = { ...(value as Record<string, unknown>) };
        for (const [first, second] of pairs) if (first in out && second in out) delete out[second];
        return out;
      });
    }
    case "array": {
      const item = arbitraryFromSchema(schema.items ?? {}, valid, depth + 1);
      const constraints = {
        minLength: schema.minItems ?? 0,
        maxLength: Math.min(schema.maxItems ?? 3, depth > 2 ? 2 : 3),
      };
      const [key] = schema["x-kubernetes-list-map-keys"] ?? [];
      if (!key) return fc.array(item, constraints);
      const unique = fc.uniqueArray(item, {
        ...constraints,
        selector: (entry) => (entry as Record<string, unknown>)[key],
      });
      if (valid) return unique;
      // A list-map: sometimes an entry twice, as when a user pastes one in again.
      return fc
        .tuple(unique, fc.integer({ min: 0, max: 3 }))
        .map(([items, again]) => (again === 0 && items.length ? [...items, items[0]] : items));
    }
    case "string":
      return stringArbitrary(schema, valid);
    case "integer":
      return fc.integer({
        min: schema.minimum ?? -5,
        max: Math.min(schema.maximum ?? 100_000, 1e9),
      });
    case "number":
      return fc.double({ min: schema.minimum ?? -5, max: schema.maximum ?? 1e6, noNaN: true });
    case "boolean":
      return fc.boolean();
    default:
      return fc.constant(undefined);
  }
}

/** A wrong value for some leaf: the mistakes users make in YAML. */
const wrongValue = fc.constantFrom<unknown>(
  "",
  -1,
  0,
  2 ** 31,
  "x y",
  "10.0.0.0/99",
  "/dup",
  "--",
  "UPPER_case",
  true,
  [],
  {},
  null,
);

/** Sets one randomly chosen leaf of `value` (picked by `pick`) to `replacement`. */
function mutate(value: unknown, pick: number, replacement: unknown): unknown {
  const paths: (string | number)[][] = [];
  const walk = (node: unknown, path: (string | number)[]) => {
    if (node && typeof node === "object") {
      const entries = Array.isArray(node)
        ? node.map((v, i) => [i, v] as const)
        : Object.entries(node);
      if (entries.length === 0) paths.push(path);
      for (const [key, child] of entries) walk(child, [...path, key]);
    } else paths.push(path);
  };
  walk(value, []);
  const path = paths[pick % paths.length] ?? [];
  if (path.length === 0) return replacement;
  const copy = structuredClone(value) as Record<string | number, unknown>;
  let node = copy;
  for (const key of path.slice(0, -1)) node = node[key] as Record<string | number, unknown>;
  node[path.at(-1) as string | number] = replacement;
  return copy;
}

/**
 * A spec from the schema: half meant to be valid, a quarter with the checks
 * a shape cannot carry left to chance, a quarter with one field made wrong.
 */
export function specArbitrary(kind: string): fc.Arbitrary<Record<string, unknown>> {
  const schema = specSchema(kind);
  const valid = arbitraryFromSchema(schema, true) as fc.Arbitrary<Record<string, unknown>>;
  const loose = arbitraryFromSchema(schema, false) as fc.Arbitrary<Record<string, unknown>>;
  return fc.oneof(
    { weight: 2, arbitrary: valid },
    { weight: 1, arbitrary: loose },
    {
      weight: 1,
      arbitrary: fc
        .tuple(valid, fc.nat(), wrongValue)
        .map(([spec, pick, wrong]) => mutate(spec, pick, wrong) as Record<string, unknown>),
    },
  );
}
