import { DesiredSandbox, describeFields, fieldErrors } from "@turgon/api/agent";
import { cidrBlockList } from "@turgon/api/net";

export type FieldError = { path: string; message: string };

export type Validation =
  | { ok: true; desired: DesiredSandbox }
  | { ok: false; message: string; fields: FieldError[] };

/**
 * Whether this agent can run a desired sandbox: the same check the PUT
 * makes before anything is applied, and what the admission-parity fuzz test
 * holds the CRDs to. The schema first, then what only running code can say
 * (Node's own parse of each CIDR, which the guard builds its block list from).
 */
export function validateDesired(body: unknown): Validation {
  const parsed = DesiredSandbox.safeParse(body);
  if (!parsed.success) return refused(fieldErrors(parsed.error));
  const fields: FieldError[] = [];
  for (const [index, cidr] of (parsed.data.policy.deniedCIDRs ?? []).entries()) {
    try {
      cidrBlockList([cidr]);
    } catch (error) {
      fields.push({
        path: `policy.deniedCIDRs[${index}]`,
        message: `${cidr} is not a CIDR this node can use (${(error as Error).message})`,
      });
    }
  }
  return fields.length ? refused(fields) : { ok: true, desired: parsed.data };
}

function refused(fields: FieldError[]): Validation {
  return { ok: false, message: describeFields(fields), fields };
}
