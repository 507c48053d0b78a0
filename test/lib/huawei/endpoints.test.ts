import { describe, expect, it } from 'vitest';
import { taurusDbEndpointFor } from '../../../lib/huawei/endpoints.ts';

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
