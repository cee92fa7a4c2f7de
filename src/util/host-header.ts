/**
 * The `Host` header's shape: a name, an IPv4 address or a bracketed IPv6
 * address, with an optional port. Shared by the settings schema (an allowed
 * host entry must have this shape) and the Host policy that reads requests.
 */

/** `name`, `name:port`, `[v6]` or `[v6]:port`. */
const HOST_HEADER = /^(\[[0-9a-f:.]+\]|[^\s:[\]/@]+)(?::(\d{1,5}))?$/;

export interface ParsedHost {
  /** Lower-case name; IPv6 in brackets. */
  name: string;
  port: string | null;
}

/** A Host header value (or a configured entry) split into name and port, or null when it is not one. */
export function parseHost(value: string): ParsedHost | null {
  const m = HOST_HEADER.exec(value.trim().toLowerCase());
  return m ? { name: m[1]!, port: m[2] ?? null } : null;
}
