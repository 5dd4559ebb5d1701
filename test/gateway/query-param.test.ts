/** queryParam (gateway/server.ts): the /ws token read without a URL object, as URLSearchParams reads it. */
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { queryParam } from '../../src/gateway/server.ts';

it('reads the first value of a query parameter exactly as URLSearchParams does', () => {
  const targets = ['/ws', '/ws?token=abc.12.x-y_z', '/ws?a=1&token=t%2Bk&token=2', '/ws?token', '/ws?token=', '/ws?tok=1',
    '/ws?x=1&token=a+b#f', '/ws?token=%ZZ', '/ws?to%6Ben=v', '/ws?&&token=q&', '/ws?#token=1', '/ws?token=a=b', '', '?token=%E2%82%AC'];
  for (const t of targets) assert.equal(queryParam(t, 'token'), new URL(t || '/', 'http://x').searchParams.get('token'), t);
});
