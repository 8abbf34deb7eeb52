import { generateKeyPairSync, webcrypto } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
// @peculiar/x509 depends on tsyringe, which needs the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { fileExists } from "@turgon/toolkit/apt";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

// @peculiar/x509 signs with WebCrypto; Node's implementation is complete.
x509.cryptoProvider.set(webcrypto);

const ALGORITHM = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const VALIDITY_DAYS = 365;

/** File paths of the control plane's throw-away PKI, as envtest lays it out. */
export interface Pki {
  dir: string;
  caCert: string;
  caKey: string;
  servingCert: string;
  servingKey: string;
  adminCert: string;
  adminKey: string;
  serviceAccountKey: string;
  serviceAccountPub: string;
}

/** The admin client certificate's identity: a member of system:masters. */
export const ADMIN_USER = "turgon-admin";

export function pkiPaths(dir: string): Pki {
  return {
    dir,
    caCert: join(dir, "ca.crt"),
    caKey: join(dir, "ca.key"),
    servingCert: join(dir, "apiserver.crt"),
    servingKey: join(dir, "apiserver.key"),
    adminCert: join(dir, "admin.crt"),
    adminKey: join(dir, "admin.key"),
    serviceAccountKey: join(dir, "sa.key"),
    serviceAccountPub: join(dir, "sa.pub"),
  };
}

async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function generateKeys(): Promise<CryptoKeyPair> {
  return webcrypto.subtle.generateKey(ALGORITHM, true, [
    "sign",
    "verify",
  ]) as Promise<CryptoKeyPair>;
}

function validity() {
  const notBefore = new Date(Date.now() - 60_000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + VALIDITY_DAYS * 86_400_000) };
}

export async function issue(
  ca: { cert: x509.X509Certificate; key: CryptoKey },
  subject: string,
  usage: x509.ExtendedKeyUsage,
  extra: x509.Extension[] = [],
) {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.create({
    subject,
    issuer: ca.cert.subject,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    signingAlgorithm: ALGORITHM,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      new x509.ExtendedKeyUsageExtension([usage]),
      ...extra,
    ],
  });
  return { cert: cert.toString("pem"), key: await privateKeyPem(keys.privateKey) };
}

/**
 * Creates the CA, the API server's serving certificate, an admin client
 * certificate in system:masters and the service-account signing keys, unless
 * they already exist (so kubeconfigs stay valid across restarts).
 */
export async function ensurePki(dir: string): Promise<Pki> {
  const pki = pkiPaths(dir);
  if (await fileExists(pki.serviceAccountPub)) return pki;
  await mkdir(dir, { recursive: true, mode: 0o700 });

  const { cert: caCert, keys: caKeys } = await selfSignedCa("turgon-local-ca");
  const ca = { cert: caCert, key: caKeys.privateKey };
  const serving = await issue(ca, "CN=kube-apiserver", x509.ExtendedKeyUsage.serverAuth, [
    new x509.SubjectAlternativeNameExtension([
      { type: "dns", value: "localhost" },
      { type: "dns", value: "kubernetes" },
      { type: "dns", value: "kubernetes.default" },
      { type: "dns", value: "kubernetes.default.svc" },
      { type: "ip", value: "127.0.0.1" },
    ]),
  ]);
  const admin = await issue(
    ca,
    `CN=${ADMIN_USER}, O=system:masters`,
    x509.ExtendedKeyUsage.clientAuth,
  );
  const serviceAccount = generateKeyPairSync("ec", {
    namedCurve: "P-256",
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
    publicKeyEncoding: { type: "spki", format: "pem" },
  });

  const secret = { mode: 0o600 };
  await writeFile(pki.caCert, caCert.toString("pem"));
  await writeFile(pki.caKey, await privateKeyPem(caKeys.privateKey), secret);
  await writeFile(pki.servingCert, serving.cert);
  await writeFile(pki.servingKey, serving.key, secret);
  await writeFile(pki.adminCert, admin.cert);
  await writeFile(pki.adminKey, admin.key, secret);
  await writeFile(pki.serviceAccountKey, serviceAccount.privateKey, secret);
  // Written last: its presence marks a complete PKI.
  await writeFile(pki.serviceAccountPub, serviceAccount.publicKey);
  return pki;
}

/** A CA's certificate and signing key, for issuing. */
export type CertificateAuthority = { cert: x509.X509Certificate; key: CryptoKey };

function loadCa(pki: Pki): Promise<CertificateAuthority> {
  return loadCaFiles(pki.caCert, pki.caKey);
}

export async function loadCaFiles(
  certPath: string,
  keyPath: string,
): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(await readFile(certPath, "utf8"));
  return { cert, key: await importCaKey(await readFile(keyPath, "utf8"), keyPath) };
}

/** A CA's private key (PKCS#8 PEM) as a signing key. */
export async function importCaKey(pem: string, source = "the CA key"): Promise<CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new Error(`no private key in ${source}`);
  return webcrypto.subtle.importKey("pkcs8", der, ALGORITHM, false, ["sign"]);
}

/** A new self-signed CA named `commonName`, as PEM. */
export async function createCa(commonName: string): Promise<{ cert: string; key: string }> {
  const { cert, keys } = await selfSignedCa(commonName);
  return { cert: cert.toString("pem"), key: await privateKeyPem(keys.privateKey) };
}

async function selfSignedCa(commonName: string) {
  const keys = await generateKeys();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: ALGORITHM,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ],
  });
  return { cert, keys };
}

/** Loopback names a local serving certificate answers to. */
export const LOOPBACK_NAMES = new x509.SubjectAlternativeNameExtension([
  { type: "dns", value: "localhost" },
  { type: "ip", value: "127.0.0.1" },
]);

export { x509 };

/** Issues a serving certificate for 127.0.0.1 and localhost from the platform's CA. */
export async function issueServingCertificate(
  pki: Pki,
  commonName: string,
): Promise<{ cert: string; key: string }> {
  return issue(await loadCa(pki), `CN=${commonName}`, x509.ExtendedKeyUsage.serverAuth, [
    LOOPBACK_NAMES,
  ]);
}

/**
 * Issues a client certificate from the platform's CA: the API server sees
 * the CN as the user name and each O as a group. For tests that act as a
 * component with its own, limited identity.
 */
export async function issueClientCertificate(
  pki: Pki,
  user: string,
  groups: string[],
): Promise<{ cert: string; key: string }> {
  const subject = [`CN=${user}`, ...groups.map((g) => `O=${g}`)].join(", ");
  return issue(await loadCa(pki), subject, x509.ExtendedKeyUsage.clientAuth);
}
