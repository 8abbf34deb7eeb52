import {
  AGENT_API_PREFIX,
  AgentEvent,
  type DesiredSandbox,
  type DesiredWarmPool,
  ObservedSandbox,
  ObservedWarmPool,
  WarmPoolList,
} from "@turgon/api/agent";
import {
  type AgentCredentials,
  agentApiHeaders,
  agentTlsOptions,
} from "@turgon/api/agent/credentials";
import { Agent, type Dispatcher, request } from "undici";
import { z } from "zod";

/** The agent could not be reached at all: connection refused, reset, timed out. */
export class AgentUnreachableError extends Error {
  readonly address: string;
  constructor(address: string, cause: unknown) {
    super(`node agent at ${address} is unreachable: ${(cause as Error).message}`, { cause });
    this.address = address;
  }
}

/** The agent answered with an error; `code` is its machine-readable error name. */
export class AgentRequestError extends Error {
  readonly status: number;
  readonly code: string;
  /** For a refused spec: each offending field of the desired state, as the agent names it. */
  readonly fields: { path: string; message: string }[];
  constructor(
    status: number,
    code: string,
    message: string,
    fields: { path: string; message: string }[] = [],
  ) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
  }
}

const PutResponse = z.object({
  outcome: z.enum(["created", "unchanged", "updated", "rebooting"]),
  sandbox: ObservedSandbox,
});
export type PutResponse = z.infer<typeof PutResponse>;

const ErrorBody = z.object({
  error: z.string(),
  message: z.string(),
  fields: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

export interface AgentClientOptions {
  credentials: AgentCredentials;
  timeoutMs?: number;
}

/**
 * The operator's side of the agent API: idempotent PUT of desired state,
 * GET, DELETE, list and the event stream. One keep-alive pool per agent.
 */
export class AgentClient {
  private readonly dispatcher: Dispatcher;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;

  constructor({ credentials, timeoutMs = 30_000 }: AgentClientOptions) {
    this.headers = agentApiHeaders(credentials);
    this.timeoutMs = timeoutMs;
    this.dispatcher = new Agent({
      connections: 16,
      keepAliveTimeout: 30_000,
      connect: agentTlsOptions(credentials),
    });
  }

  private async call(
    address: string,
    method: "GET" | "PUT" | "DELETE",
    path: string,
    body?: unknown,
  ): Promise<{ status: number; json: unknown }> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(new URL(`${AGENT_API_PREFIX}${path}`, address), {
        method,
        dispatcher: this.dispatcher,
        headers: {
          ...this.headers,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
    } catch (error) {
      throw new AgentUnreachableError(address, error);
    }
    const json = await response.body.json().catch(() => undefined);
    if (response.statusCode >= 400 && response.statusCode !== 404) {
      const parsed = ErrorBody.safeParse(json);
      throw new AgentRequestError(
        response.statusCode,
        parsed.success ? parsed.data.error : "Unknown",
        parsed.success ? parsed.data.message : `agent answered HTTP ${response.statusCode}`,
        parsed.success ? (parsed.data.fields ?? []) : [],
      );
    }
    return { status: response.statusCode, json };
  }

  /** Applies desired state; the same state twice changes nothing. */
  async put(address: string, desired: DesiredSandbox): Promise<PutResponse> {
    const { status, json } = await this.call(address, "PUT", `/sandboxes/${desired.uid}`, desired);
    if (status === 404) throw new AgentRequestError(404, "NotFound", "agent has no sandbox API");
    return PutResponse.parse(json);
  }

  async get(address: string, uid: string): Promise<ObservedSandbox | undefined> {
    const { status, json } = await this.call(address, "GET", `/sandboxes/${uid}`);
    return status === 404 ? undefined : ObservedSandbox.parse(json);
  }

  async list(address: string): Promise<ObservedSandbox[]> {
    const { json } = await this.call(address, "GET", "/sandboxes");
    return z.object({ items: z.array(ObservedSandbox) }).parse(json).items;
  }

  /** Destroys the sandbox's VM; false when the agent had none. */
  async delete(address: string, uid: string): Promise<boolean> {
    const { status } = await this.call(address, "DELETE", `/sandboxes/${uid}`);
    return status !== 404;
  }

  /** Tells the agent how many warm VMs of a pool to keep; idempotent. Its report, when it gives one. */
  async putWarmPool(
    address: string,
    desired: DesiredWarmPool,
  ): Promise<ObservedWarmPool | undefined> {
    const { status, json } = await this.call(address, "PUT", `/warm-pools/${desired.uid}`, desired);
    if (status === 404) throw new AgentRequestError(404, "NotFound", "agent has no warm pool API");
    // The agent answers { outcome, warmPool }.
    const parsed = ObservedWarmPool.safeParse(
      (json as { warmPool?: unknown } | undefined)?.warmPool,
    );
    return parsed.success ? parsed.data : undefined;
  }

  /** Stops a pool's unclaimed warm VMs; false when the agent had no such pool. */
  async deleteWarmPool(address: string, uid: string): Promise<boolean> {
    const { status } = await this.call(address, "DELETE", `/warm-pools/${uid}`);
    return status !== 404;
  }

  async listWarmPools(address: string): Promise<ObservedWarmPool[]> {
    const { json } = await this.call(address, "GET", "/warm-pools");
    return WarmPoolList.parse(json).items;
  }

  /** The agent's event stream: current state first, then each change, until aborted. */
  async *events(
    address: string,
    signal: AbortSignal,
    onOpen: () => void = () => {},
  ): AsyncGenerator<AgentEvent> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(new URL(`${AGENT_API_PREFIX}/events`, address), {
        dispatcher: this.dispatcher,
        headers: this.headers,
        signal,
        bodyTimeout: 0,
      });
    } catch (error) {
      if (signal.aborted) return;
      throw new AgentUnreachableError(address, error);
    }
    if (response.statusCode !== 200) {
      await response.body.dump();
      throw new AgentRequestError(response.statusCode, "EventStream", "event stream refused");
    }
    onOpen();
    let buffered = "";
    try {
      for await (const chunk of response.body) {
        buffered += chunk.toString();
        let newline = buffered.indexOf("\n");
        while (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.trim()) yield AgentEvent.parse(JSON.parse(line));
          newline = buffered.indexOf("\n");
        }
      }
    } catch (error) {
      if (!signal.aborted) throw new AgentUnreachableError(address, error);
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}
