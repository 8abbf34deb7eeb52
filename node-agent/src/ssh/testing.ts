/**
 * Test helper: runs one command over SSH in a sandbox's guest the way the
 * router's SSH gateway does (credentials from the agent, the SSH connection
 * carried by the agent's tunnel WebSocket), and closes everything after.
 */
import { SshCredentials } from "@turgon/api/agent";
import { Client } from "ssh2";
import WebSocket, { createWebSocketStream } from "ws";

export async function sshExec(options: {
  apiUrl: string;
  token: string;
  uid: string;
  command: string;
}): Promise<{ stdout: string; code: number }> {
  const base = `${options.apiUrl}/v1/sandboxes/${options.uid}/ssh`;
  const headers = { authorization: `Bearer ${options.token}` };
  const response = await fetch(`${base}/credentials`, { headers });
  if (!response.ok)
    throw new Error(`credentials: HTTP ${response.status} ${await response.text()}`);
  const { user, privateKey } = SshCredentials.parse(await response.json());
  const socket = new WebSocket(`${base.replace(/^http/, "ws")}/tunnel`, { headers });
  const client = new Client();
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("open", () => resolve());
      socket.once("error", reject);
    });
    await new Promise<void>((resolve, reject) => {
      client.once("ready", () => resolve());
      client.once("error", reject);
      client.connect({
        sock: createWebSocketStream(socket) as never,
        username: user,
        privateKey,
        readyTimeout: 60_000,
      });
    });
    return await new Promise((resolve, reject) => {
      client.exec(options.command, (error, channel) => {
        if (error) return reject(error);
        let stdout = "";
        channel.on("data", (chunk: Buffer) => {
          stdout += chunk.toString();
        });
        channel.on("close", (code: number) => resolve({ stdout, code }));
      });
    });
  } finally {
    client.destroy();
    socket.terminate();
  }
}
