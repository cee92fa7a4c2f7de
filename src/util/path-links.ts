/**
 * How the kernel reaches a path: every symbolic link it meets on the way,
 * named where the link itself lies, and where the path leads in the end.
 * Whoever can write the directory a link lies in can point it elsewhere, so
 * a file reached through a link in a directory commands can write is a file
 * commands can swap, even when its name and its real location both lie
 * outside: `/etc/hide/keys.json` → `/srv/ws/lnk/keys.json`, with `/srv/ws/lnk`
 * a link out of the workspace to `/etc/hide/real`.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** As many links as the kernel follows in one lookup before ELOOP. */
const MAX_LINKS = 40;

export interface PathRoute {
  /** Where each link met lies (its own path, every directory above it real), in the order met. */
  links: string[];
  /** Where the path leads: its real location, or, for a part that does not exist, where it would be created. */
  target: string;
}

/**
 * The route to `path` (made absolute from the working directory), component
 * by component, following each link as the kernel would; a missing
 * component and whatever follows it are taken as written.
 *
 * @example
 * routeTo('/etc/hide/keys.json') // { links: [], target: '/etc/hide/keys.json' } when no link is on the way
 */
export function routeTo(path: string): PathRoute {
  const links: string[] = [];
  let pending = resolve(path).split('/').filter((c) => c !== '');
  let current = '/';
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      current = dirname(current);
      continue;
    }
    const next = join(current, part);
    let isLink: boolean;
    try {
      isLink = lstatSync(next).isSymbolicLink();
    } catch {
      return { links, target: join(next, ...pending) };
    }
    if (isLink && links.length < MAX_LINKS) {
      links.push(next);
      const to = readlinkSync(next);
      if (to.startsWith('/')) current = '/';
      pending = [...to.split('/').filter((c) => c !== ''), ...pending];
      continue;
    }
    current = next;
  }
  return { links, target: current };
}
