/**
 * Mcp-Name and other mirrored header values: plain ASCII as it is, anything
 * else as `=?base64?…?=` in its one canonical spelling — padded, no stray
 * bits, valid UTF-8 — so a strict intermediary and this server always read
 * the same name.
 */
import { describe, expect, test } from 'bun:test';
import { HeaderMismatchError } from '../../src/core/errors.ts';
import { decodeHeaderValue } from '../../src/mcp/era.ts';

const decode = (raw: string) => {
  try {
    return decodeHeaderValue(raw, 'Mcp-Name');
  } catch (err) {
    return err instanceof HeaderMismatchError ? `refused: ${err.message}` : `threw ${String(err)}`;
  }
};

describe('decodeHeaderValue', () => {
  test.each([
    ['plain ASCII', 'get_weather', 'get_weather'],
    ['non-ASCII', '=?base64?SGVsbG8sIOS4lueVjA==?=', 'Hello, 世界'],
    ['surrounding spaces', '=?base64?IHBhZGRlZCA=?=', ' padded '],
    ['a newline', '=?base64?bGluZTEKbGluZTI=?=', 'line1\nline2'],
    ['a value that looks like the sentinel', '=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=', '=?base64?literal?='],
    ['empty', '=?base64??=', ''],
  ])('%s: decoded', (_name, raw, value) => {
    expect(decode(raw)).toBe(value);
  });

  const MALFORMED = 'refused: Header mismatch: Mcp-Name has a malformed =?base64?…?= value';
  test.each([
    ['no padding', '=?base64?SGVsbG8sIOS4lueVjA?='],
    ['one = of two', '=?base64?SGVsbG8sIOS4lueVjA=?='],
    ['three =', '=?base64?SGVsbG8sIOS4lueVjA===?='],
    ['= inside', '=?base64?SGVs=bG8sIOS4lueVjA==?='],
    ['stray low bits', '=?base64?SGVsbG8sIOS4lueVjB==?='],
    ['a length that no bytes have', '=?base64?S?='],
    ['base64url characters', '=?base64?PT9iYXNlNjQ_bGl0ZXJhbD89?='],
    ['bytes that are not UTF-8', '=?base64?c/8=?='],
    ['a lone surrogate in CESU form', '=?base64?7aCA?='],
    ['an unterminated sentinel', '=?base64?SGVsbG8='],
  ])('%s: refused as malformed', (_name, raw) => {
    expect(decode(raw)).toBe(MALFORMED);
  });

  test.each([
    ['Latin-1', 'sh\u00e9ll'],
    ['raw UTF-8 bytes', Buffer.from('工具').toString('latin1')],
  ])('%s that is not encoded: refused', (_name, raw) => {
    expect(decode(raw)).toBe('refused: Header mismatch: Mcp-Name contains characters that need the =?base64?…?= encoding');
  });
});
