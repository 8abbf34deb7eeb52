/** skopeo, from Debian: copies an image from an OCI layout to a registry, and reads manifests back. */
import { withStep } from "@turgon/toolkit/progress";
import { runChecked } from "@turgon/toolkit/run";

const HINT = "skopeo comes from Debian (apt-get install skopeo); is the registry running?";

/**
 * Pushes `layout:tag` as `registry/repository:tag` over plain HTTP (the
 * registry listens on loopback only). The signature policy is skopeo's
 * "accept anything": the source is a layout this build just wrote.
 */
export async function pushImage(
  layout: string,
  tag: string,
  registry: string,
  repository: string,
): Promise<string> {
  const destination = `${registry}/${repository}:${tag}`;
  await withStep(`pushing ${destination}`, (progress) =>
    runChecked(
      `pushing ${destination}`,
      "skopeo",
      [
        "copy",
        "--insecure-policy",
        "--dest-tls-verify=false",
        `oci:${layout}:${tag}`,
        `docker://${destination}`,
      ],
      { onLine: (line) => progress.update(line.slice(0, 90)), hint: HINT },
    ),
  );
  return destination;
}

export interface RemoteImage {
  Digest: string;
  Labels: Record<string, string> | null;
  Layers: string[];
  Architecture: string;
  Os: string;
}

/** `skopeo inspect` of a reference on a plain-HTTP registry. */
export async function inspectRemote(reference: string): Promise<RemoteImage> {
  const out = await runChecked(
    `inspecting ${reference}`,
    "skopeo",
    ["inspect", "--tls-verify=false", `docker://${reference}`],
    { hint: HINT },
  );
  return JSON.parse(out) as RemoteImage;
}

/** The raw manifest of a reference, as the registry serves it. */
export async function remoteManifest(reference: string): Promise<Record<string, unknown>> {
  const out = await runChecked(
    `reading the manifest of ${reference}`,
    "skopeo",
    ["inspect", "--raw", "--tls-verify=false", `docker://${reference}`],
    { hint: HINT },
  );
  return JSON.parse(out) as Record<string, unknown>;
}
