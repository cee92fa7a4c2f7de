/**
 * JSON.stringify with every character above U+007F written as a `\uXXXX`
 * escape. The text means the same to any JSON reader, but it stays a one-byte
 * string in the engine: a single non-ASCII character (an em dash in a tool
 * description) makes the whole string two-byte, and then every response that
 * carries it is transcoded to UTF-8 again — for a 30 kB tools/list that was
 * half of the request's cost.
 */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
