/**
 * Runs once when the server starts: check the configuration before serving
 * anything, so a bad environment fails `next start` at once, naming the variable.
 */
export async function register(): Promise<void> {
  if (process.env.NEXT_RUNTIME !== "nodejs") return;
  const { ConfigError, serverConfig } = await import("./server/config.ts");
  try {
    serverConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`error: ${error.message}`);
    process.exit(1);
  }
}
