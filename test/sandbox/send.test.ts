import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { main, payloadOf } from '../../sandbox/send.ts';
import { SANDBOX_WEBHOOK_KEY } from '../../sandbox/settings.ts';
import { type LoopbackServer, sendJson, startLoopbackServer } from '../../stand-ins/loopback-server.ts';
import { captured } from '../support/captured-stream.ts';
import { generateWebhookKey } from '../support/webhook-signing.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const NOW = Date.parse('2026-11-27T10:00:00Z');

const sample = (name: string) => readFile(new URL(`../../events/${name}`, import.meta.url), 'utf8');

let server: LoopbackServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function run(argv: string[], env: Record<string, string> = {}) {
  const out = captured();
  const err = captured();
  const code = await main(argv, { out: out.stream, err: err.stream, env, cwd: ROOT, now: () => NOW });
  return { code, out: out.text(), err: err.text() };
}

describe('send: what it takes from a sample', () => {
  it("sends an HTTP event's body byte for byte, with its content type", async () => {
    const text = await sample('http-api-v2.json');

    const payload = payloadOf(text, 'http-api-v2.json');

    expect(payload.body).toBe(JSON.parse(text).body);
    expect(payload.contentType).toBe('application/json');
  });

  it("base64-decodes a body marked isBase64Encoded and keeps the sample's charset", async () => {
    const payload = payloadOf(await sample('function-url.json'), 'function-url.json');

    expect(JSON.parse(payload.body).upgrades).toHaveLength(2);
    expect(payload.contentType).toBe('application/json; charset=utf-8');
    expect(payload.origin).toContain('base64-decoded');
  });

  it("sends an EventBridge event's detail, and any other file as it is", async () => {
    const pipeline = await sample('pipeline-event.json');
    const scheduler = await sample('scheduler-input.json');

    expect(JSON.parse(payloadOf(pipeline, 'p').body)).toEqual(JSON.parse(pipeline).detail);
    expect(JSON.parse(payloadOf(scheduler, 's').body)).toEqual(JSON.parse(scheduler));
  });

  it('names the tracker as the function of every tracking sample, and sends nothing', async () => {
    for (const name of [
      'tracking-accepted-event.json',
      'tracking-unconfirmed-event.json',
      'tracking-sqs-recheck.json',
      'tracking-sqs-recheck-version.json',
    ]) {
      const { code, err } = await run([`events/${name}`, '--url', 'http://127.0.0.1:9/upgrades']);
      expect(code, name).toBe(2);
      expect(err, name).toContain('for the tracking function (functions/track.ts)');
      expect(err, name).toContain(`npm run invoke -- track events/${name}`);
      expect(err, name).not.toContain('-> POST');
    }
  });

  it('refuses a file that is not JSON, naming it', () => {
    expect(() => payloadOf('{nope', 'broken.json')).toThrow('broken.json is not JSON');
  });
});

describe('send: over the wire', () => {
  async function recordingServer(status = 200, answer: unknown = { outcomes: [] }) {
    server = await startLoopbackServer((_request, response) => sendJson(response, status, answer));
    return server;
  }

  it('POSTs the payload signed with the Standard Webhooks scheme and prints the answer', async () => {
    const target = await recordingServer(200, { outcomes: [{ outcome: 'accepted' }] });

    const result = await run(['events/http-api-v2.json', '--url', `${target.url}/upgrades`]);

    expect(result.code).toBe(0);
    expect(JSON.parse(result.out)).toEqual({ outcomes: [{ outcome: 'accepted' }] });
    expect(result.out).toContain('\n  "outcomes"');
    expect(result.err).toContain('<- 200 OK');
    const [received] = target.requests;
    expect(received?.method).toBe('POST');
    expect(received?.url).toBe('/upgrades');
    expect(received?.body).toBe(JSON.parse(await sample('http-api-v2.json')).body);
    expect(received?.headers['content-type']).toBe('application/json');
    const id = String(received?.headers['webhook-id']);
    expect(id).toMatch(/^msg_[A-Za-z0-9_-]{20}$/);
    expect(result.err).toContain(`--id ${id}`);
    expect(received?.headers['webhook-timestamp']).toBe(String(NOW / 1000));
    // Checked with the standardwebhooks library, not with the signer send uses.
    const expected = new Webhook(SANDBOX_WEBHOOK_KEY).sign(id, new Date(NOW), received?.body ?? '');
    expect(received?.headers['webhook-signature']).toBe(expected);
  });

  it('uses the webhook-id given with --id, the key from SANDBOX_WEBHOOK_KEY, and PORT for the default URL', async () => {
    const target = await recordingServer();
    const key = generateWebhookKey();

    const result = await run(['events/scheduled-rule.json', '--id', 'msg_resend1'], {
      SANDBOX_WEBHOOK_KEY: key,
      PORT: String(target.port),
    });

    expect(result.code).toBe(0);
    const [received] = target.requests;
    expect(received?.headers['webhook-id']).toBe('msg_resend1');
    expect(received?.headers['webhook-signature']).toBe(
      new Webhook(key).sign('msg_resend1', new Date(NOW), received?.body ?? ''),
    );
    expect(result.out + result.err).not.toContain(key);
  });

  it('exits 1 when the answer is not 2xx, still printing it', async () => {
    const target = await recordingServer(401, { message: 'webhook signature rejected' });

    const result = await run(['events/http-api-v2.json', '--url', `${target.url}/upgrades`]);

    expect(result.code).toBe(1);
    expect(result.err).toContain('<- 401 Unauthorized');
    expect(JSON.parse(result.out)).toEqual({ message: 'webhook signature rejected' });
  });

  it('exits 2 with a clear message when nothing listens', async () => {
    const closed = await recordingServer();
    await closed.close();
    server = undefined;

    const result = await run(['events/http-api-v2.json', '--url', `${closed.url}/upgrades`]);

    expect(result.code).toBe(2);
    expect(result.err).toContain(
      `could not reach ${closed.url}/upgrades (ECONNREFUSED): is \`npm start\` running?`,
    );
  });

  it('exits 2 with the usage for a missing file argument or an unreadable file', async () => {
    const none = await run([]);
    const missing = await run(['events/no-such-sample.json']);

    expect(none.code).toBe(2);
    expect(none.err).toContain('name exactly one JSON file');
    expect(none.err).toContain('usage: npm run send --');
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('cannot read events/no-such-sample.json (ENOENT)');
  });
});
