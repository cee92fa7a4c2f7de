/**
 * How the kernel reaches a path: every name it looks up on the way (a link
 * where the link itself lies, a directory where it is), and where the path
 * leads in the end. Whoever can write the directory a looked-up name lies in
 * can put another link or directory in its place, so a file reached through
 * a name in a directory commands can write is a file commands can swap, even
 * when its name and its real location both lie outside:
 * `/etc/hide/keys.json` → `/srv/ws/lnk/keys.json`, with `/srv/ws/lnk` a link
 * out of the workspace to `/etc/hide/real`; or a link to
 * `/srv/ws/sub/../../etc/hide/real`, with `/srv/ws/sub` a directory a command
 * can swap for a link.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** As many links as the kernel follows in one lookup before ELOOP. */
const MAX_LINKS = 40;

export interface PathRoute {
  /** Every name looked up (its own path, every directory above it real), in the order met: links and directories. */
  passed: string[];
  /** The links among them. */
  links: string[];
  /** Where the path leads: its real location, or, for a part that does not exist, where it would be created. */
  target: string;
}

/**
 * The route to `path` (made absolute from the working directory), component
 * by component, following each link as the kernel would (`..` climbs from
 * where the link before it led); a missing component and whatever follows it
 * are taken as written.
 *
 * @example
 * routeTo('/etc/hide/keys.json') // { passed: ['/etc', '/etc/hide', '/etc/hide/keys.json'], links: [], target: '/etc/hide/keys.json' }
 */
export function routeTo(path: string): PathRoute {
  const passed: string[] = [];
  const links: string[] = [];
  // Made absolute without resolve(), which would take `..` away by the spelling, before the links it climbs from.
  let pending = (path.startsWith('/') ? path : `${process.cwd()}/${path}`).split('/').filter((c) => c !== '');
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
      return { passed, links, target: join(next, ...pending) };
    }
    passed.push(next);
    if (isLink && links.length < MAX_LINKS) {
      links.push(next);
      let to: string;
      try {
        to = readlinkSync(next);
      } catch {
        // No longer a link (replaced between the two looks): the route is not one path now.
        throw new Error(`${next} changed while its path was being resolved (a link replaced by something else); try again`);
      }
      if (to.startsWith('/')) current = '/';
      pending = [...to.split('/').filter((c) => c !== ''), ...pending];
      continue;
    }
    current = next;
  }
  return { passed, links, target: current };
}
