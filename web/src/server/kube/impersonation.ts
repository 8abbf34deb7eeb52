import {
  AuthenticationV1Api,
  AuthorizationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  createConfiguration,
  type KubeConfig,
  RbacAuthorizationV1Api,
  type RequestContext,
  type SecurityAuthentication,
  ServerConfiguration,
} from "@kubernetes/client-node";
import { KubeApiError } from "./errors.ts";
import { impersonationOf, type Principal } from "./principal.ts";

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;
type DispatchOptions = Parameters<Dispatcher["dispatch"]>[0];

/** API clients that act as one signed-in user: every request carries their impersonation. */
export interface ImpersonatedApis {
  /** The Kubernetes user name and groups every request is made as. */
  readonly as: { user: string; groups: readonly string[] };
  readonly customObjects: CustomObjectsApi;
  readonly core: CoreV1Api;
  readonly rbac: RbacAuthorizationV1Api;
  readonly authorization: AuthorizationV1Api;
  readonly authentication: AuthenticationV1Api;
}

const USER_AGENT = "turgon-web";

/**
 * API clients for `kc`'s cluster, authenticated as `kc`'s identity (the
 * dashboard) and impersonating `principal`: `Impersonate-User: <email>`
 * and one `Impersonate-Group` header per group (`turgon:team:<team>`,
 * `turgon:admins`), so Kubernetes RBAC decides what the user may do. A
 * refusal is a KubeApiError with status 403.
 *
 * client-node keeps request headers in a plain object, and fetch joins
 * repeated headers with commas, which the API server would read as one
 * group named "a, b". So the headers are added below fetch, on the undici
 * dispatcher, where a request may carry a header more than once (and is
 * sent over HTTP/1.1; see `impersonate`).
 */
export function impersonatedApis(kc: KubeConfig, principal: Principal): ImpersonatedApis {
  const as = impersonationOf(principal);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("the KubeConfig has no current cluster");
  const impersonating: SecurityAuthentication = {
    getName: () => "impersonation",
    async applySecurityAuthentication(context: RequestContext) {
      await kc.applySecurityAuthentication(context);
      const dispatcher = context.getDispatcher();
      // Without a dispatcher of its own the request would go out unimpersonated, as the dashboard.
      if (!dispatcher)
        throw new Error(`impersonation needs TLS to the API server (${cluster.server})`);
      context.setDispatcher(dispatcher.compose(impersonate(as.user, as.groups)));
      context.setHeaderParam("User-Agent", USER_AGENT);
    },
  };
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: { default: impersonating },
  });
  return {
    as,
    customObjects: typedErrors(new CustomObjectsApi(configuration)),
    core: typedErrors(new CoreV1Api(configuration)),
    rbac: typedErrors(new RbacAuthorizationV1Api(configuration)),
    authorization: typedErrors(new AuthorizationV1Api(configuration)),
    authentication: typedErrors(new AuthenticationV1Api(configuration)),
  };
}

/**
 * A dispatcher interceptor that sends the impersonation headers, and no
 * other Impersonate-*, over HTTP/1.1: over HTTP/2 undici joins repeated
 * headers into one, which the API server would again read as one group.
 */
function impersonate(user: string, groups: readonly string[]) {
  return (dispatch: Dispatcher["dispatch"]): Dispatcher["dispatch"] =>
    (options, handler) =>
      dispatch(
        {
          ...options,
          allowH2: false,
          headers: withImpersonation(options.headers, user, groups),
        } as DispatchOptions,
        handler,
      );
}

/** The request's headers as a flat [name, value, …] list, which undici sends line by line. */
export function withImpersonation(
  headers: DispatchOptions["headers"],
  user: string,
  groups: readonly string[],
): string[] {
  const flat: string[] = [];
  const add = (name: string, value: unknown) => {
    if (/^impersonate-/i.test(name) || value === undefined || value === null) return;
    for (const one of Array.isArray(value) ? value : [value]) flat.push(name, String(one));
  };
  if (Array.isArray(headers))
    for (let i = 0; i + 1 < headers.length; i += 2) add(String(headers[i]), headers[i + 1]);
  else if (headers && Symbol.iterator in headers)
    for (const [name, value] of headers as Iterable<[string, unknown]>) add(name, value);
  else if (headers) for (const [name, value] of Object.entries(headers)) add(name, value);
  flat.push("Impersonate-User", user);
  for (const group of groups) flat.push("Impersonate-Group", group);
  return flat;
}

/** The same client, whose every call rejects with a KubeApiError when the API server says no. */
function typedErrors<T extends object>(api: T): T {
  return new Proxy(api, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        const result = value.apply(target, args);
        return result instanceof Promise
          ? result.catch((error: unknown) => {
              throw KubeApiError.from(error);
            })
          : result;
      };
    },
  });
}
