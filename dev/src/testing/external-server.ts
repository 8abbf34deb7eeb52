/**
 * What an external host runs (inside a network namespace, started by
 * external-host.ts): an HTTP server that answers every request with 200
 * "ok" and reports each one as a JSON line on stdout, headers included, so
 * a test sees what reached "the internet"; and a DNS server on UDP 53 that
 * answers every A query with the host's own address, for guests whose DNS
 * goes to a trusted resolver. `node external-server.ts <port> <address>`.
 */
import { createHash } from "node:crypto";
import { createSocket } from "node:dgram";
import { createServer } from "node:http";

const port = Number(process.argv[2] ?? 8080);
const address = process.argv[3] ?? "127.0.0.1";

const http = createServer((req, res) => {
  const hash = createHash("sha256");
  let bytes = 0;
  req.on("data", (chunk: Buffer) => {
    bytes += chunk.length;
    hash.update(chunk);
  });
  req.on("end", () => {
    const body = { bytes, sha256: hash.digest("hex") };
    const record = { method: req.method, url: req.url, headers: req.headers, body };
    process.stdout.write(`${JSON.stringify(record)}\n`);
    res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
  });
});

/** The answer to one DNS query: the question echoed, and for type A our address. */
function answer(query: Buffer): Buffer | undefined {
  if (query.length < 12) return undefined;
  let offset = 12;
  while (offset < query.length && query[offset] !== 0) offset += (query[offset] as number) + 1;
  const questionEnd = offset + 5;
  if (questionEnd > query.length) return undefined;
  const type = query.readUInt16BE(offset + 1);
  const header = Buffer.from(query.subarray(0, 12));
  header.writeUInt16BE(0x8180, 2); // a response, recursion available, no error
  header.writeUInt16BE(1, 4); // one question
  header.writeUInt16BE(type === 1 ? 1 : 0, 6); // one answer for A, none otherwise
  header.writeUInt32BE(0, 8); // no authority or additional records
  const question = query.subarray(12, questionEnd);
  if (type !== 1) return Buffer.concat([header, question]);
  const record = Buffer.alloc(16);
  record.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
  record.writeUInt16BE(1, 2); // type A
  record.writeUInt16BE(1, 4); // class IN
  record.writeUInt32BE(60, 6); // TTL
  record.writeUInt16BE(4, 10);
  for (const [i, octet] of address.split(".").entries()) record[12 + i] = Number(octet);
  return Buffer.concat([header, question, record]);
}

const dns = createSocket("udp4");
dns.on("message", (query, peer) => {
  const reply = answer(query);
  if (reply) dns.send(reply, peer.port, peer.address);
});

let ready = 0;
const listening = () => {
  if (++ready === 2) process.stdout.write(`${JSON.stringify({ listening: port })}\n`);
};
http.listen(port, "0.0.0.0", listening);
dns.bind(53, "0.0.0.0", listening);
process.on("SIGTERM", () => process.exit(0));
