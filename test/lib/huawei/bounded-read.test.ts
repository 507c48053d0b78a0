import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBounded } from '../../../lib/huawei/bounded-read.ts';
import { type LoopbackServer, startLoopbackServer } from '../../../stand-ins/loopback-server.ts';

describe('readBounded', () => {
  let server: LoopbackServer;

  beforeAll(async () => {
    // Answers `/<bytes>` with that many bytes of "é" (two UTF-8 bytes each), in 1 KB pieces.
    server = await startLoopbackServer(async (received, response) => {
      const bytes = Number(received.url.slice(1));
      response.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
      const piece = Buffer.from('é'.repeat(512));
      for (let sent = 0; sent < bytes && !response.destroyed; sent += piece.length) {
        if (!response.write(piece.subarray(0, Math.min(piece.length, bytes - sent)))) {
          await new Promise((resolve) => {
            response.once('drain', resolve);
            response.once('close', resolve);
          });
        }
      }
      if (!response.destroyed) response.end();
    });
  });
  afterAll(() => server.close());

  it('reads a body up to the cap whole, characters split across chunks included', async () => {
    const response = await request(`${server.url}/4096`);
    const read = await readBounded(response.body, 4096);
    expect(read).toEqual({ text: 'é'.repeat(2048), tooLarge: false });
  });

  it('stops one byte past the cap, giving no prefix, and closes the connection', async () => {
    const response = await request(`${server.url}/4097`);
    const read = await readBounded(response.body, 4096);
    expect(read).toEqual({ text: '', tooLarge: true });
    expect(response.body.destroyed).toBe(true);
  });

  it('reads an empty body as empty', async () => {
    const response = await request(`${server.url}/0`);
    expect(await readBounded(response.body, 10)).toEqual({ text: '', tooLarge: false });
  });
});
