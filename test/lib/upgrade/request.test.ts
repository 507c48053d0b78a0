import { describe, expect, it } from 'vitest';
import { ValidationError, type ValidationIssue } from '../../../lib/errors.ts';
import {
  MAX_REPORTED_ISSUES,
  parseUpgradeDelivery,
  parseUpgradePayload,
} from '../../../lib/upgrade/request.ts';

const request = {
  project_id: '054e292c9880d4992f02c0196d3ea468',
  instance_id: '517ea793ab91438cbfcd9c4b1c958b1ein07',
  proxy_id: '0f46fc46396e4fb19a0cb52f578e9511po01',
  source_version: '2.23.12.000',
  target_version: '2.24.03.000',
};

const ID_RULE = 'must contain only letters, digits and "-" (1 to 64 characters)';
const VERSION_RULE = 'must be a dotted version number such as 2.24.03.000';
const TARGET_RULE = 'must be "latest" or a dotted version number such as 2.24.03.000';
const PROXY_RULE = 'is required unless "all_proxies" is true';
const LATEST_NEEDS_READ = '"latest" needs the version read; remove "preflight": false';
const SOURCE_NEEDS_READ = 'is required with "preflight": false: only the version read can fill it in';
const ROOT_RULE = 'must be a JSON object: an upgrade request or {"upgrades": [...]}';

function issuesOf(payload: unknown): ValidationIssue[] {
  try {
    parseUpgradePayload(payload);
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    const validation = error as ValidationError;
    expect(validation.statusCode).toBe(400);
    expect(validation.expose).toBe(true);
    return validation.issues;
  }
  throw new Error('expected the payload to be refused');
}

describe('parseUpgradePayload accepts', () => {
  it('a single request, as a list of one', () => {
    expect(parseUpgradePayload({ ...request })).toEqual([request]);
  });

  it('a request with every optional field', () => {
    const full = {
      ...request,
      language: 'zh-cn',
      change_id: 'CHG0031337',
      requested_by: 'alice@example.com',
      delivery_id: 'c0ffee00-1234-4a5b-8c9d-000000000001',
    };
    expect(parseUpgradePayload(full)).toEqual([full]);
  });

  it('a batch, in order', () => {
    const second = { ...request, proxy_id: 'second-proxy', language: 'en-us' };
    expect(parseUpgradePayload({ upgrades: [request, second] })).toEqual([request, second]);
  });

  it('a batch of exactly 50', () => {
    const upgrades = Array.from({ length: 50 }, (_, index) => ({ ...request, proxy_id: `proxy-${index}` }));
    expect(parseUpgradePayload({ upgrades })).toHaveLength(50);
  });

  it('ids of exactly 64 characters and versions padded differently', () => {
    const edge = {
      ...request,
      proxy_id: 'A-'.repeat(32),
      source_version: '2.24.3',
      target_version: '2.24.03.001',
    };
    expect(parseUpgradePayload(edge)).toEqual([edge]);
  });

  it('the output without any key it was not asked for', () => {
    const [parsed] = parseUpgradePayload(JSON.parse(JSON.stringify(request)));
    expect(Object.keys(parsed ?? {})).toEqual(Object.keys(request));
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
  });
});

describe('parseUpgradePayload, version awareness and whole instances', () => {
  const { source_version: _source, ...withoutSource } = request;

  it('"latest" as the target, and no source_version: both come from the version read', () => {
    const latest = { ...withoutSource, target_version: 'latest' };
    expect(parseUpgradePayload(latest)).toEqual([latest]);
    // "latest" is not compared with an explicit source before the read.
    const withSource = { ...request, target_version: 'latest' };
    expect(parseUpgradePayload(withSource)).toEqual([withSource]);
  });

  it('all_proxies instead of proxy_id', () => {
    const { proxy_id: _proxy, ...instance } = request;
    const everyProxy = { ...instance, all_proxies: true };
    expect(parseUpgradePayload(everyProxy)).toEqual([everyProxy]);
    expect(parseUpgradePayload({ ...request, all_proxies: false })).toEqual([
      { ...request, all_proxies: false },
    ]);
  });

  it('preflight false with explicit versions, and dry_run', () => {
    const direct = { ...request, preflight: false, dry_run: true };
    expect(parseUpgradePayload(direct)).toEqual([direct]);
  });

  it('preflight and dry_run on a batch, inherited by every item that does not set its own', () => {
    const parsed = parseUpgradePayload({
      preflight: false,
      dry_run: true,
      upgrades: [
        request,
        { ...request, proxy_id: 'own-flags', preflight: true, dry_run: false, target_version: 'latest' },
      ],
    });
    expect(parsed).toEqual([
      { ...request, preflight: false, dry_run: true },
      { ...request, proxy_id: 'own-flags', preflight: true, dry_run: false, target_version: 'latest' },
    ]);
  });
});

describe('parseUpgradePayload, one step per proxy', () => {
  const { source_version: _source, ...withoutSource } = request;
  const { proxy_id: _proxy, ...instance } = request;
  const names = `project ${request.project_id}, instance ${request.instance_id}`;
  const sameProxy = (first: number, later: number) => ({
    path: `upgrades[${later}]`,
    message: `upgrades[${first}] and upgrades[${later}] name the same proxy (${names}, proxy ${request.proxy_id})`,
  });

  it('refuses two items naming one proxy, however their versions are spelled or dry_run is set', () => {
    const spellings = [
      request,
      { ...withoutSource, target_version: 'latest' },
      { ...request, target_version: '2.24.3.0', dry_run: true },
      { ...withoutSource, target_version: '2.24.03.000', preflight: true },
    ];
    for (const later of spellings.slice(1)) {
      expect(issuesOf({ upgrades: [request, later] }), JSON.stringify(later)).toEqual([sameProxy(0, 1)]);
    }
    // Every later copy is named against the first, at its own index; other proxies are not named.
    expect(
      issuesOf({ upgrades: [request, { ...request, proxy_id: 'other' }, ...spellings.slice(1)] }),
    ).toEqual([sameProxy(0, 2), sameProxy(0, 3), sameProxy(0, 4)]);
  });

  it('refuses two all_proxies items for one instance, dry run or not', () => {
    const everyProxy = { ...instance, all_proxies: true };
    expect(
      issuesOf({ upgrades: [everyProxy, { ...everyProxy, dry_run: true, target_version: 'latest' }] }),
    ).toEqual([
      {
        path: 'upgrades[1]',
        message: `upgrades[0] and upgrades[1] both ask for every proxy of the same instance (${names})`,
      },
    ]);
  });

  it('reports a duplicate beside the other issues, and leaves malformed ids to their own issue', () => {
    expect(issuesOf({ upgrades: [request, { ...request, language: 'fr' }] })).toEqual([
      { path: 'upgrades[1].language', message: 'must be one of en-us, zh-cn' },
      sameProxy(0, 1),
    ]);
    const malformed = { ...request, proxy_id: '../x' };
    expect(issuesOf({ upgrades: [malformed, malformed] })).toEqual([
      { path: 'upgrades[0].proxy_id', message: ID_RULE },
      { path: 'upgrades[1].proxy_id', message: ID_RULE },
    ]);
  });

  it('accepts one proxy id in two instances or projects, and an all_proxies item beside a proxy it lists', () => {
    const elsewhere = [
      request,
      { ...request, instance_id: 'other-instance' },
      { ...request, project_id: 'other-project' },
    ];
    expect(parseUpgradePayload({ upgrades: elsewhere })).toEqual(elsewhere);
    // The overlap is merged into one step when the instance is listed (lib/upgrade/plan.ts).
    const overlap = [request, { ...instance, all_proxies: true }];
    expect(parseUpgradePayload({ upgrades: overlap })).toEqual(overlap);
  });
});

describe('parseUpgradeDelivery', () => {
  it('says whether the payload was a batch, even a batch of one', () => {
    expect(parseUpgradeDelivery({ ...request })).toEqual({ requests: [request], batch: false });
    expect(parseUpgradeDelivery({ upgrades: [request] })).toEqual({ requests: [request], batch: true });
  });
});

describe('parseUpgradePayload refuses, version awareness and whole instances', () => {
  const { source_version: _source, ...withoutSource } = request;
  const { proxy_id: _proxy, ...instance } = request;

  it('neither proxy_id nor all_proxies: true', () => {
    expect(issuesOf(instance)).toEqual([{ path: 'proxy_id', message: PROXY_RULE }]);
    expect(issuesOf({ ...instance, all_proxies: false })).toEqual([
      { path: 'proxy_id', message: PROXY_RULE },
    ]);
  });

  it('both proxy_id and all_proxies: true', () => {
    expect(issuesOf({ ...request, all_proxies: true })).toEqual([
      { path: 'all_proxies', message: 'cannot be combined with proxy_id: name one proxy, or all of them' },
    ]);
  });

  it('flags that are not booleans, without guessing at proxy_id', () => {
    expect(issuesOf({ ...instance, all_proxies: 'true', preflight: 0, dry_run: 'yes' })).toEqual([
      { path: 'all_proxies', message: 'must be a boolean' },
      { path: 'preflight', message: 'must be a boolean' },
      { path: 'dry_run', message: 'must be a boolean' },
    ]);
  });

  it('"latest" and an omitted source with preflight false: only the version read resolves them', () => {
    expect(issuesOf({ ...withoutSource, target_version: 'latest', preflight: false })).toEqual([
      { path: 'source_version', message: SOURCE_NEEDS_READ },
      { path: 'target_version', message: LATEST_NEEDS_READ },
    ]);
  });

  it('preflight false inherited from the batch, except where an item turns it back on', () => {
    expect(
      issuesOf({
        preflight: false,
        // Four proxies: two items naming one proxy would be refused for that too.
        upgrades: [
          request,
          { ...request, proxy_id: 'proxy-1', target_version: 'latest' },
          { ...withoutSource, proxy_id: 'proxy-2', preflight: true, target_version: 'latest' },
          { ...withoutSource, proxy_id: 'proxy-3' },
        ],
      }),
    ).toEqual([
      { path: 'upgrades[1].target_version', message: LATEST_NEEDS_READ },
      { path: 'upgrades[3].source_version', message: SOURCE_NEEDS_READ },
    ]);
  });

  it('an item that turns preflight off itself inside a batch that does not', () => {
    expect(issuesOf({ upgrades: [{ ...withoutSource, preflight: false }] })).toEqual([
      { path: 'upgrades[0].source_version', message: SOURCE_NEEDS_READ },
    ]);
  });

  it('"latest" spelt any other way', () => {
    for (const spelling of ['Latest', 'LATEST', ' latest', 'latest.0', 'newest']) {
      expect(issuesOf({ ...request, target_version: spelling })).toEqual([
        { path: 'target_version', message: TARGET_RULE },
      ]);
    }
  });

  it('"latest" as the source', () => {
    expect(issuesOf({ ...request, source_version: 'latest' })).toEqual([
      { path: 'source_version', message: VERSION_RULE },
    ]);
  });

  it('unknown keys beside upgrades, the batch flags being known', () => {
    expect(issuesOf({ upgrades: [request], preflight: true, dry_run: false, all_proxies: true })).toEqual([
      { path: 'all_proxies', message: 'is not a known field' },
    ]);
  });
});

describe('parseUpgradePayload refuses', () => {
  it.each([
    ['null', null],
    ['an array', [request]],
    ['a string', JSON.stringify(request)],
    ['a number', 42],
    ['a boolean', true],
    ['undefined', undefined],
  ])('%s as the payload', (_name, payload) => {
    expect(issuesOf(payload)).toEqual([{ path: '(root)', message: ROOT_RULE }]);
  });

  it.each([['../x'], ['a/b'], [''], ['a'.repeat(65)], ['proxy id'], ['proxy%2Fid'], ['proxy_id'], ['prøxy']])(
    'proxy_id %j',
    (proxyId) => {
      expect(issuesOf({ ...request, proxy_id: proxyId })).toEqual([{ path: 'proxy_id', message: ID_RULE }]);
    },
  );

  it.each([['2.24.03.000-beta'], ['v2.24'], ['2.24.03.000 '], ['2'], ['']])(
    'target_version %j',
    (version) => {
      expect(issuesOf({ ...request, target_version: version })).toEqual([
        { path: 'target_version', message: TARGET_RULE },
      ]);
    },
  );

  it('a downgrade', () => {
    expect(issuesOf({ ...request, source_version: '2.24.03.000', target_version: '2.23.12.000' })).toEqual([
      { path: 'target_version', message: 'must be newer than source_version 2.24.03.000' },
    ]);
  });

  it('the same version written differently', () => {
    expect(issuesOf({ ...request, source_version: '2.24.03.000', target_version: '2.24.3.0' })).toEqual([
      { path: 'target_version', message: 'must be newer than source_version 2.24.03.000' },
    ]);
  });

  it('missing fields, each named', () => {
    // source_version is optional (the version read fills it in); proxy_id unless all_proxies is true.
    expect(issuesOf({ project_id: 'p1' })).toEqual([
      { path: 'instance_id', message: 'is required' },
      { path: 'target_version', message: 'is required' },
      { path: 'proxy_id', message: PROXY_RULE },
    ]);
  });

  it('wrong types', () => {
    expect(
      issuesOf({ ...request, project_id: 12, source_version: 2.23, target_version: null, change_id: ['x'] }),
    ).toEqual([
      { path: 'project_id', message: 'must be a string' },
      { path: 'source_version', message: 'must be a string' },
      { path: 'target_version', message: 'must be a string' },
      { path: 'change_id', message: 'must be a string' },
    ]);
  });

  it('an unknown language', () => {
    expect(issuesOf({ ...request, language: 'fr-fr' })).toEqual([
      { path: 'language', message: 'must be one of en-us, zh-cn' },
    ]);
  });

  it.each([
    ['change_id', '', 128],
    ['change_id', 'x'.repeat(129), 128],
    ['change_id', 'CHG\n001', 128],
    ['requested_by', 'x'.repeat(257), 256],
    ['requested_by', 'alice\u0000', 256],
    ['delivery_id', '', 128],
    ['delivery_id', 'id\u0085', 128],
  ])('%s %j', (field, value, max) => {
    expect(issuesOf({ ...request, [field]: value })).toEqual([
      { path: field, message: `must be 1 to ${max} printable characters (no control characters)` },
    ]);
  });

  it('unknown fields', () => {
    expect(issuesOf({ ...request, source: '2.23', Project_ID: 'x' })).toEqual([
      { path: 'source', message: 'is not a known field' },
      { path: 'Project_ID', message: 'is not a known field' },
    ]);
  });

  it('__proto__ and constructor keys, without touching any prototype', () => {
    const payload = JSON.parse(
      `{"__proto__":{"polluted":true,"upgrades":[]},"constructor":{"prototype":{"polluted":true}},${JSON.stringify(request).slice(1)}`,
    );
    expect(issuesOf(payload)).toEqual([
      { path: '__proto__', message: 'is not a known field' },
      { path: 'constructor', message: 'is not a known field' },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('__proto__ inside a batch item', () => {
    const item = JSON.parse(`{"__proto__":{"project_id":"other"},${JSON.stringify(request).slice(1)}`);
    expect(issuesOf({ upgrades: [request, { ...item, proxy_id: 'second-proxy' }] })).toEqual([
      { path: 'upgrades[1].__proto__', message: 'is not a known field' },
    ]);
  });

  it('an inherited upgrades key does not make a batch', () => {
    const payload = Object.assign(Object.create(null), request);
    expect(parseUpgradePayload(payload)).toEqual([request]);
    expect(issuesOf(Object.create({ upgrades: [request] }))).toEqual([
      { path: '(root)', message: ROOT_RULE },
    ]);
  });

  it('an empty batch and a batch of 51', () => {
    expect(issuesOf({ upgrades: [] })).toEqual([
      { path: 'upgrades', message: 'must hold 1 to 50 upgrades (got 0)' },
    ]);
    expect(issuesOf({ upgrades: Array.from({ length: 51 }, () => request) })).toEqual([
      { path: 'upgrades', message: 'must hold 1 to 50 upgrades (got 51)' },
    ]);
  });

  it('a huge batch by its size alone', () => {
    expect(issuesOf({ upgrades: Array.from({ length: 200_000 }, () => 'not a request') })).toEqual([
      { path: 'upgrades', message: 'must hold 1 to 50 upgrades (got 200000)' },
    ]);
  });

  it('upgrades that is not an array', () => {
    expect(issuesOf({ upgrades: { 0: request } })).toEqual([
      { path: 'upgrades', message: 'must be an array of upgrade requests' },
    ]);
  });

  it('unknown fields beside upgrades and inside batch items', () => {
    const second = { ...request, proxy_id: 'second-proxy', force: true };
    expect(issuesOf({ upgrades: [request, second], note: 'x' })).toEqual([
      { path: 'upgrades[1].force', message: 'is not a known field' },
      { path: 'note', message: 'is not a known field' },
    ]);
  });

  it('every issue of every batch item at once', () => {
    expect(
      issuesOf({
        upgrades: [
          request,
          { ...request, proxy_id: '../x', change_id: 5, target_version: '2.23.12.000' },
          null,
          'request',
          { ...request, instance_id: undefined, source_version: 'v2.24', language: 'EN' },
        ],
      }),
    ).toEqual([
      { path: 'upgrades[1].proxy_id', message: ID_RULE },
      { path: 'upgrades[1].change_id', message: 'must be a string' },
      { path: 'upgrades[1].target_version', message: 'must be newer than source_version 2.23.12.000' },
      { path: 'upgrades[2]', message: 'must be a JSON object (an upgrade request)' },
      { path: 'upgrades[3]', message: 'must be a JSON object (an upgrade request)' },
      { path: 'upgrades[4].instance_id', message: 'is required' },
      { path: 'upgrades[4].source_version', message: VERSION_RULE },
      { path: 'upgrades[4].language', message: 'must be one of en-us, zh-cn' },
    ]);
  });

  it('with a message that lists every issue for the error log', () => {
    const error = (() => {
      try {
        parseUpgradePayload({ ...request, proxy_id: 'a/b', extra: 1 });
      } catch (caught) {
        return caught as Error;
      }
      throw new Error('expected the payload to be refused');
    })();
    expect(error.message).toBe(`proxy_id: ${ID_RULE}; extra: is not a known field`);
  });
});

describe('parseUpgradePayload on hostile input', () => {
  it('refuses a huge value by length without echoing it', () => {
    const huge = 'A'.repeat(5_000_000);
    const issues = issuesOf({ ...request, proxy_id: huge, change_id: huge, target_version: huge });
    expect(issues).toEqual([
      { path: 'proxy_id', message: ID_RULE },
      { path: 'target_version', message: TARGET_RULE },
      { path: 'change_id', message: 'must be 1 to 128 printable characters (no control characters)' },
    ]);
  });

  it('cuts a huge unknown key short in the path', () => {
    const key = `k/${'x'.repeat(10_000)}`;
    const [issue, ...rest] = issuesOf({ ...request, [key]: 1 });
    expect(rest).toEqual([]);
    expect(issue?.message).toBe('is not a known field');
    expect(issue?.path).toBe(`[${JSON.stringify(`${key.slice(0, 64)}…`)}]`);
  });

  it('does not recurse into deeply nested values', () => {
    let nested: unknown = 'bottom';
    for (let depth = 0; depth < 100_000; depth += 1) nested = { nested };
    expect(issuesOf({ ...request, proxy_id: nested, extra: nested })).toEqual([
      { path: 'proxy_id', message: 'must be a string' },
      { path: 'extra', message: 'is not a known field' },
    ]);
    expect(issuesOf({ upgrades: [nested] })).toEqual([
      { path: 'upgrades[0].project_id', message: 'is required' },
      { path: 'upgrades[0].instance_id', message: 'is required' },
      { path: 'upgrades[0].target_version', message: 'is required' },
      { path: 'upgrades[0].nested', message: 'is not a known field' },
      { path: 'upgrades[0].proxy_id', message: PROXY_RULE },
    ]);
  });

  it(`reports at most ${MAX_REPORTED_ISSUES} issues and counts the rest`, () => {
    const payload = {
      ...request,
      ...Object.fromEntries(Array.from({ length: 250 }, (_, i) => [`extra${i}`, i])),
    };
    const issues = issuesOf(payload);
    expect(issues).toHaveLength(MAX_REPORTED_ISSUES + 1);
    expect(issues[0]).toEqual({ path: 'extra0', message: 'is not a known field' });
    expect(issues.at(-1)).toEqual({ path: '(root)', message: '150 more issues not shown' });
  });
});
