/**
 * Recipient expressions: who a message is for (docs/inbox.md has the grammar).
 *
 *   group:sports and (country = "FR" or country in ["BE", "CH"]) and not group:muted and age >= 18
 *   all
 *   device:9f3a0c11d2e4b5a6
 *
 * A hand-written recursive-descent parser (one function per grammar rule) over a small tokenizer.
 * The grammar is eight rules; a parser library would add a dependency and a grammar file for less
 * control over what matters here: the exact position and the list of what was expected in every
 * error, and hard limits on length and nesting checked while parsing (so a hostile 4 KB expression
 * cannot blow the stack). The tree it builds is evaluated against one device's groups and
 * attributes by `evaluate`.
 */
import { BrigadeError } from '../../protocol/index.ts';
import './errors.ts';

/** Longest expression accepted, in UTF-8 bytes. */
export const MAX_EXPRESSION_BYTES = 4096;
/** Deepest nesting accepted: each `(` and each `not` is one level. */
export const MAX_EXPRESSION_DEPTH = 32;

export type Value = string | number;
export type Comparison = '=' | '!=' | '<' | '<=' | '>' | '>=';

export type Expr =
  | { op: 'all' }
  | { op: 'group'; name: string }
  | { op: 'device'; id: string }
  | { op: 'cmp'; attr: string; cmp: Comparison; value: Value }
  | { op: 'in'; attr: string; values: Value[] }
  | { op: 'not'; arg: Expr }
  | { op: 'and'; args: Expr[] }
  | { op: 'or'; args: Expr[] };

/** A refusal of an expression: where (0-based offset in UTF-16 code units, as JavaScript indexes strings) and what was expected there. */
export class ExpressionError extends BrigadeError {
  constructor(readonly position: number, readonly expected: string, found: string) {
    super('INBOX_BAD_EXPRESSION', `bad recipient expression at position ${position}: expected ${expected}, found ${found}`);
  }
}

type TokKind = 'word' | 'string' | 'number' | 'op' | '(' | ')' | '[' | ']' | ',' | 'eof';
interface Token {
  kind: TokKind;
  text: string;
  /** The string's or number's value. */
  value?: Value;
  pos: number;
}

const WORD = /[A-Za-z0-9_.\-:]/;
const NAME = /^[A-Za-z_][A-Za-z0-9_.\-]*$/;
const GROUP = /^[A-Za-z0-9_.\-]+$/;
const DEVICE = /^[0-9a-f]{16}$/;
const KEYWORDS = new Set(['and', 'or', 'not', 'in', 'all']);
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;

function describe(t: Token): string {
  if (t.kind === 'eof') return 'the end of the expression';
  return JSON.stringify(t.text.length > 24 ? t.text.slice(0, 24) + '…' : t.text);
}

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    const pos = i;
    if (c === '(' || c === ')' || c === '[' || c === ']' || c === ',') {
      out.push({ kind: c, text: c, pos });
      i++;
    } else if (c === '=' ) {
      out.push({ kind: 'op', text: '=', pos });
      i++;
    } else if (c === '!' || c === '<' || c === '>') {
      if (src[i + 1] === '=') {
        out.push({ kind: 'op', text: c + '=', pos });
        i += 2;
      } else if (c === '!') {
        throw new ExpressionError(pos, '"!="', JSON.stringify(src.slice(pos, pos + 2)));
      } else {
        out.push({ kind: 'op', text: c, pos });
        i++;
      }
    } else if (c === '"') {
      let j = i + 1;
      while (j < src.length && src[j] !== '"') j += src[j] === '\\' ? 2 : 1;
      if (j >= src.length) throw new ExpressionError(src.length, 'a closing \'"\' for the string that starts at ' + pos, 'the end of the expression');
      const raw = src.slice(i, j + 1);
      let value: string;
      try {
        value = JSON.parse(raw) as string;
      } catch {
        throw new ExpressionError(pos, 'a string with JSON escapes only (\\" \\\\ \\n \\t \\uXXXX …)', describe({ kind: 'string', text: raw, pos }));
      }
      out.push({ kind: 'string', text: raw, value, pos });
      i = j + 1;
    } else if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER.lastIndex = i;
      const m = NUMBER.exec(src);
      if (!m || (i + m[0].length < src.length && WORD.test(src[i + m[0].length]))) {
        let j = i + 1;
        while (j < src.length && WORD.test(src[j])) j++;
        throw new ExpressionError(pos, 'a number such as 18, -2.5 or 1e3', JSON.stringify(src.slice(pos, j)));
      }
      out.push({ kind: 'number', text: m[0], value: Number(m[0]), pos });
      i += m[0].length;
    } else if (WORD.test(c)) {
      let j = i;
      while (j < src.length && WORD.test(src[j])) j++;
      out.push({ kind: 'word', text: src.slice(i, j), pos });
      i = j;
    } else {
      throw new ExpressionError(pos, 'a group, an attribute, a value, an operator or a parenthesis', JSON.stringify(c));
    }
  }
  out.push({ kind: 'eof', text: '', pos: src.length });
  return out;
}

class Parser {
  private at = 0;
  private depth = 0;

  constructor(private readonly toks: Token[]) {}

  private peek(): Token {
    return this.toks[this.at];
  }

  private next(): Token {
    return this.toks[this.at++];
  }

  private fail(expected: string, t = this.peek()): never {
    throw new ExpressionError(t.pos, expected, describe(t));
  }

  private isWord(text: string): boolean {
    const t = this.peek();
    return t.kind === 'word' && t.text === text;
  }

  /** expression := or, then the end. */
  parse(): Expr {
    const e = this.or();
    if (this.peek().kind !== 'eof') this.fail('"and", "or", ")" or the end of the expression');
    return e;
  }

  /** or := and ("or" and)* */
  private or(): Expr {
    const first = this.and();
    if (!this.isWord('or')) return first;
    const args = [first];
    while (this.isWord('or')) {
      this.next();
      args.push(this.and());
    }
    return { op: 'or', args };
  }

  /** and := unary ("and" unary)* */
  private and(): Expr {
    const first = this.unary();
    if (!this.isWord('and')) return first;
    const args = [first];
    while (this.isWord('and')) {
      this.next();
      args.push(this.unary());
    }
    return { op: 'and', args };
  }

  private enter(t: Token): void {
    if (++this.depth > MAX_EXPRESSION_DEPTH) {
      throw new ExpressionError(t.pos, `at most ${MAX_EXPRESSION_DEPTH} levels of nesting (each "(" and "not" is one)`, describe(t));
    }
  }

  /** unary := "not" unary | primary */
  private unary(): Expr {
    const t = this.peek();
    if (t.kind === 'word' && t.text === 'not') {
      this.enter(t);
      this.next();
      const arg = this.unary();
      this.depth--;
      return { op: 'not', arg };
    }
    return this.primary();
  }

  /** primary := "(" or ")" | "all" | "group:" NAME | "device:" ID | comparison */
  private primary(): Expr {
    const t = this.peek();
    if (t.kind === '(') {
      this.enter(t);
      this.next();
      const e = this.or();
      if (this.peek().kind !== ')') this.fail('"and", "or" or ")"');
      this.next();
      this.depth--;
      return e;
    }
    if (t.kind !== 'word' || (KEYWORDS.has(t.text) && t.text !== 'all')) {
      this.fail('"all", "group:NAME", "device:ID", "not", "(" or an attribute comparison such as age >= 18');
    }
    if (t.text === 'all') {
      this.next();
      return { op: 'all' };
    }
    if (t.text.startsWith('group:')) {
      const name = t.text.slice(6);
      if (!GROUP.test(name)) throw new ExpressionError(t.pos + 6, 'a group name of letters, digits, "_", "." or "-"', JSON.stringify(name));
      this.next();
      return { op: 'group', name };
    }
    if (t.text.startsWith('device:')) {
      const id = t.text.slice(7);
      if (!DEVICE.test(id)) throw new ExpressionError(t.pos + 7, 'a device id of 16 lower-case hex digits', JSON.stringify(id));
      this.next();
      return { op: 'device', id };
    }
    return this.comparison();
  }

  /** comparison := NAME op value | NAME "in" "[" value ("," value)* "]" */
  private comparison(): Expr {
    const t = this.next();
    if (!NAME.test(t.text)) throw new ExpressionError(t.pos, 'an attribute name (a letter or "_", then letters, digits, "_", "." or "-")', describe(t));
    const attr = t.text;
    const op = this.peek();
    if (op.kind === 'word' && op.text === 'in') {
      this.next();
      if (this.peek().kind !== '[') this.fail('"[" to start the list of values');
      this.next();
      const values = [this.value()];
      while (this.peek().kind === ',') {
        this.next();
        values.push(this.value());
      }
      if (this.peek().kind !== ']') this.fail('"," or "]"');
      this.next();
      return { op: 'in', attr, values };
    }
    if (op.kind !== 'op') this.fail('a comparison (=, !=, <, <=, >, >= or in) after the attribute ' + JSON.stringify(attr));
    this.next();
    return { op: 'cmp', attr, cmp: op.text as Comparison, value: this.value() };
  }

  /** value := STRING | NUMBER */
  private value(): Value {
    const t = this.peek();
    if (t.kind !== 'string' && t.kind !== 'number') this.fail('a value: a "string" or a number');
    this.next();
    return t.value!;
  }
}

/**
 * Parses a recipient expression. Throws ExpressionError (INBOX_BAD_EXPRESSION) with the position
 * and what was expected there; over MAX_EXPRESSION_BYTES or MAX_EXPRESSION_DEPTH it is refused too.
 */
export function parseExpression(src: string): Expr {
  if (typeof src !== 'string') throw new ExpressionError(0, 'an expression as a string', typeof src);
  if (src.length > MAX_EXPRESSION_BYTES / 3 && Buffer.byteLength(src, 'utf8') > MAX_EXPRESSION_BYTES) {
    // The position of the first character past the limit.
    let bytes = 0;
    let i = 0;
    for (; i < src.length; i++) {
      const cp = src.codePointAt(i)!;
      bytes += cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
      if (bytes > MAX_EXPRESSION_BYTES) break;
      if (cp >= 0x10000) i++;
    }
    throw new ExpressionError(i, `at most ${MAX_EXPRESSION_BYTES} bytes of UTF-8 (the expression has ${Buffer.byteLength(src, 'utf8')})`, 'more');
  }
  const toks = tokenize(src);
  if (toks.length === 1) throw new ExpressionError(0, '"all", "group:NAME", "device:ID", "not", "(" or an attribute comparison', 'the end of the expression');
  return new Parser(toks).parse();
}

/** What an expression is evaluated against: one device. */
export interface Recipient {
  /** The device id, 16 lower-case hex digits. */
  readonly id: string;
  hasGroup(name: string): boolean;
  /** The attribute's value, or undefined when the device has none by that name. */
  attr(name: string): Value | undefined;
}

/** One comparison of an attribute's value (shared by evaluate() and DeviceStore.matcher). */
export function compare(a: Value | undefined, cmp: Comparison, b: Value): boolean {
  // A missing attribute, or one of the other type, makes every comparison false (as SQL's NULL).
  if (a === undefined || typeof a !== typeof b) return false;
  switch (cmp) {
    case '=': return a === b;
    case '!=': return a !== b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
  }
}

/** Whether `e` selects `r`. */
export function evaluate(e: Expr, r: Recipient): boolean {
  switch (e.op) {
    case 'all': return true;
    case 'group': return r.hasGroup(e.name);
    case 'device': return r.id === e.id;
    case 'cmp': return compare(r.attr(e.attr), e.cmp, e.value);
    case 'in': {
      const a = r.attr(e.attr);
      return a !== undefined && e.values.some((v) => v === a);
    }
    case 'not': return !evaluate(e.arg, r);
    case 'and': return e.args.every((x) => evaluate(x, r));
    case 'or': return e.args.some((x) => evaluate(x, r));
  }
}

/** The expression written back in canonical form (for the check endpoint and docs). */
export function formatExpression(e: Expr): string {
  const val = (v: Value): string => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  switch (e.op) {
    case 'all': return 'all';
    case 'group': return `group:${e.name}`;
    case 'device': return `device:${e.id}`;
    case 'cmp': return `${e.attr} ${e.cmp} ${val(e.value)}`;
    case 'in': return `${e.attr} in [${e.values.map(val).join(', ')}]`;
    case 'not': return `not ${e.arg.op === 'and' || e.arg.op === 'or' ? `(${formatExpression(e.arg)})` : formatExpression(e.arg)}`;
    case 'and': return e.args.map((a) => (a.op === 'or' ? `(${formatExpression(a)})` : formatExpression(a))).join(' and ');
    case 'or': return e.args.map((a) => formatExpression(a)).join(' or ');
  }
}
