import { sep } from 'node:path';

/** True when `child` equals `root` or lies below it, by path segments (`/etc/ssl` does not hold `/etc/sslx`). */
export function isWithin(root: string, child: string): boolean {
  if (child === root) return true;
  const prefix = root.endsWith(sep) ? root : root + sep;
  return child.startsWith(prefix);
}
