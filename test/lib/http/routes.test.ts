import { describe, expect, it } from 'vitest';
import { RouteError } from '../../../lib/errors.ts';
import { matchRoute, ROUTES, type Route } from '../../../lib/http/routes.ts';

function refusal(run: () => unknown): RouteError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(RouteError);
    return error as RouteError;
  }
  return expect.unreachable('the route matched');
}

describe('matchRoute over the route table', () => {
  it.each([
    ['/upgrades', '/upgrades'],
    ['/upgrades/', '/upgrades'],
    ['/upgrades//', '/upgrades'],
    ['/prod/upgrades', '/upgrades'],
    ['/api/v1/upgrades', '/upgrades'],
    ['/upgrades/oauth', '/upgrades/oauth'],
    ['/prod/upgrades/oauth/', '/upgrades/oauth'],
  ])('%s is served by %s', (path, routePath) => {
    expect(matchRoute('POST', path).route.path).toBe(routePath);
  });

  it('names an empty path as /', () => {
    expect(refusal(() => matchRoute('POST', '')).message).toBe('no route for /: use POST /upgrades');
  });

  it.each([
    '/',
    '',
    'upgrades',
    'xx/upgrades',
    '//upgrades',
    '/upgrades/x',
    '/upgrade',
    '/UPGRADES',
    '/upgrades%2F',
    '/x/../admin',
  ])('%j is 404, naming the path', (path) => {
    const error = refusal(() => matchRoute('POST', path));
    expect(error.statusCode).toBe(404);
    expect(error.message).toMatch(/^no route for .*: use POST \/upgrades$/);
  });

  it('answers 405 with the methods the path allows', () => {
    const error = refusal(() => matchRoute('GET', '/prod/upgrades'));
    expect([error.statusCode, error.allow, error.message]).toEqual([
      405,
      'POST',
      'method GET is not allowed on /upgrades: use POST',
    ]);
  });

  it('cuts a long path in its message', () => {
    const error = refusal(() => matchRoute('POST', `/${'x'.repeat(500)}`));
    expect(error.message.length).toBeLessThan(120);
  });

  // What a later issue adds to the table, as data: routes with path parameters and several methods.
  const ROLLOUTS: Route[] = [
    ...ROUTES,
    { method: 'POST', path: '/rollouts', auth: 'webhook-signature' },
    { method: 'GET', path: '/rollouts', auth: 'webhook-signature' },
    { method: 'GET', path: '/rollouts/{id}', auth: 'webhook-signature' },
    // After the parameter that also matches it: the table's order must not decide.
    { method: 'GET', path: '/rollouts/latest', auth: 'webhook-signature' },
    ...['approve', 'pause', 'resume', 'cancel'].map((action) => ({
      method: 'POST',
      path: `/rollouts/{id}/${action}`,
      auth: 'webhook-signature' as const,
    })),
  ];

  it('matches routes with path parameters after any prefix, the most literal first', () => {
    expect(matchRoute('GET', '/prod/rollouts/r-42', ROLLOUTS)).toEqual({
      route: ROLLOUTS.find((route) => route.path === '/rollouts/{id}'),
      params: { id: 'r-42' },
    });
    expect(matchRoute('POST', '/rollouts/r-42/approve', ROLLOUTS)).toMatchObject({
      route: { path: '/rollouts/{id}/approve' },
      params: { id: 'r-42' },
    });
    expect(matchRoute('POST', '/api/rollouts', ROLLOUTS).route.path).toBe('/rollouts');
    expect(matchRoute('POST', '/upgrades', ROLLOUTS).route.path).toBe('/upgrades');
  });

  it('refuses another method on a parameterised path with 405, and an unknown action with 404', () => {
    expect(refusal(() => matchRoute('DELETE', '/rollouts/r-42', ROLLOUTS))).toMatchObject({
      statusCode: 405,
      allow: 'GET',
    });
    expect(refusal(() => matchRoute('POST', '/rollouts/r-42/explode', ROLLOUTS)).statusCode).toBe(404);
    expect(refusal(() => matchRoute('DELETE', '/rollouts', ROLLOUTS))).toMatchObject({
      allow: 'POST, GET',
      message: 'method DELETE is not allowed on /rollouts: use POST or GET',
    });
  });

  it('prefers a literal route over a parameter that would match the same segment', () => {
    expect(matchRoute('GET', '/rollouts/latest', ROLLOUTS)).toEqual({
      route: { method: 'GET', path: '/rollouts/latest', auth: 'webhook-signature' },
      params: {},
    });
    expect(matchRoute('GET', '/rollouts/r-7', ROLLOUTS).params).toEqual({ id: 'r-7' });
    // The methods allowed are the most literal path's only.
    expect(refusal(() => matchRoute('DELETE', '/rollouts/latest', ROLLOUTS)).allow).toBe('GET');
  });
});
