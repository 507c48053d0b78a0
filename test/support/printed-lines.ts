import { EventEmitter, once } from 'node:events';
import { Writable } from 'node:stream';

/** What the sandbox prints on stdout, with a way to wait for a line. */
export function printed() {
  let text = '';
  const lines = new EventEmitter();
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      lines.emit('line');
      done();
    },
  });
  return {
    stream,
    text: () => text,
    /** The JSON lines with this top-level key, parsed. */
    // biome-ignore lint/suspicious/noExplicitAny: the lines are JSON read by assertions
    lines(key: string): any[] {
      return text
        .split('\n')
        .filter((line) => line.startsWith(`{"${key}":`))
        .map((line) => JSON.parse(line)[key]);
    },
    /** Resolves once a published event of this DetailType was printed (bounded by the test timeout). */
    async published(detailType: string) {
      for (;;) {
        const found = this.lines('published').find((entry) => entry.DetailType === detailType);
        if (found) return found;
        await once(lines, 'line');
      }
    },
  };
}
