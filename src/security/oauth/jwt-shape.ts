/**
 * Whether a bearer value has the form of a JWT. Apart from the verifier so
 * that deciding "key or token?" loads no JWT library: a server without
 * OAuth never needs one.
 */

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Longer values are never taken for a JWT, whatever their form. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** True when the value has the compact JWS form of a JWT (an API key never has two dots). */
export function looksLikeJwt(value: string): boolean {
  return value.length <= MAX_TOKEN_LENGTH && JWT_SHAPE.test(value);
}
