/**
 * Errors the local platform raises. Each says what went wrong and, in `hint`,
 * what the developer should do about it; the CLIs print both and exit 1.
 */
export class DevError extends Error {
  readonly hint: string;

  constructor(message: string, hint: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.hint = hint;
  }
}

/** A command line the command does not take; the message names the argument. */
export class UsageError extends DevError {
  constructor(message: string, command: string) {
    super(message, `Run \`${command} --help\` for what it takes.`);
  }
}

export class PortInUseError extends DevError {
  readonly port: number;
  readonly service: string;

  constructor(service: string, host: string, port: number, envVar?: string) {
    super(
      `${service} cannot listen on ${host}:${port}: the port is already in use by another process`,
      `Stop whatever listens there (\`ss -ltnp 'sport = :${port}'\` shows it)` +
        (envVar ? `, or choose another port with ${envVar}=<port>.` : "."),
    );
    this.service = service;
    this.port = port;
  }
}

export class ToolMissingError extends DevError {
  readonly tool: string;

  constructor(tool: string, hint: string) {
    super(`${tool} was not found on PATH`, hint);
    this.tool = tool;
  }
}

export class CommandFailedError extends DevError {
  readonly command: string;
  readonly exitCode: number | null;
  readonly outputTail: string;

  constructor(
    what: string,
    command: string,
    exitCode: number | null,
    outputTail: string,
    hint: string,
  ) {
    super(
      `${what} failed (exit code ${exitCode ?? "signal"}): ${command}${outputTail ? `\n--- last output ---\n${outputTail}` : ""}`,
      hint,
    );
    this.command = command;
    this.exitCode = exitCode;
    this.outputTail = outputTail;
  }
}

export class GoBuildError extends CommandFailedError {}

export class AptInstallError extends CommandFailedError {}

export class ServiceStartError extends DevError {
  readonly service: string;

  constructor(service: string, reason: string, logFile: string) {
    super(`${service} did not start: ${reason}`, `Read its log at ${logFile}.`);
    this.service = service;
  }
}

/** Prints an error for a person and returns the process exit code. */
export function reportFailure(error: unknown): number {
  if (error instanceof DevError) {
    console.error(`\nerror: ${error.message}\nwhat to do: ${error.hint}`);
    // 2, as for any command line a program does not take.
    return error instanceof UsageError ? 2 : 1;
  } else {
    console.error("\nerror:", error);
  }
  return 1;
}
