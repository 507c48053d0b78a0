import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./handler-child.ts', import.meta.url));

export interface HandlerProcessOptions {
  event: unknown;
  /** What the child's Lambda context reports as remaining when the invocation starts. */
  remainingMs: number;
  /** Added to this process's environment (which holds the world's endpoints once it started). */
  env?: Record<string, string>;
}

export interface HandlerProcessEnd {
  /** Set when the child exited on its own. */
  code: number | null;
  /** Set when it was killed, e.g. `SIGKILL`. */
  signal: NodeJS.Signals | null;
  /** What the handler resolved to; undefined when it rejected or never finished. */
  result?: unknown;
  /** What the handler rejected with. */
  error?: { name: string; message: string };
  /** The child's stdout and stderr (its JSON logs), for diagnostics and secret checks. */
  output: string;
}

export interface HandlerProcess {
  child: ChildProcess;
  /** Kills the child at once: no cleanup code of the handler runs. */
  kill(): void;
  /** Settles when the child is gone, however it went. */
  ended: Promise<HandlerProcessEnd>;
}

/**
 * Runs functions/upgrade.ts once in a child Node process (test/support/handler-child.ts) with the
 * current environment, so that a test can kill the invocation for real in the middle of it.
 */
export function startHandlerProcess(options: HandlerProcessOptions): HandlerProcess {
  const child = spawn(process.execPath, [CHILD, String(options.remainingMs)], {
    env: { ...process.env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  let output = '';
  let resultLine = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const resultPipe = child.stdio[3] as NodeJS.ReadableStream;
  resultPipe.on('data', (chunk: Buffer) => {
    resultLine += chunk.toString('utf8');
  });
  // A killed child closes the pipe under a write in flight; nothing to report then.
  child.stdin?.on('error', () => undefined);
  child.stdin?.end(JSON.stringify(options.event));

  const ended = new Promise<HandlerProcessEnd>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      const parsed = resultLine.trim() === '' ? {} : (JSON.parse(resultLine) as Partial<HandlerProcessEnd>);
      resolve({ code, signal, output, ...parsed });
    });
  });
  return { child, kill: () => child.kill('SIGKILL'), ended };
}
