/**
 * Keeps what the process writes to stdout and stderr (Powertools writes its JSON logs and EMF blobs
 * there) until `restore`, instead of printing it, so a suite's output shows only test results and a
 * world can check every line its handlers wrote; TEST_VERBOSE=1 prints it as well.
 */
export function captureProcessOutput(): { lines(): string[]; restore(): void } {
  const chunks: string[] = [];
  const originals = [process.stdout.write, process.stderr.write] as const;
  for (const stream of [process.stdout, process.stderr]) {
    const original = stream.write.bind(stream);
    stream.write = ((chunk: unknown, ...rest: never[]) => {
      chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8'));
      return process.env.TEST_VERBOSE ? original(chunk as string, ...rest) : true;
    }) as typeof stream.write;
  }
  return {
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((line) => line.trim() !== ''),
    restore() {
      [process.stdout.write, process.stderr.write] = originals;
    },
  };
}
