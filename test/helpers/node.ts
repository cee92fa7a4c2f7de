/**
 * A Node.js binary new enough for clients that need Node >= 22.19 (the MCP
 * Inspector): the `node` on PATH when it is, else the one `npx -y node@22`
 * brings (resolved once, then spawned directly so each run skips npx).
 */
const MIN = [22, 19] as const;

function newEnough(version: string): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number);
  return major > MIN[0] || (major === MIN[0] && minor >= MIN[1]);
}

async function output(cmd: string[]): Promise<string> {
  const proc = Bun.spawn(cmd, { stdout: 'pipe', stderr: 'pipe' });
  const [out, code] = await Promise.all([proc.stdout.text(), proc.exited]);
  return code === 0 ? out.trim() : '';
}

let resolving: Promise<string> | undefined;

export function node22(): Promise<string> {
  resolving ??= (async () => {
    const onPath = Bun.which('node');
    if (onPath && newEnough(await output([onPath, '-v']))) return onPath;
    const fetched = await output(['npx', '-y', 'node@22', '-p', 'process.execPath + " " + process.version']);
    const [path, version = ''] = fetched.split(' ');
    if (!path || !newEnough(version)) throw new Error(`no Node >= ${MIN.join('.')}: node on PATH is too old and npx -y node@22 gave "${fetched}"`);
    return path;
  })();
  return resolving;
}
