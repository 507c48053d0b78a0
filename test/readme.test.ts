import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Webhook } from 'standardwebhooks';
import { beforeAll, describe, expect, it } from 'vitest';
import { DETAIL_SCHEMAS, TRACKING_DETAIL_SCHEMAS } from '../lib/events/contract.ts';
import { ROLLOUT_DETAIL_TYPES } from '../lib/events/detail-types.ts';
import { SCHEMA_DIRECTORY } from '../scripts/generate-schemas.ts';
import { sendJson, startLoopbackServer } from '../stand-ins/loopback-server.ts';
import { type JsonSchema, schemaProblems } from './support/json-schema-check.ts';
import { emittedMetricNames } from './support/metric-names.ts';
import { packageService, projectRoot } from './support/serverless-package.ts';

/**
 * What the README tells a newcomer to type and to expect, checked against what the project does: the
 * secret names it creates are the ones serverless.yml reads, every JSON example is valid for the
 * schemas, its signing snippet signs as the Standard Webhooks library verifies, and every metric the
 * code emits is listed.
 */

const run = promisify(execFile);
const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8');

function blocks(language: string): string[] {
  return [...readme.matchAll(new RegExp(`\`\`\`${language}\\n([\\s\\S]*?)\`\`\``, 'g'))].map(
    (match) => match[1] ?? '',
  );
}

function section(title: string): string {
  const start = readme.indexOf(`\n## ${title}\n`);
  const end = readme.indexOf('\n## ', start + 1);
  if (start < 0) throw new Error(`README has no "## ${title}" section`);
  return readme.slice(start, end < 0 ? undefined : end);
}

const schema = (file: string): JsonSchema => JSON.parse(readFileSync(join(SCHEMA_DIRECTORY, file), 'utf8'));
const kebab = (detailType: string) => detailType.toLowerCase().replaceAll(' ', '-');
const DETAIL_TYPES = new Set([
  ...Object.keys(DETAIL_SCHEMAS),
  ...Object.keys(TRACKING_DETAIL_SCHEMAS),
  ...Object.values(ROLLOUT_DETAIL_TYPES),
]);

/** What a JSON example is, and what is wrong with it for the schemas (empty: nothing). */
function problemsOf(example: Record<string, unknown>): string[] {
  const detailType = example['detail-type'];
  if (Array.isArray(detailType)) {
    // An EventBridge rule pattern: it must name DetailTypes that exist.
    return detailType.filter((name) => !DETAIL_TYPES.has(name)).map((name) => `no DetailType ${name}`);
  }
  if (typeof detailType === 'string') {
    // A whole event: its Detail against its DetailType's schema.
    const rollout = (Object.values(ROLLOUT_DETAIL_TYPES) as string[]).includes(detailType);
    const document = schema(rollout ? 'proxy-rollout-event.schema.json' : `${kebab(detailType)}.schema.json`);
    return schemaProblems(document, example.detail, document);
  }
  if ('targets' in example && 'waves' in example) {
    const document = schema('rollout-request.schema.json');
    return schemaProblems(document, example, document);
  }
  if ('project_id' in example || 'upgrades' in example) {
    const document = schema('upgrade-request.schema.json');
    return schemaProblems(document, example, document);
  }
  return ['an example of no known kind (not a request, an event or a rule pattern)'];
}

describe('README', () => {
  let defaults: { credentials: string; webhook: string };

  beforeAll(async () => {
    const { template } = await packageService('dev');
    type Resource = {
      Properties?: { Handler?: string; Environment?: { Variables: Record<string, string> } };
    };
    const fn = Object.values<Resource>(template.Resources).find(
      (resource) => resource.Properties?.Handler === 'functions/upgrade.handler',
    );
    const env = fn?.Properties?.Environment?.Variables ?? {};
    defaults = { credentials: env.HUAWEI_CREDENTIALS_SECRET_ID ?? '', webhook: env.WEBHOOK_SECRET_ID ?? '' };
  }, 180_000);

  it("creates and reads the secrets under serverless.yml's default names", () => {
    const named = blocks('sh')
      .join('\n')
      .matchAll(/--(?:name|secret-id|param \w+Secret=)\s*"?(taurusdb-proxy-upgrader\/[^"\s\\]+)"?/g);
    const names = [...named].map((match) => match[1] as string);
    expect(names.length).toBeGreaterThanOrEqual(4);
    // The deploy steps use $STAGE (dev in their first line); other examples name a stage outright.
    for (const name of names) {
      const stage = name.split('/')[1] as string;
      const forStage = (value: string) => value.replace('/dev/', `/${stage === '$STAGE' ? 'dev' : stage}/`);
      const expected = [forStage(defaults.credentials), forStage(defaults.webhook)];
      expect(expected, name).toContain(name.replace('$STAGE', 'dev'));
    }
    expect(names.map((name) => name.replace('$STAGE', 'dev'))).toEqual(
      expect.arrayContaining([defaults.credentials, defaults.webhook]),
    );
    expect(defaults).toEqual({
      credentials: 'taurusdb-proxy-upgrader/dev/huawei-credentials',
      webhook: 'taurusdb-proxy-upgrader/dev/webhook',
    });
  });

  it('has only JSON examples that are valid: requests and events for their schemas, rule patterns for real DetailTypes', () => {
    const examples = blocks('json');
    expect(examples.length).toBeGreaterThanOrEqual(3);
    for (const text of examples) {
      const example = JSON.parse(text) as Record<string, unknown>;
      expect(problemsOf(example), text.slice(0, 120)).toEqual([]);
    }
  });

  it('signs with its five-line snippet exactly as Standard Webhooks verifies', async () => {
    const snippet = blocks('sh').find((block) => block.includes('openssl dgst'));
    expect(snippet?.trim().split('\n')).toHaveLength(5);
    const server = await startLoopbackServer((_request, response) => sendJson(response, 200, { ok: true }));
    try {
      const key = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
      const body =
        '{"project_id":"054e292c9880d4992f02c0196d3ea468","target_version":"latest","dry_run":true}';
      await run('bash', ['-c', snippet as string], {
        env: { PATH: process.env.PATH, KEY: key, URL: server.url, BODY: body },
      });
      const [request] = server.requests;
      expect(request?.url).toBe('/upgrades');
      expect(request?.body).toBe(body);
      const headers = request?.headers as Record<string, string>;
      expect(() => new Webhook(key).verify(body, headers)).not.toThrow();
    } finally {
      await server.close();
    }
  });

  it('lists every metric the functions emit, with its dimension', () => {
    const metrics = section('Logs and metrics');
    const missing = emittedMetricNames().filter((name) => !metrics.includes(`\`${name}\``));
    expect(missing).toEqual([]);
    expect(metrics).toContain('single\ndimension `service`');
  });

  it('has a table of contents linking every top-level section', () => {
    const contents = section('Contents');
    const titles = [...readme.matchAll(/^## (.+)$/gm)].map((match) => match[1] as string);
    expect(titles.length).toBeGreaterThan(5);
    for (const title of titles.filter((name) => name !== 'Contents')) {
      const anchor = title
        .toLowerCase()
        .replace(/[^a-z0-9 -]/g, '')
        .replaceAll(' ', '-');
      expect(contents, title).toContain(`](#${anchor})`);
    }
    // Quick start, then the way to production, then what it does, then how.
    const order = ['Quick start', 'Deploy in 10 minutes', 'Operating it', 'How it works', 'Configuration'];
    expect(titles).toEqual(expect.arrayContaining(order));
    expect(order.map((title) => titles.indexOf(title))).toEqual(
      [...order.map((title) => titles.indexOf(title))].sort((a, b) => a - b),
    );
  });
});
