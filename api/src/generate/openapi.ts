import { z } from "zod";

type Schema = Record<string, unknown>;

/** Zod's sentinels for "any safe integer": meaningless to the API server. */
const SAFE_INTEGER_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

/**
 * Turns a zod schema into a structural OpenAPI v3 schema the API server
 * accepts for a CRD: unknown fields are pruned rather than refused
 * (`additionalProperties: false` is not allowed next to `properties`),
 * date-times are checked by `format`, and metadata is the API server's.
 */
export function structuralSchema(schema: z.ZodType): Schema {
  const json = z.toJSONSchema(schema, { target: "openapi-3.0", io: "input" }) as Schema;
  delete json.$schema;
  const properties = json.properties as Record<string, Schema> | undefined;
  if (properties) {
    properties.apiVersion = { type: "string" };
    properties.kind = { type: "string" };
    properties.metadata = { type: "object" };
  }
  return clean(json);
}

function clean(node: Schema): Schema {
  if (node.additionalProperties === false) delete node.additionalProperties;
  if (node.format === "date-time") delete node.pattern;
  for (const bound of ["minimum", "maximum"]) {
    if (SAFE_INTEGER_BOUNDS.has(node[bound] as number)) delete node[bound];
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === "properties" && value && typeof value === "object") {
      for (const child of Object.values(value as Record<string, Schema>)) clean(child);
    } else if (
      (key === "items" || key === "additionalProperties") &&
      value &&
      typeof value === "object"
    ) {
      clean(value as Schema);
    }
  }
  return node;
}
