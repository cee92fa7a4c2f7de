/**
 * IP addresses and CIDR rules as people write them in settings, parsed
 * strictly with ipaddr.js: IPv4 only in four-part decimal (ipaddr.js alone
 * would also take `0x7f.1` or `127.1`), IPv4-mapped IPv6 unwrapped to the IPv4
 * address it carries, no zone ids. Shared by the settings schema (a bad rule
 * is a bad setting) and the IP filter that matches requests against the rules.
 */
import ipaddr from 'ipaddr.js';

export type Addr = ipaddr.IPv4 | ipaddr.IPv6;
/** An address and its prefix length. */
export type IpRange = [Addr, number];

/** An IPv6 text whose last group holds a dot (`::10.1.2.3`, `::ffff:10.1.2.3`): its head, and that group. */
const DOTTED_TAIL = /^(.*:)([^:]*\.[^:]*)$/;

/**
 * The same IPv6 address with a dotted-quad tail written as two hex groups;
 * null when the quad is not a valid address. ipaddr.js reads any such tail
 * as IPv4-mapped (`::10.1.2.3` as `::ffff:10.1.2.3`), which would make the
 * deprecated IPv4-compatible form `::a01:203` pass for the IPv4 address.
 */
function hexTail(text: string): string | null {
  const m = DOTTED_TAIL.exec(text);
  if (m === null) return text;
  if (!ipaddr.IPv4.isValidFourPartDecimal(m[2]!)) return null;
  const [a, b, c, d] = ipaddr.IPv4.parse(m[2]!).octets as [number, number, number, number];
  return `${m[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/**
 * Parses one address strictly; null when it is not one. Only an IPv4-mapped
 * IPv6 address (`::ffff:a.b.c.d`) is IPv4; a dotted part must be four
 * decimal numbers (not `0x0a.1.2.3` or `00010.1.2.3`). A zone (`%eth0`: a
 * link-local peer's interface) is dropped from an IPv6 address, and makes
 * an IPv4-mapped one no address at all.
 */
export function parseIp(text: string): Addr | null {
  const s = text.trim();
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (!s.includes(':')) return null;
  const zone = s.indexOf('%');
  const hex = hexTail(zone === -1 ? s : s.slice(0, zone));
  if (hex === null || !ipaddr.IPv6.isValid(hex)) return null;
  const a = ipaddr.IPv6.parse(hex);
  if (!a.isIPv4MappedAddress()) return a;
  return zone === -1 ? a.toIPv4Address() : null;
}

/**
 * Parses an address or a CIDR range; throws an Error quoting the rule when it
 * is neither. A mapped prefix such as `::ffff:10.0.0.0/104` is the IPv4 range
 * `10.0.0.0/8`.
 */
export function parseIpRule(rule: string): IpRange {
  const s = rule.trim();
  const slash = s.indexOf('/');
  const addrText = slash === -1 ? s : s.slice(0, slash);
  const bitsText = slash === -1 ? null : s.slice(slash + 1);
  const addr = parseIp(addrText);
  // Zone ids name a local interface; they make no sense in a shared rule.
  if (addr === null || addrText.includes('%') || (bitsText !== null && !/^\d{1,3}$/.test(bitsText))) {
    throw new Error(`"${rule}" is not an IP address or CIDR range`);
  }
  const max = addr.kind() === 'ipv4' ? 32 : 128;
  if (bitsText === null) return [addr, max];
  const offset = addr.kind() === 'ipv4' && addrText.includes(':') ? 96 : 0;
  const bits = Number(bitsText) - offset;
  if (bits < 0 || bits > max) throw new Error(`"${rule}" has a prefix length outside ${offset}-${max + offset}`);
  return [addr, bits];
}

/**
 * The source a per-address budget belongs to: an IPv4 address (an
 * IPv4-mapped IPv6 one unwrapped), or the /64 an IPv6 address lies in
 * (`2001:db8:1:2::/64`), since one host holds 2^64 addresses and could take
 * a new one per request.
 */
export function addressSource(ip: string): string {
  const addr = parseIp(ip);
  if (addr === null) return ip;
  if (!(addr instanceof ipaddr.IPv6)) return addr.toString();
  return `${new ipaddr.IPv6([...addr.parts.slice(0, 4), 0, 0, 0, 0]).toRFC5952String()}/64`;
}
