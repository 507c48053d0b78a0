import { Writable } from 'node:stream';

/** A writable stream that keeps everything written to it, for code that takes an `out` stream. */
export function captured(): { stream: Writable; text(): string } {
  let text = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      text += String(chunk);
      done();
    },
  });
  return { stream, text: () => text };
}
