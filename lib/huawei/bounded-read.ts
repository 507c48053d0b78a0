/**
 * Reads an HTTP answer's body up to a byte cap. Huawei's APIs answer a few hundred bytes to a few KB;
 * an answer far beyond that is no answer this function can use, and reading it whole (undici's
 * `body.text()`) would let a broken or hostile upstream exhaust the Lambda's memory.
 */

/** What undici's `response.body` offers: a stream of chunks that can be torn down. */
export interface ReadableBody extends AsyncIterable<Uint8Array> {
  destroy(error?: Error): unknown;
}

export interface BoundedText {
  /** The body as UTF-8; empty when it was too large (a prefix would be an answer cut mid-JSON). */
  text: string;
  tooLarge: boolean;
}

/**
 * The body as text, or `tooLarge` as soon as more than `maxBytes` arrived. The stream is destroyed
 * at that point, which closes the connection: nothing beyond the cap is read or buffered, and the
 * connection cannot be reused with the rest of that body still on it.
 */
export async function readBounded(body: ReadableBody, maxBytes: number): Promise<BoundedText> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > maxBytes) {
      body.destroy();
      return { text: '', tooLarge: true };
    }
    chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), tooLarge: false };
}
