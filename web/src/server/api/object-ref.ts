/**
 * The names tRPC inputs take for Kubernetes objects. Names become path
 * segments of API requests: checked here, so a crafted one never reaches a
 * URL. Everything else about an object is the API server's to judge.
 */
import { z } from "zod";

export const objectName = z
  .string()
  .min(1, "must not be empty")
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, "must be a Kubernetes object name");

export const namespaceName = z
  .string()
  .min(1, "must not be empty")
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "must be a namespace name (a DNS label)");

/** A namespaced object: a Sandbox, a SandboxPolicy. */
export const ObjectRef = z.object({ namespace: namespaceName, name: objectName });
