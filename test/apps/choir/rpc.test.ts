/**
 * rpc.ts's JsonBytes: the owner's writer of a request's JSON straight into a lane. What it writes
 * parses back as what was meant; past the 10 KB field it writes nothing more (the data's length
 * and bytes behind the field stay as they were) and refuses the message with a typed error.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DATA_AT, DATA_LEN_AT, JsonBytes, JSON_AT, MAX_JSON_BYTES, readJson, RPC_BYTES } from '../../../src/apps/choir/rpc.ts';

describe('choir RPC: JsonBytes', () => {
  it('writes text and whole numbers that parse back, with both lengths', () => {
    const sab = new SharedArrayBuffer(RPC_BYTES);
    const bytes = new Uint8Array(sab);
    const ids = [0, 7, 10, 99, 1234567, Number.MAX_SAFE_INTEGER];
    const w = new JsonBytes().begin(sab, bytes).ascii('{"s":[');
    ids.forEach((id, i) => { if (i > 0) w.ascii(','); w.uint(id); });
    w.ascii('],"odd":').uint(-3).ascii(',"half":').uint(1.5).ascii('}').end(sab, 12);
    const { json, dataLen } = readJson(sab);
    assert.deepEqual(json, { s: ids, odd: -3, half: 1.5 }, 'a number that is not a whole one ≥ 0 is written as JSON writes it');
    assert.equal(dataLen, 12);
  });

  it('refuses JSON over 10 KB without writing past its field', () => {
    const sab = new SharedArrayBuffer(RPC_BYTES);
    const bytes = new Uint8Array(sab);
    bytes.fill(0xab, DATA_LEN_AT, DATA_AT + 64);
    const w = new JsonBytes().begin(sab, bytes).ascii('[');
    for (let i = 0; i < 3000; i++) w.uint(123456).ascii(',');
    assert.throws(() => w.ascii('0]').end(sab, 0), { code: 'CHOIR_RPC_TOO_LARGE' });
    assert.ok(bytes.subarray(DATA_LEN_AT, DATA_AT + 64).every((b) => b === 0xab), 'the bytes after the JSON field are untouched');
    assert.ok(bytes[JSON_AT + MAX_JSON_BYTES - 1] !== 0 || bytes[JSON_AT + MAX_JSON_BYTES - 2] !== 0, 'it wrote up to the field\'s end at most');
    // begin() starts afresh: the next message is written whole
    const again = new JsonBytes().begin(sab, bytes).ascii('{"ok":').uint(1).ascii('}');
    again.end(sab, 0);
    assert.deepEqual(readJson(sab).json, { ok: 1 });
  });

  it('refuses a view that is not of the lane', () => {
    const sab = new SharedArrayBuffer(RPC_BYTES);
    assert.throws(() => new JsonBytes().begin(sab, new Uint8Array(new SharedArrayBuffer(RPC_BYTES))), /not a view of the lane/);
  });
});
