-- Policy editing (issue 13): every saved change to egress rules, and requests to allow a host.

-- CreateTable
CREATE TABLE "policy_change" (
    "id" UUID NOT NULL,
    "namespace" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "resourceVersion" TEXT NOT NULL,
    "spec" JSONB,
    "diff" TEXT NOT NULL,
    "addedHosts" TEXT[],
    "removedHosts" TEXT[],
    "reason" TEXT,
    "restoredFrom" UUID,
    "requestId" UUID,
    "userId" TEXT NOT NULL,
    "userEmail" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "policy_change_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "policy_request" (
    "id" UUID NOT NULL,
    "namespace" TEXT NOT NULL,
    "kind" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "host" TEXT NOT NULL,
    "eventId" UUID,
    "eventTime" TIMESTAMPTZ(3),
    "reason" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "requestedById" TEXT NOT NULL,
    "requestedByEmail" TEXT NOT NULL,
    "decidedById" TEXT,
    "decidedByEmail" TEXT,
    "decidedAt" TIMESTAMPTZ(3),
    "decisionNote" TEXT,
    "changeId" UUID,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "policy_request_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "policy_change_namespace_kind_name_createdAt_idx" ON "policy_change"("namespace", "kind", "name", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "policy_change_addedHosts_idx" ON "policy_change" USING GIN ("addedHosts");

-- CreateIndex
CREATE INDEX "policy_request_namespace_status_createdAt_idx" ON "policy_request"("namespace", "status", "createdAt" DESC);

-- CreateIndex
CREATE INDEX "policy_request_eventId_idx" ON "policy_request"("eventId");

