/**
 * The egress audit and exec/SSH sessions, read from PostgreSQL (the audit
 * worker writes them). Every procedure filters to what the user may see
 * (admins: all; members: their teams' rows) in the query itself. The live
 * tail is a tracked SSE subscription keyed by `seq`: it registers for
 * wake-ups first, then reads from the last event id, so a reconnect
 * resumes with exactly the rows committed after it.
 */
import { TRPCError, tracked } from "@trpc/server";
import { z } from "zod";
import {
  AuditFilter,
  DEFAULT_PAGE_SIZE,
  EgressCursor,
  type EgressRow,
  MAX_PAGE_SIZE,
  SessionCursor,
  SessionFilter,
} from "~/lib/audit.ts";
import {
  accessOf,
  auditLive,
  auditPool,
  egressHead,
  getEgress,
  listEgress,
  listSessions,
  summarizeEgress,
  tailEgress,
} from "~/server/audit/index.ts";
import { createTRPCRouter, protectedProcedure } from "../trpc.ts";

const limit = z.int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE);
/** A seq as the tail's event id. */
const seqId = z.string().regex(/^\d{1,19}$/, "must be an event id from this tail");

/** Rows per tail read; a longer backlog is sent in several. */
const TAIL_BATCH = 200;
/** After a wake-up, wait this long so a burst of commits is read once. */
const COALESCE_MS = 150;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });

export const auditRouter = createTRPCRouter({
  /**
   * One page of egress events, newest first. The first page (no cursor)
   * also says `head`: the tail subscribed with `lastEventId: head` sends
   * exactly the matching rows committed after this page was read.
   */
  list: protectedProcedure
    .input(z.object({ filter: AuditFilter, cursor: EgressCursor.nullish(), limit }))
    .query(async ({ ctx, input }) => {
      const now = new Date();
      const page = await listEgress(auditPool(), {
        filter: input.filter,
        access: accessOf(ctx.session),
        now,
        limit: input.limit,
        cursor: input.cursor,
      });
      return { ...page, readAt: now.toISOString() };
    }),

  /** Top allowed and denied hosts and denied requests over time, for the filter's window. */
  summary: protectedProcedure.input(z.object({ filter: AuditFilter })).query(({ ctx, input }) =>
    summarizeEgress(auditPool(), {
      filter: input.filter,
      access: accessOf(ctx.session),
      now: new Date(),
    }),
  ),

  /** One event by its key; NOT_FOUND when it does not exist or is not the user's to see. */
  get: protectedProcedure
    .input(z.object({ time: z.iso.datetime(), id: z.uuid() }))
    .query(async ({ ctx, input }) => {
      const row = await getEgress(auditPool(), accessOf(ctx.session), {
        time: new Date(input.time),
        id: input.id,
      });
      if (!row) throw new TRPCError({ code: "NOT_FOUND", message: "No such audit event." });
      return row;
    }),

  /** Exec and SSH sessions, newest first, keyset paged. */
  sessions: protectedProcedure
    .input(z.object({ filter: SessionFilter, cursor: SessionCursor.nullish(), limit }))
    .query(({ ctx, input }) =>
      listSessions(auditPool(), {
        filter: input.filter,
        access: accessOf(ctx.session),
        now: new Date(),
        limit: input.limit,
        cursor: input.cursor,
      }),
    ),

  /**
   * New events matching the filter, as they commit, each tracked by its
   * seq. Without a last event id it starts at the head (only what is new).
   */
  tail: protectedProcedure
    .input(z.object({ filter: AuditFilter, lastEventId: seqId.nullish() }))
    .subscription(async function* ({ ctx, input, signal }) {
      const live = auditLive();
      // Registered before the first read: a commit from here on is never missed.
      const wakeups = live.signal.wakeups();
      try {
        const db = auditPool();
        const access = accessOf(ctx.session);
        let cursor = input.lastEventId ?? (await egressHead(db));
        while (!signal?.aborted) {
          const rows: EgressRow[] = await tailEgress(db, {
            filter: input.filter,
            access,
            now: new Date(),
            afterSeq: cursor,
            limit: TAIL_BATCH,
          });
          for (const row of rows) {
            cursor = row.seq;
            yield tracked(row.seq, row);
          }
          if (rows.length === TAIL_BATCH) continue;
          await wakeups.next(signal, live.pollMs);
          await sleep(COALESCE_MS, signal);
        }
      } finally {
        wakeups.close();
      }
    }),
});
