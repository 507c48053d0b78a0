import { inspect } from 'node:util';
import { vi } from 'vitest';

/** Everything an error can show anyone: message, stack, own properties and the whole `cause` chain. */
export function describeError(error: unknown): string {
  const parts: string[] = [inspect(error, { depth: 20, showHidden: true })];
  const seen = new Set<unknown>();
  for (let current = error; current !== undefined && current !== null && !seen.has(current); ) {
    seen.add(current);
    if (current instanceof Error) {
      parts.push(current.message, String(current.stack));
      try {
        parts.push(JSON.stringify(current, Object.getOwnPropertyNames(current)));
      } catch {
        // Circular own properties: inspect above already covered them.
      }
      current = current.cause;
    } else {
      parts.push(String(current));
      current = undefined;
    }
  }
  return parts.join('\n');
}

/** Records everything written to stdout, stderr and the console while a test runs (restored by restoreMocks). */
export function captureOutput(): { text(): string } {
  const written: unknown[] = [];
  const record = (...args: unknown[]) => {
    written.push(...args);
  };
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown, ...rest: never[]) => {
      record(chunk);
      return original(chunk as string, ...rest);
    }) as typeof stream.write);
  }
  for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) {
    const original = console[method].bind(console);
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      record(...args);
      original(...args);
    });
  }
  return {
    text: () =>
      written
        .map((item) => {
          if (typeof item === 'string') return item;
          if (item instanceof Uint8Array) return Buffer.from(item).toString('utf8');
          return inspect(item, { depth: 20 });
        })
        .join('\n'),
  };
}

/** The secret values that occur in `text`. */
export function leakedSecrets(text: string, secrets: readonly string[]): string[] {
  return secrets.filter((secret) => text.includes(secret));
}
