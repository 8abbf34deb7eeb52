import type pg from "pg";

/**
 * Ends a pg Pool and waits until every connection has closed. pg-pool's
 * end() resolves once its clients are told to end, before their sockets
 * close, so a `DROP DATABASE … WITH (FORCE)` right after it terminates
 * connections that are still open, and their error then has no listener.
 */
export async function endPool(pool: pg.Pool): Promise<void> {
  let open = pool.totalCount;
  const closed = new Promise<void>((resolve) => {
    if (open === 0) return resolve();
    pool.on("remove", () => {
      open -= 1;
      if (open === 0) resolve();
    });
  });
  await pool.end();
  await closed;
}
