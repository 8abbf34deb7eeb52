/**
 * `node:net` for the browser bundle (next.config.ts aliases it there): the
 * CRD schemas in @turgon/api/crd check CIDRs with `isIP`, and the new
 * sandbox form validates with those same schemas before anything is sent.
 * `isIP` answers as Node does for every address a CIDR field can hold (zones,
 * which CIDR fields refuse anyway, are refused here too); the
 * BlockList is a server-side tool and has no browser counterpart.
 */

const IPV4_PART = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
const IPV4 = new RegExp(`^${IPV4_PART}(\\.${IPV4_PART}){3}$`);
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

export function isIPv6(address: string): boolean {
  if (address.includes("%")) return false;
  const halves = address.split("::");
  if (halves.length > 2) return false;
  const groups = (text: string) => (text === "" ? [] : text.split(":"));
  const head = groups(halves[0] ?? "");
  const tail = halves.length === 2 ? groups(halves[1] ?? "") : [];
  const all = [...head, ...tail];
  // An embedded IPv4 address (::ffff:1.2.3.4) may only come last and counts as two groups.
  let count = all.length;
  const last = all.at(-1);
  if (last?.includes(".")) {
    if (!IPV4.test(last)) return false;
    all.pop();
    count += 1;
  }
  if (!all.every((group) => HEX_GROUP.test(group))) return false;
  return halves.length === 2 ? count <= 7 : count === 8;
}

export function isIP(address: string): 0 | 4 | 6 {
  if (IPV4.test(address)) return 4;
  return isIPv6(address) ? 6 : 0;
}

export function isIPv4(address: string): boolean {
  return isIP(address) === 4;
}

export class BlockList {
  constructor() {
    throw new Error("net.BlockList is not available in the browser");
  }
}
