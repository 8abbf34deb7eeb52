"use client";

import "@xterm/xterm/css/xterm.css";
import { TRPCClientError } from "@trpc/client";
import type { FitAddon } from "@xterm/addon-fit";
import type { Terminal as XTerm } from "@xterm/xterm";
import { useCallback, useEffect, useRef, useState } from "react";
import { useTRPCClient } from "~/trpc/react";
import {
  binaryStdinFrame,
  describeEnd,
  readServerFrame,
  resizeMessage,
  stdinFrame,
} from "./protocol";

type Status =
  | { state: "loading" }
  | { state: "connecting" }
  | { state: "open" }
  /** The session ended: the process exited, or the connection closed. */
  | { state: "ended"; message: string; exitCode?: number }
  /** The dashboard would not mint a token (not allowed, no such sandbox, not ready). */
  | { state: "refused"; message: string; code?: string };

/**
 * What browser tests read through the page (the element's `turgonTerminal`
 * property): the terminal's buffer as text, as a user sees it, wrapped
 * lines joined.
 */
export interface TerminalTestHandle {
  text(): string;
}

const THEME = {
  background: "#0b1120",
  foreground: "#e2e8f0",
  cursor: "#a5b4fc",
  cursorAccent: "#0b1120",
  selectionBackground: "#334155",
};

const FONT =
  'ui-monospace, SFMono-Regular, Menlo, Monaco, Consolas, "Liberation Mono", "DejaVu Sans Mono", monospace';

function bufferText(term: XTerm): string {
  const buffer = term.buffer.active;
  const lines: string[] = [];
  for (let y = 0; y < buffer.length; y++) {
    const line = buffer.getLine(y);
    if (!line) continue;
    const text = line.translateToString(true);
    if (line.isWrapped && lines.length > 0) lines[lines.length - 1] += text;
    else lines.push(text);
  }
  return lines.join("\n").replace(/\n+$/, "");
}

function refusal(error: unknown): { message: string; code?: string } {
  if (error instanceof TRPCClientError) {
    const code = (error.data as { code?: string } | undefined)?.code;
    return { message: error.message, ...(code ? { code } : {}) };
  }
  return { message: error instanceof Error ? error.message : String(error) };
}

/**
 * A shell in a sandbox: xterm.js connected to the router's exec WebSocket
 * with a single-use token from `terminal.mintToken` (a fresh one for every
 * connection). Typing and pasting go to the guest's pty, the terminal
 * follows its box's size (and tells the pty), and when the process exits
 * its status shows with a Reconnect button. Unmounting (or closing the
 * tab) closes the socket, which ends the session.
 *
 * Size it with `className` (it fills the box it is given).
 */
export function Terminal({
  namespace,
  name,
  className = "h-[32rem]",
}: {
  namespace: string;
  name: string;
  className?: string;
}) {
  const client = useTRPCClient();
  const hostRef = useRef<HTMLDivElement>(null);
  const termRef = useRef<XTerm | null>(null);
  const socketRef = useRef<WebSocket | null>(null);
  /** Bumped by every connect and by unmounting, so a stale attempt's callbacks do nothing. */
  const attemptRef = useRef(0);
  const [status, setStatus] = useState<Status>({ state: "loading" });
  const [size, setSize] = useState<{ cols: number; rows: number }>();

  const connect = useCallback(async () => {
    const term = termRef.current;
    if (!term) return;
    const attempt = ++attemptRef.current;
    const previous = socketRef.current;
    socketRef.current = null;
    previous?.close(1000, "reconnecting");
    setStatus({ state: "connecting" });
    let url: string;
    try {
      ({ url } = await client.terminal.mintToken.mutate({ namespace, name }));
    } catch (error) {
      if (attempt === attemptRef.current) setStatus({ state: "refused", ...refusal(error) });
      return;
    }
    if (attempt !== attemptRef.current) return;
    const target = new URL(url);
    // The pty starts at the terminal's size; later changes go as resize messages.
    target.searchParams.set("cols", String(term.cols));
    target.searchParams.set("rows", String(term.rows));
    const socket = new WebSocket(target);
    socket.binaryType = "arraybuffer";
    socketRef.current = socket;
    const end: { exitCode?: number; signal?: number; error?: string } = {};
    socket.onmessage = (event: MessageEvent<ArrayBuffer | string>) => {
      if (socketRef.current !== socket) return;
      const frame = readServerFrame(event.data);
      if (frame.kind === "output") term.write(frame.data);
      else if (frame.kind === "malformed") console.warn(`terminal: ${frame.problem}`);
      else if (frame.control.type === "started") {
        setStatus({ state: "open" });
        // The cursor was hidden when the last session ended.
        term.write("\x1b[?25h");
        term.focus();
      } else if (frame.control.type === "exit") {
        end.exitCode = frame.control.exitCode;
        if (frame.control.signal) end.signal = frame.control.signal;
      } else {
        end.error = frame.control.message;
        term.write(`\r\n\x1b[31m${frame.control.message}\x1b[0m\r\n`);
      }
    };
    socket.onclose = (event) => {
      if (socketRef.current !== socket) return;
      socketRef.current = null;
      const message = describeEnd({ ...end, closeCode: event.code });
      // Dimmed, and no cursor: nothing typed goes anywhere until Reconnect.
      term.write(`\r\n\x1b[2m[${message}]\x1b[0m\r\n\x1b[?25l`);
      setStatus({
        state: "ended",
        message,
        ...(end.exitCode !== undefined ? { exitCode: end.exitCode } : {}),
      });
    };
  }, [client, namespace, name]);

  useEffect(() => {
    let disposed = false;
    const disposers: (() => void)[] = [];
    void (async () => {
      // xterm touches the DOM when loaded: the browser only, never the server render.
      const [{ Terminal: XTermClass }, { FitAddon: FitAddonClass }] = await Promise.all([
        import("@xterm/xterm"),
        import("@xterm/addon-fit"),
      ]);
      const host = hostRef.current;
      if (disposed || !host) return;
      const term = new XTermClass({
        cursorBlink: true,
        fontFamily: FONT,
        fontSize: 13,
        scrollback: 5000,
        theme: THEME,
      });
      const fit: FitAddon = new FitAddonClass();
      term.loadAddon(fit);
      term.open(host);
      fit.fit();
      termRef.current = term;
      setSize({ cols: term.cols, rows: term.rows });
      const send = (data: Uint8Array<ArrayBuffer> | string) => {
        const socket = socketRef.current;
        if (socket?.readyState === WebSocket.OPEN) socket.send(data);
      };
      // Keys and pastes (bracketed when the shell asks for it) arrive here as text.
      const subscriptions = [
        term.onData((data) => send(stdinFrame(data))),
        term.onBinary((data) => send(binaryStdinFrame(data))),
        term.onResize(({ cols, rows }) => {
          setSize({ cols, rows });
          send(resizeMessage(cols, rows));
        }),
      ];
      // Follows its box (window resizes, layout changes); fit() resizes only when the cell grid changes.
      let frame = 0;
      const observer = new ResizeObserver(() => {
        cancelAnimationFrame(frame);
        frame = requestAnimationFrame(() => fit.fit());
      });
      observer.observe(host);
      // Closing the tab closes the socket anyway; saying so at once ends the session sooner.
      const onPageHide = () => socketRef.current?.close(1000, "page closed");
      window.addEventListener("pagehide", onPageHide);
      (host as HTMLDivElement & { turgonTerminal?: TerminalTestHandle }).turgonTerminal = {
        text: () => bufferText(term),
      };
      disposers.push(() => {
        window.removeEventListener("pagehide", onPageHide);
        observer.disconnect();
        cancelAnimationFrame(frame);
        for (const s of subscriptions) s.dispose();
        term.dispose();
      });
      void connect();
    })();
    return () => {
      disposed = true;
      attemptRef.current += 1;
      const socket = socketRef.current;
      socketRef.current = null;
      socket?.close(1000, "terminal closed");
      termRef.current = null;
      for (const dispose of disposers) dispose();
    };
  }, [connect]);

  const ended = status.state === "ended" || status.state === "refused";
  return (
    <div
      className={`flex flex-col overflow-hidden rounded-xl bg-[#0b1120] shadow-sm ring-1 ring-slate-900/10 ${className}`}
      data-testid="terminal"
      data-state={status.state}
      data-exit-code={status.state === "ended" ? status.exitCode : undefined}
      data-cols={size?.cols}
      data-rows={size?.rows}
    >
      <div className="flex h-10 shrink-0 items-center justify-between gap-3 border-b border-white/10 px-4 text-xs">
        <div className="flex min-w-0 items-center gap-2 text-slate-300">
          <StatusDot status={status} />
          <span className="truncate font-mono">
            {namespace}/{name}
          </span>
          <span className="text-slate-500">·</span>
          <span className="text-slate-400">{label(status)}</span>
        </div>
        <div className="flex items-center gap-3">
          {size ? (
            <span className="font-mono text-slate-500" data-testid="terminal-size">
              {size.cols}×{size.rows}
            </span>
          ) : null}
          {ended ? (
            <button
              type="button"
              onClick={() => void connect()}
              className="rounded-md bg-indigo-500 px-2.5 py-1 font-semibold text-white shadow-sm hover:bg-indigo-400 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-400"
            >
              {status.state === "refused" ? "Try again" : "Reconnect"}
            </button>
          ) : null}
        </div>
      </div>
      <div ref={hostRef} className="min-h-0 flex-1 px-2 py-1.5" data-testid="terminal-screen" />
      {ended ? (
        <p
          role="status"
          data-testid="terminal-status"
          className={`border-t px-4 py-2 text-sm ${
            status.state === "refused" ||
            (status.state === "ended" && status.exitCode === undefined)
              ? "border-amber-500/30 bg-amber-500/10 text-amber-200"
              : "border-white/10 bg-white/5 text-slate-200"
          }`}
        >
          {status.message}
        </p>
      ) : null}
    </div>
  );
}

function label(status: Status): string {
  switch (status.state) {
    case "loading":
      return "Loading…";
    case "connecting":
      return "Connecting…";
    case "open":
      return "Connected";
    case "ended":
      return status.exitCode === undefined ? "Disconnected" : "Exited";
    case "refused":
      return status.code === "FORBIDDEN" ? "Not allowed" : "Unavailable";
  }
}

function StatusDot({ status }: { status: Status }) {
  const tone =
    status.state === "open"
      ? "bg-emerald-400"
      : status.state === "ended" && status.exitCode === 0
        ? "bg-slate-400"
        : status.state === "ended" || status.state === "refused"
          ? "bg-amber-400"
          : "bg-indigo-400 animate-pulse";
  return <span aria-hidden="true" className={`size-2 shrink-0 rounded-full ${tone}`} />;
}
