import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const debianPackage = z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/, "must be a Debian package name");

/** A declarative guest image: which Debian packages, which kernel, how big a root disk. */
export const ImageRecipe = z
  .object({
    $comment: z.string().optional(),
    name: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._-]*$/, "must be lower-case letters, digits, '.', '_' or '-'"),
    tag: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/)
      .default("latest"),
    debian: z.strictObject({
      suite: z.string().regex(/^[a-z]+$/, "must be a Debian suite such as bookworm"),
      variant: z.enum(["minbase", "buildd"]).default("minbase"),
      packages: z.array(debianPackage).default([]),
    }),
    kernel: z.strictObject({
      package: debianPackage.default("linux-image-cloud-amd64"),
      /** Modules the initramfs loads (their dependencies come along). */
      modules: z.array(z.string().regex(/^[a-z0-9_-]+$/)).min(1),
    }),
    rootfs: z.strictObject({
      freeSpaceMiB: z.number().int().min(64).max(65536).default(512),
      defaultMode: z.enum(["readonly", "memory", "cow"]).default("cow"),
    }),
  })
  .strict();
export type ImageRecipe = z.infer<typeof ImageRecipe>;

export const RECIPES_DIR = fileURLToPath(new URL("../../recipes", import.meta.url));

export class RecipeError extends Error {}

/** Loads `recipes/<name>.json`; errors name the file and the offending field. */
export async function loadRecipe(name: string, dir = RECIPES_DIR): Promise<ImageRecipe> {
  const path = join(dir, `${name}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    throw new RecipeError(`cannot read image recipe ${path}: ${(error as Error).message}`);
  }
  const parsed = ImageRecipe.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new RecipeError(`invalid image recipe ${path}:\n  ${issues.join("\n  ")}`);
  }
  if (parsed.data.name !== name) {
    throw new RecipeError(
      `invalid image recipe ${path}:\n  name: must match the file name "${name}"`,
    );
  }
  return parsed.data;
}
