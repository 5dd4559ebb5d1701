import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ExpressionError, MAX_EXPRESSION_BYTES, MAX_EXPRESSION_DEPTH, evaluate, formatExpression, parseExpression,
  type Recipient, type Value,
} from '../../../src/apps/inbox/expression.ts';

function device(id: string, groups: string[], attrs: Record<string, Value>): Recipient {
  return { id, hasGroup: (g) => groups.includes(g), attr: (n) => attrs[n] };
}

function refused(src: string): ExpressionError {
  try {
    parseExpression(src);
  } catch (err) {
    assert.ok(err instanceof ExpressionError, `not an ExpressionError: ${String(err)}`);
    assert.equal(err.code, 'INBOX_BAD_EXPRESSION');
    return err;
  }
  assert.fail(`${JSON.stringify(src)} parsed`);
}

const EXAMPLE = 'group:sports and (country = "FR" or country in ["BE", "CH"]) and not group:muted and age >= 18';

test('the example from the issue parses into the tree it says', () => {
  assert.deepEqual(parseExpression(EXAMPLE), {
    op: 'and',
    args: [
      { op: 'group', name: 'sports' },
      { op: 'or', args: [{ op: 'cmp', attr: 'country', cmp: '=', value: 'FR' }, { op: 'in', attr: 'country', values: ['BE', 'CH'] }] },
      { op: 'not', arg: { op: 'group', name: 'muted' } },
      { op: 'cmp', attr: 'age', cmp: '>=', value: 18 },
    ],
  });
  assert.equal(formatExpression(parseExpression(EXAMPLE)), EXAMPLE);
});

test('the example evaluates as written', () => {
  const e = parseExpression(EXAMPLE);
  assert.equal(evaluate(e, device('a', ['sports'], { country: 'FR', age: 30 })), true);
  assert.equal(evaluate(e, device('a', ['sports'], { country: 'CH', age: 18 })), true);
  assert.equal(evaluate(e, device('a', ['sports'], { country: 'DE', age: 30 })), false);
  assert.equal(evaluate(e, device('a', ['sports', 'muted'], { country: 'FR', age: 30 })), false);
  assert.equal(evaluate(e, device('a', ['sports'], { country: 'FR', age: 17 })), false);
  assert.equal(evaluate(e, device('a', ['news'], { country: 'FR', age: 30 })), false);
  assert.equal(evaluate(e, device('a', ['sports'], { country: 'FR' })), false, 'missing age');
  assert.equal(evaluate(e, device('a', ['sports'], { country: 'FR', age: '30' })), false, 'a string is not a number');
});

test('all, device:<id>, precedence (not > and > or), every comparison, strings and numbers', () => {
  const d = device('0123456789abcdef', ['a', 'b'], { n: 5, s: 'm', f: -2.5 });
  const yes = (src: string) => assert.equal(evaluate(parseExpression(src), d), true, src);
  const no = (src: string) => assert.equal(evaluate(parseExpression(src), d), false, src);
  yes('all');
  yes('device:0123456789abcdef');
  no('device:0123456789abcdee');
  yes('group:a or group:x and group:y'); // and binds tighter
  no('(group:a or group:x) and group:y');
  yes('not group:x and group:a');
  no('not (group:a and group:b)');
  yes('not not group:a');
  yes('n = 5'); no('n != 5'); yes('n < 6'); yes('n <= 5'); no('n > 5'); yes('n >= 5');
  yes('s = "m"'); yes('s < "n"'); yes('s > "l"'); no('s = 5'); no('n = "5"');
  yes('f = -2.5'); yes('f < -2'); yes('n in [1, 5, "x"]'); no('n in ["5"]'); yes('s in ["a", "m"]');
  no('missing = 1'); no('missing != 1'); yes('not missing = 1');
  yes('n = 5e0'); yes('n>=5 and s="m"');
  // Any number of groups.
  const many = Array.from({ length: 300 }, (_, i) => `group:g${i}`).join(' or ');
  assert.equal(evaluate(parseExpression(many), device('x', ['g299'], {})), true);
  assert.equal(evaluate(parseExpression(many), device('x', ['g300'], {})), false);
  // Escapes in strings.
  assert.deepEqual(parseExpression('s = "a\\"b\\u00e9"'), { op: 'cmp', attr: 's', cmp: '=', value: 'a"bé' });
});

test('errors give the position and what was expected', () => {
  const cases: [string, number, RegExp][] = [
    ['', 0, /"all", "group:NAME"/],
    ['   ', 0, /the end of the expression/],
    ['group:a and', 11, /expected "all", "group:NAME".*found the end/],
    ['group:a or or', 11, /found "or"/],
    ['(group:a', 8, /expected "and", "or" or "\)"/],
    ['group:a)', 7, /expected "and", "or", "\)" or the end/],
    ['group:', 6, /a group name/],
    ['group:a b', 8, /"and", "or", "\)" or the end/],
    ['device:xyz', 7, /16 lower-case hex digits/],
    ['age', 3, /a comparison .* after the attribute "age"/],
    ['age >=', 6, /a value/],
    ['age >= group:a', 7, /a value/],
    ['age ! 3', 4, /"!="/],
    ['country = "FR', 13, /closing '"'/],
    ['country in "FR"', 11, /"\[" to start the list/],
    ['country in ["FR" "BE"]', 17, /"," or "\]"/],
    ['country in []', 12, /a value/],
    ['age >= 18x', 7, /a number/],
    ['age >= 01', 7, /a number/],
    ['age # 3', 4, /found "#"/],
    ['9lives = 1', 0, /a number/],
    ['and = 1', 0, /"all", "group:NAME"/],
    ['a.b:c = 1', 0, /an attribute name/],
    ['s = "bad \\x escape"', 4, /JSON escapes/],
    ['group:a and (group:b or not)', 27, /found "\)"/],
  ];
  for (const [src, pos, expected] of cases) {
    const err = refused(src);
    assert.equal(err.position, pos, `${JSON.stringify(src)}: ${err.message}`);
    assert.match(err.message, expected, src);
    assert.match(err.message, new RegExp(`at position ${pos}:`));
  }
});

test('length limit: 4096 bytes of UTF-8, the position is the first character past it', () => {
  const fill = (n: number) => 'group:a' + ' '.repeat(n - 7);
  parseExpression(fill(MAX_EXPRESSION_BYTES));
  let err = refused(fill(MAX_EXPRESSION_BYTES + 1));
  assert.equal(err.position, MAX_EXPRESSION_BYTES);
  assert.match(err.message, /at most 4096 bytes/);
  // Multi-byte characters count as their UTF-8 bytes: 1366 × "é" (2 bytes) in a string = 2732 bytes.
  const wide = 's = "' + 'é'.repeat(2045) + '"'; // 5 + 4090 + 1 = 4096 bytes
  parseExpression(wide);
  err = refused('s = "' + 'é'.repeat(2046) + '"');
  assert.equal(err.position, 5 + 2045, 'the 2046th é crosses 4096');
});

test('depth limit: 32 levels of "(" and "not"; the 33rd is refused where it stands', () => {
  const nest = (n: number) => '('.repeat(n) + 'group:a' + ')'.repeat(n);
  parseExpression(nest(MAX_EXPRESSION_DEPTH));
  let err = refused(nest(MAX_EXPRESSION_DEPTH + 1));
  assert.equal(err.position, MAX_EXPRESSION_DEPTH);
  assert.match(err.message, /at most 32 levels/);
  parseExpression('not '.repeat(MAX_EXPRESSION_DEPTH) + 'group:a');
  err = refused('not '.repeat(MAX_EXPRESSION_DEPTH + 1) + 'group:a');
  assert.equal(err.position, 4 * MAX_EXPRESSION_DEPTH);
  err = refused('not ('.repeat(17) + 'group:a' + ')'.repeat(17));
  assert.equal(err.position, 'not ('.repeat(16).length, 'the 17th "not" is the 33rd level');
  // Long flat chains are not deep: 300 terms is fine (under 4 KB).
  parseExpression(Array.from({ length: 300 }, () => 'group:a').join(' and '));
  // A hostile expression of 4 KB of "(" fails on depth, not with a stack overflow.
  err = refused('('.repeat(MAX_EXPRESSION_BYTES));
  assert.equal(err.position, MAX_EXPRESSION_DEPTH);
});
