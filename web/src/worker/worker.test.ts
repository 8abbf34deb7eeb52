/**
 * The audit worker as a real process against real Redis and PostgreSQL:
 * what it stores, dead letters, exec and SSH sessions, teams, retention,
 * and its flags.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { promisify } from "node:util";
import {
  AUDIT_COMMITTED_CHANNEL,
  AUDIT_JOB_OPTIONS,
  AUDIT_QUEUE,
  type AuditBatch,
  EXEC_AUDIT_QUEUE,
  type ExecAuditEvent,
} from "@turgon/api/audit";
import { TEAM_LABEL } from "@turgon/api/routing";
import { type ScratchRedis, startScratchRedis, uniqueName } from "@turgon/dev/testing";
import {
  AUDIT_WORKER_ENTRY,
  type AuditWorkerProcess,
  FAST_RECOVERY_FLAGS,
  startAuditWorkerProcess,
} from "@turgon/dev/testing/audit-worker";
import { EXIT } from "@turgon/toolkit/daemon";
import { Queue } from "bullmq";
import { Redis } from "ioredis";
import { dashboardKubeConfig, installWebRbac, must } from "../server/kube/testing.ts";
import { addDays, utcDay } from "./partitions.ts";
import { SyntheticAgent, syntheticEvent } from "./synthetic-producer.ts";
import { type AuditDatabase, createAuditDatabase, eventually } from "./testing.ts";

const run = promisify(execFile);
const SECRET_VALUE = "s3cr3t-value-never-stored";

describe("the audit worker's flags", () => {
  it("--help lists every flag with its variable", async () => {
    const { stdout } = await run(process.execPath, [AUDIT_WORKER_ENTRY, "--help"]);
    for (const flag of ["--database-url", "--redis-url", "--retention-days", "--concurrency"])
      assert.match(stdout, new RegExp(flag));
    assert.match(stdout, /DATABASE_URL/);
  });

  it("names a bad flag and its variable, and exits 2 (a configuration error)", async () => {
    const attempt = (args: string[]) =>
      run(process.execPath, [AUDIT_WORKER_ENTRY, ...args], {
        env: { ...process.env, DATABASE_URL: "", REDIS_URL: "" },
      }).then(
        () => assert.fail("it started"),
        (error: { code: number; stderr: string }) => error,
      );
    const bad = await attempt([
      "--database-url",
      "mysql://x",
      "--redis-url",
      "redis://127.0.0.1:1",
      "--retention-days",
      "0",
    ]);
    assert.equal(bad.code, EXIT.config);
    assert.match(bad.stderr, /--database-url \(DATABASE_URL\): must be a postgresql:\/\/ URL/);
    assert.match(bad.stderr, /--retention-days \(TURGON_AUDIT_RETENTION_DAYS\)/);
    const unknown = await attempt(["--retention", "3"]);
    assert.equal(unknown.code, EXIT.config);
    assert.match(unknown.stderr, /Unknown option '--retention'/);
  });
});

describe("the audit worker", () => {
  let db: AuditDatabase;
  let redis: ScratchRedis;
  let worker: AuditWorkerProcess;
  let dir: string;
  let queue: Queue;
  const team = uniqueName("team");
  const labelled = uniqueName("ns-bound");
  const unlabelled = uniqueName("ns-free");

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "turgon-audit-test-"));
    [db, redis] = await Promise.all([createAuditDatabase(), startScratchRedis()]);
    // Teams come from namespace labels, read as the dashboard's own identity.
    await installWebRbac();
    await must(["create", "namespace", labelled]);
    await must(["label", "namespace", labelled, `${TEAM_LABEL}=${team}`]);
    await must(["create", "namespace", unlabelled]);
    const kubeconfig = join(dir, "kubeconfig");
    await writeFile(kubeconfig, (await dashboardKubeConfig()).exportConfig());
    worker = await startAuditWorkerProcess({
      databaseUrl: db.url,
      redisUrl: redis.url,
      kubeconfig,
      flags: FAST_RECOVERY_FLAGS,
      logFile: join(dir, "worker.log"),
    });
    queue = new Queue(AUDIT_QUEUE, { connection: { url: redis.url } });
  });

  after(async () => {
    await queue?.close();
    const code = await worker?.stop();
    assert.equal(code, 0, "SIGTERM stops the worker cleanly");
    await must(["delete", "namespace", labelled, unlabelled, "--wait=false"]);
    await Promise.all([db?.drop(), redis?.remove()]);
    await rm(dir, { recursive: true, force: true });
  });

  it("stores what an agent ships, with the team of the namespace's label (else its name), and announces commits", async () => {
    const announcements = new Redis(redis.url);
    const seqs: string[] = [];
    await announcements.subscribe(AUDIT_COMMITTED_CHANNEL);
    announcements.on("message", (_channel, message) => seqs.push(JSON.parse(message).lastSeq));
    const node = uniqueName("node");
    const bound = await SyntheticAgent.start(join(dir, "spool-a"), redis.url, {
      node,
      namespace: labelled,
    });
    const free = await SyntheticAgent.start(join(dir, "spool-b"), redis.url, {
      node,
      namespace: unlabelled,
    });
    await Promise.all([bound.produce(1200), free.produce(300)]);
    await Promise.all([bound.stop(), free.stop()]);
    const counted = await eventually(
      "all 1,500 events in PostgreSQL",
      () => db.egressCount(node),
      (c) => c.rows >= 1500,
    );
    assert.deepEqual(counted, { rows: 1500, distinct: 1500 });
    const teams = await db.query<{ namespace: string; team: string | null; n: number }>(
      `SELECT namespace, team, count(*)::int AS n FROM egress_event WHERE node = $1
        GROUP BY 1, 2 ORDER BY 1`,
      [node],
    );
    assert.deepEqual(
      teams.map((t) => [t.namespace, t.team, t.n]).sort(),
      [
        [labelled, team, 1200],
        // Unlabelled: the namespace's own name, the rule the router and the dashboard use.
        [unlabelled, unlabelled, 300],
      ].sort(),
    );
    const sample = await db.query<{ secrets: string[]; path: string; decision: string }>(
      `SELECT secrets, path, decision::text FROM egress_event WHERE id = $1`,
      [bound.ids[0]],
    );
    assert.deepEqual(sample[0]?.secrets, ["GITHUB_TOKEN"], "secrets by name");
    const [maxSeq] = await db.query<{ max: string }>(
      "SELECT max(seq)::text AS max FROM egress_event",
    );
    await eventually(
      "the last commit announced",
      async () => seqs.map(BigInt),
      (s) => s.some((seq) => seq === BigInt(maxSeq?.max ?? -1)),
      10_000,
    );
    announcements.disconnect();
  });

  it("dead-letters a malformed line with its reason, lands the rest of the batch, and stores no query or secret", async () => {
    const node = uniqueName("node");
    const good = [0, 1, 2].map((i) => syntheticEvent(i, { node, namespace: labelled }));
    const withQuery = { ...syntheticEvent(3, { node }), path: `/login?token=${SECRET_VALUE}` };
    const withHeader = { ...syntheticEvent(4, { node }), authorization: `Bearer ${SECRET_VALUE}` };
    const badDecision = { ...syntheticEvent(5, { node }), decision: "maybe" };
    const batch: AuditBatch = {
      node,
      lines: [
        JSON.stringify(good[0]),
        `{"id": "torn line?secret=${SECRET_VALUE}`,
        JSON.stringify(good[1]),
        JSON.stringify(withQuery),
        JSON.stringify(withHeader),
        JSON.stringify(badDecision),
        JSON.stringify(good[2]),
      ],
    };
    const job = await queue.add("batch", batch, AUDIT_JOB_OPTIONS);
    // Not an AuditBatch at all: dead-lettered whole, and the queue moves on.
    const junk = await queue.add("batch", { lines: "nope" } as never, AUDIT_JOB_OPTIONS);
    await eventually(
      "the good lines stored",
      () => db.egressCount(node),
      (c) => c.rows === 3,
    );
    const letters = await eventually(
      "five dead letters",
      () =>
        db.query<{ jobId: string; payload: string; reason: string }>(
          `SELECT "jobId", payload, reason FROM audit_dead_letter WHERE queue = $1 ORDER BY id`,
          [AUDIT_QUEUE],
        ),
      (rows) => rows.length >= 5,
    );
    const ofJob = letters.filter((l) => l.jobId === job.id);
    assert.equal(ofJob.length, 4);
    assert.match(ofJob[0]?.reason ?? "", /^not JSON: /);
    assert.match(ofJob[1]?.reason ?? "", /path: must not contain a query string/);
    assert.match(ofJob[2]?.reason ?? "", /Unrecognized key.*authorization/);
    assert.match(ofJob[3]?.reason ?? "", /decision: Invalid option/);
    assert.match(ofJob[3]?.payload ?? "", /"decision":"maybe"/, "the line is kept to diagnose");
    const whole = letters.filter((l) => l.jobId === junk.id);
    assert.equal(whole.length, 1);
    assert.match(whole[0]?.reason ?? "", /^not an AuditBatch: /);
    // Nothing anywhere in the audit tables holds a query string or the secret's value.
    const leaks = await db.query<{ n: number }>(
      `SELECT (SELECT count(*) FROM egress_event e WHERE e::text LIKE '%' || $1 || '%' OR e.path LIKE '%?%')
            + (SELECT count(*) FROM audit_dead_letter d WHERE d::text LIKE '%' || $1 || '%') AS n`,
      [SECRET_VALUE],
    );
    assert.equal(Number(leaks[0]?.n), 0);
    assert.equal(await job.isCompleted(), true, "a batch with poison lines is acknowledged");
  });

  it("stores exec and SSH sessions once, however often they are delivered", async () => {
    const execQueue = new Queue(EXEC_AUDIT_QUEUE, { connection: { url: redis.url } });
    try {
      const session = (reason: string, command: string[] | null): ExecAuditEvent => ({
        id: randomUUID(),
        user: "ada@example.com",
        sandbox: { uid: "uid-1", name: "box", namespace: labelled },
        node: "node-1",
        command,
        tty: command === null,
        startedAt: new Date(Date.now() - 5000).toISOString(),
        endedAt: new Date().toISOString(),
        exitCode: command === null ? null : 0,
        reason,
      });
      const exec = session("exited", ["ls", "-l"]);
      const ssh = session("ssh-client-closed", null);
      // Redelivery: the same record in three jobs (a router retry, a stalled job).
      for (const suffix of ["", "-again", "-third"]) {
        await execQueue.add("exec", exec, { ...AUDIT_JOB_OPTIONS, jobId: `${exec.id}${suffix}` });
        await execQueue.add("ssh", ssh, { ...AUDIT_JOB_OPTIONS, jobId: `${ssh.id}${suffix}` });
      }
      await execQueue.add("exec", { id: "not-a-uuid" } as never, AUDIT_JOB_OPTIONS);
      const rows = await eventually(
        "both sessions stored",
        () =>
          db.query<{ id: string; kind: string; command: string[]; team: string; exitCode: number }>(
            `SELECT id, kind, command, team, "exitCode" FROM exec_session ORDER BY kind`,
          ),
        (r) => r.length >= 2,
      );
      await eventually(
        "the bad record dead-lettered",
        () => db.query("SELECT 1 FROM audit_dead_letter WHERE queue = $1", [EXEC_AUDIT_QUEUE]),
        (r) => r.length === 1,
      );
      await eventually(
        "every delivery processed",
        () => execQueue.getJobCounts("wait", "active", "delayed"),
        (c) => (c.wait ?? 0) + (c.active ?? 0) + (c.delayed ?? 0) === 0,
      );
      const again = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM exec_session");
      assert.equal(again[0]?.n, 2, "each session once");
      assert.deepEqual(
        rows.map((r) => [r.id, r.kind, r.command, r.team, r.exitCode]),
        [
          [exec.id, "exec", ["ls", "-l"], team, 0],
          [ssh.id, "ssh", [], team, null],
        ],
      );
    } finally {
      await execQueue.close();
    }
  });
});

describe("retention", () => {
  it("drops whole day partitions past the setting, keeps newer ones, and does not store expired events", async () => {
    const [db, redis] = await Promise.all([createAuditDatabase(), startScratchRedis()]);
    const dir = await mkdtemp(join(tmpdir(), "turgon-audit-retention-"));
    try {
      const today = utcDay(new Date());
      const days = [45, 31, 30, 29, 1].map((ago) => addDays(today, -ago));
      for (const day of days)
        await db.query("SELECT turgon_audit_ensure_partition($1::date)", [day]);
      // A row in a partition that goes: dropped with it, never DELETEd row by row.
      const node = uniqueName("node");
      const old = syntheticEvent(0, { node, time: () => new Date(`${days[0]}T12:00:00Z`) });
      await db.query(
        `INSERT INTO egress_event (id, time, node, namespace, sandbox, "sandboxUid", method, scheme,
           host, port, path, decision, reason, "durationMs")
         VALUES ($1, $2, $3, 'ns', 'box', 'uid', 'GET', 'https', 'h', 443, '/', 'allowed', 'r', 1)`,
        [old.id, old.time, node],
      );
      const worker = await startAuditWorkerProcess({
        databaseUrl: db.url,
        redisUrl: redis.url,
        flags: { ...FAST_RECOVERY_FLAGS, "retention-days": 30 },
        logFile: join(dir, "worker.log"),
      });
      try {
        const partitions = async () =>
          (
            await db.query<{ name: string }>(
              `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'egress_event'::regclass ORDER BY 1`,
            )
          ).map((r) => r.name);
        const name = (day: string) => `egress_event_p${day.replaceAll("-", "")}`;
        assert.deepEqual(
          await partitions(),
          [days[2], days[3], days[4], today, addDays(today, 1)].map((d) => name(d as string)),
          "45 and 31 days ago dropped; 30 and 29 days ago, yesterday, today and tomorrow kept",
        );
        // An event from 40 days ago arriving now is past retention: counted, not stored.
        const agent = await SyntheticAgent.start(join(dir, "spool"), redis.url, { node });
        const stale = new Date(Date.now() - 40 * 86_400_000);
        await agent.spool.append(syntheticEvent(1, { node, time: () => stale }));
        await agent.spool.append(syntheticEvent(2, { node, time: () => new Date() }));
        await agent.stop();
        await eventually(
          "the fresh event stored",
          () => db.egressCount(node),
          (c) => c.rows === 1,
        );
        assert.match(await worker.log(), /"expired":1/);
        assert.ok(!(await partitions()).includes(name(utcDay(stale))), "no partition made for it");
      } finally {
        await worker.stop();
      }
    } finally {
      await Promise.all([db.drop(), redis.remove()]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe("when Kubernetes cannot be reached", () => {
  it("ingests anyway after the bounded wait, with team null", async () => {
    const [db, redis] = await Promise.all([createAuditDatabase(), startScratchRedis()]);
    const dir = await mkdtemp(join(tmpdir(), "turgon-audit-nokube-"));
    try {
      const kubeconfig = join(dir, "kubeconfig");
      // An API server address where nothing listens.
      await writeFile(
        kubeconfig,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:1" } }],
          users: [{ name: "u", user: { token: "t" } }],
          contexts: [{ name: "x", context: { cluster: "c", user: "u" } }],
          "current-context": "x",
        }),
      );
      const started = Date.now();
      const worker = await startAuditWorkerProcess({
        databaseUrl: db.url,
        redisUrl: redis.url,
        kubeconfig,
        flags: { "kube-sync-timeout-seconds": 1 },
        logFile: join(dir, "worker.log"),
      });
      try {
        assert.ok(Date.now() - started < 30_000, "start-up does not wait on Kubernetes");
        const node = uniqueName("node");
        const agent = await SyntheticAgent.start(join(dir, "spool"), redis.url, {
          node,
          namespace: "team-a",
        });
        await agent.produce(50);
        await agent.stop();
        await eventually(
          "the events stored",
          () => db.egressCount(node),
          (c) => c.rows === 50,
        );
        const teams = await db.query<{ team: string | null }>(
          "SELECT DISTINCT team FROM egress_event WHERE node = $1",
          [node],
        );
        assert.deepEqual(teams, [{ team: null }]);
        assert.match(await worker.log(), /Kubernetes has not answered the namespace list/);
      } finally {
        await worker.stop();
      }
    } finally {
      await Promise.all([db.drop(), redis.remove()]);
      await rm(dir, { recursive: true, force: true });
    }
  });
});
