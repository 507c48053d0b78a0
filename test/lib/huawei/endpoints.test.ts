import { describe, expect, it } from 'vitest';
import { endpointForRegion, taurusDbEndpointFor } from '../../../lib/huawei/endpoints.ts';

describe('taurusDbEndpointFor', () => {
  it.each([
    ['tr-west-1', 'https://gaussdbformysql.tr-west-1.myhuaweicloud.com'],
    ['ap-southeast-1', 'https://gaussdbformysql.ap-southeast-1.myhuaweicloud.com'],
    ['ap-southeast-2', 'https://gaussdbformysql.ap-southeast-2.myhuaweicloud.com'],
    ['cn-north-11', 'https://gaussdbformysql.cn-north-11.myhuaweicloud.com'],
    ['me-east-1', 'https://gaussdbformysql.me-east-1.myhuaweicloud.com'],
    ['af-south-1', 'https://gaussdb-mysql.af-south-1.myhuaweicloud.com'],
    ['cn-east-5', 'https://gaussdb-mysql.cn-east-5.myhuaweicloud.com'],
    ['la-north-2', 'https://gaussdb-mysql.la-north-2.myhuaweicloud.com'],
    ['cn-southwest-3', 'https://gaussdb-mysql.cn-southwest-3.myhuaweicloud.com'],
    ['cn-north-4', 'https://gaussdb.cn-north-4.myhuaweicloud.com'],
    ['eu-west-101', 'https://gaussdb.eu-west-101.myhuaweicloud.com'],
  ])('maps %s to %s', (region, endpoint) => {
    expect(taurusDbEndpointFor(region)).toBe(endpoint);
  });

  it('knows nothing of a region it has no entry for', () => {
    expect(taurusDbEndpointFor('mars-north-1')).toBeUndefined();
    expect(taurusDbEndpointFor('constructor')).toBeUndefined();
  });
});

describe('endpointForRegion', () => {
  const endpoints = {
    defaultRegion: 'eu-west-101',
    defaultEndpoint: 'http://127.0.0.1:9000',
    byRegion: { 'cn-east-3': 'http://127.0.0.1:9001' },
  };

  it('serves a mapped region from its entry, the default region and no region from the default', () => {
    expect(endpointForRegion(endpoints, 'cn-east-3')).toBe('http://127.0.0.1:9001');
    expect(endpointForRegion(endpoints, 'eu-west-101')).toBe('http://127.0.0.1:9000');
    expect(endpointForRegion(endpoints, undefined)).toBe('http://127.0.0.1:9000');
  });

  it('derives a known region by the prefix rule, fills a template, and serves no unknown region', () => {
    expect(endpointForRegion(endpoints, 'ap-southeast-1')).toBe(
      'https://gaussdbformysql.ap-southeast-1.myhuaweicloud.com',
    );
    expect(endpointForRegion(endpoints, 'mars-north-1')).toBeUndefined();
    const templated = { ...endpoints, template: 'http://127.0.0.1:9000/{region}' };
    expect(endpointForRegion(templated, 'mars-north-1')).toBe('http://127.0.0.1:9000/mars-north-1');
    expect(endpointForRegion(templated, 'cn-east-3')).toBe('http://127.0.0.1:9001');
  });
});
