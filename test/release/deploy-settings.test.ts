/**
 * The settings the deploy/ examples set (Kubernetes, Compose, systemd) pass
 * `hide check-config` as written: validation only grows stricter, and an
 * example that no longer starts is the first thing a platform team copies.
 * Paths that exist only on the target (workspace, keys file, audit log) point
 * into a temp directory; values the examples take from a secret get one.
 */
import { describe, expect, test } from 'bun:test';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensureBinary, ROOT } from '../helpers/binary.ts';
import { tempDir } from '../helpers/temp.ts';

type Env = Record<string, string>;

function kubernetes(): Env {
  const docs = Bun.YAML.parse(readFileSync(join(ROOT, 'deploy/k8s/hide.yaml'), 'utf8')) as any[];
  const deployment = docs.find((d) => d?.kind === 'Deployment');
  const container = deployment.spec.template.spec.containers.find((c: any) => c.name === 'hide');
  // A value from a secret (valueFrom) is the secret's business: any well-formed one stands in.
  // `$(NAME)` is expanded from the entries above it, as the kubelet does.
  const env: Env = {};
  for (const e of container.env) {
    env[e.name] = e.value === undefined ? 'from-a-secret-0123456789abcdef0123456789' : String(e.value).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (whole, name) => env[name] ?? whole);
  }
  return env;
}

function compose(): Env {
  const doc = Bun.YAML.parse(readFileSync(join(ROOT, 'deploy/docker-compose.yml'), 'utf8')) as any;
  const env = doc.services.hide.environment as Record<string, string>;
  // `${NAME:?message}` is filled in by compose from the caller's environment.
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v).startsWith('${') ? 'from-the-caller-0123456789abcdef0123456789' : String(v)]));
}

function systemd(): Env {
  const lines = readFileSync(join(ROOT, 'deploy/systemd/hide.service'), 'utf8').split('\n');
  return Object.fromEntries(lines.filter((l) => l.startsWith('Environment=')).map((l) => l.slice('Environment='.length).split(/=(.*)/s).slice(0, 2) as [string, string]));
}

async function checkConfig(env: Env): Promise<{ code: number; stderr: string }> {
  const dir = tempDir('hide-deploy-');
  const ws = join(dir, 'workspace');
  mkdirSync(ws);
  const keys = join(dir, 'keys.json');
  writeFileSync(keys, JSON.stringify({ clients: [{ client_id: 'alice', api_key_sha256: 'a'.repeat(64), enabled: true }] }), { mode: 0o600 });
  const local: Env = { HIDE_WORKSPACE: ws, HIDE_AUDIT_LOG_FILE: join(dir, 'audit', 'audit.jsonl') };
  if (env.HIDE_API_KEYS_FILE) local.HIDE_API_KEYS_FILE = keys;
  const proc = Bun.spawn([await ensureBinary(), 'check-config'], {
    cwd: dir,
    env: { PATH: '/usr/bin:/bin', HOME: dir, ...env, ...local },
    stdout: 'ignore',
    stderr: 'pipe',
  });
  const [code, stderr] = await Promise.all([proc.exited, proc.stderr.text()]);
  return { code, stderr };
}

describe('deploy/ examples', () => {
  test.each([
    ['deploy/k8s/hide.yaml', kubernetes],
    ['deploy/docker-compose.yml', compose],
    ['deploy/systemd/hide.service', systemd],
  ])('%s: its settings pass hide check-config', async (_file, read) => {
    const env = read();
    expect(Object.keys(env).length).toBeGreaterThan(5);
    expect(await checkConfig(env)).toEqual({ code: 0, stderr: '' });
  });
});

test('deploy/k8s: Redis asks for a password, hide sends it, and only hide pods reach Redis', () => {
  const redis = Bun.YAML.parse(readFileSync(join(ROOT, 'deploy/k8s/redis.yaml'), 'utf8')) as any[];
  const container = redis.find((d) => d?.kind === 'Deployment').spec.template.spec.containers[0];
  expect(container.args.slice(0, 2)).toEqual(['--requirepass', '$(REDIS_PASSWORD)']);
  expect(container.env.find((e: any) => e.name === 'REDIS_PASSWORD').valueFrom.secretKeyRef).toEqual({ name: 'hide-redis', key: 'password' });
  const policy = redis.find((d) => d?.kind === 'NetworkPolicy');
  expect(policy.spec.podSelector.matchLabels).toEqual({ app: 'hide-redis' });
  expect(policy.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: { app: 'hide' } } }], ports: [{ protocol: 'TCP', port: 6379 }] }]);
  expect(new URL(kubernetes().HIDE_REDIS_URL!).password).toBe('from-a-secret-0123456789abcdef0123456789');
});
