/**
 * One invocation of the deployed upgrade handler (functions/upgrade.ts) in a process of its own, run
 * by `startHandlerProcess` (handler-process.ts). A test can then kill it with SIGKILL at any moment,
 * as Lambda loses a sandbox (out of memory, timeout, host failure): no `finally`, no flush, no
 * completion write. The environment comes from the parent (the world's endpoints).
 *
 * Usage: `node test/support/handler-child.ts <remaining-ms>`, the event as JSON on stdin; the
 * handler's result (or error) as one JSON line on file descriptor 3, so its logs keep stdout.
 */
import { writeSync } from 'node:fs';
import { lambdaContext } from './lambda-context.ts';

const RESULT_FD = 3;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

const remainingMs = Number(process.argv[2] ?? '29000');
const event: unknown = JSON.parse(await readStdin());
const { handler } = (await import('../../functions/upgrade.ts')) as {
  handler: (event: unknown, context: ReturnType<typeof lambdaContext>) => Promise<unknown>;
};
// Lambda's clock starts with the invocation, after the cold start: so does this one.
const deadline = Date.now() + remainingMs;
const context = lambdaContext({ getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) });

let line: string;
try {
  line = JSON.stringify({ result: await handler(event, context) });
} catch (error) {
  const { name, message } = error instanceof Error ? error : { name: 'unknown', message: String(error) };
  line = JSON.stringify({ error: { name, message } });
}
writeSync(RESULT_FD, `${line}\n`);
// Keep-alive sockets of the SDK clients and the undici pool would hold the process open.
process.exit(0);
