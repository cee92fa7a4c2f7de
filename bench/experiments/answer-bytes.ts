/**
 * Experiment behind the tools/list answer analysis in bench/results.md: what
 * it costs a bare `Bun.serve` to answer a tools/list whose id must be echoed
 * into a ~30 kB body, built several ways, against answering constant bytes
 * (what the bare-route baseline does). Server CPU per request from /proc
 * (children excluded), alternating 2-second wrk runs at c=32. Not part of
 * `bun run bench`.
 *
 * Usage: bun bench/experiments/answer-bytes.ts [ROUNDS] [VARIANT ...]
 *   Uses dist/hide to fetch the real listing first.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { cpuSeconds, freePort, spawnLogged, waitFor200 } from '../lib/proc.ts';
import { wrk, writePostScript } from '../lib/wrk.ts';

const VARIANTS = ['const', 'const-blob', 'blob', 'blob-bytes', 'blob-id-last', 'blob-of-blob', 'alloc', 'string', 'direct'] as const;
type Variant = (typeof VARIANTS)[number];

/** The server side: one variant per process (`serve VARIANT PORT LISTING_FILE`). */
async function serve(variant: Variant, port: number, listingFile: string): Promise<void> {
  const enc = new TextEncoder();
  const text = await Bun.file(listingFile).text();
  const resultText = JSON.stringify(JSON.parse(text).result);
  const resultBytes = enc.encode(resultText);
  const resultBlob = new Blob([resultBytes]);
  const constBytes = enc.encode(text);
  const constBlob = new Blob([constBytes]);
  const idLast = enc.encode(`{"jsonrpc":"2.0","result":${resultText},"id":`);
  const close = new Uint8Array([125]);
  const headers = { 'content-type': 'application/json', 'x-correlation-id': '0123456789abcdef0123456789abcdef' };
  const answer = (id: string): Response => {
    const head = `{"jsonrpc":"2.0","id":${id},"result":`;
    switch (variant) {
      case 'const':
        return new Response(constBytes, { headers });
      case 'const-blob':
        return new Response(constBlob, { headers });
      case 'blob':
        return new Response(new Blob([head, resultBytes, '}']), { headers });
      case 'blob-bytes':
        return new Response(new Blob([enc.encode(head), resultBytes, close]), { headers });
      case 'blob-id-last':
        return new Response(new Blob([idLast, `${id}}`]), { headers });
      case 'blob-of-blob':
        return new Response(new Blob([head, resultBlob, '}']), { headers });
      case 'alloc': {
        const h = enc.encode(head);
        const b = Buffer.allocUnsafeSlow(h.length + resultBytes.length + 1);
        b.set(h, 0);
        b.set(resultBytes, h.length);
        b[b.length - 1] = 125;
        return new Response(b, { headers });
      }
      case 'string':
        return new Response(`${head}${resultText}}`, { headers });
      case 'direct':
        // Bun's direct stream: written straight to the socket, but sent chunked (no Content-Length).
        return new Response(
          new ReadableStream({
            type: 'direct',
            pull(sink) {
              sink.write(head);
              sink.write(resultBytes);
              sink.write('}');
              sink.end();
            },
          }),
          { headers },
        );
    }
  };
  Bun.serve({
    hostname: '127.0.0.1',
    port,
    async fetch(req) {
      if (req.method !== 'POST') return new Response('ready');
      const message = JSON.parse(await req.text()) as { id: number };
      return answer(JSON.stringify(message.id));
    },
  });
}

async function listing(dir: string): Promise<string> {
  const port = freePort();
  const hide = spawnLogged([resolve(import.meta.dir, '../../dist/hide'), 'serve', '--port', String(port)], {
    cwd: dir,
    env: { ...process.env, HIDE_WORKSPACE: dir },
    logBase: join(dir, 'hide'),
  });
  try {
    await waitFor200(`http://127.0.0.1:${port}/health`, hide.proc, 15_000);
    const res = await fetch(`http://127.0.0.1:${port}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
    const file = join(dir, 'listing.json');
    writeFileSync(file, await res.text());
    return file;
  } finally {
    await hide.stop();
  }
}

async function main(rounds: number, variants: Variant[]): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hide-answer-bytes-'));
  try {
    const file = await listing(dir);
    const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' });
    const script = writePostScript(dir, 'post', body, { 'Content-Type': 'application/json' });
    const sides = [];
    for (const variant of variants) {
      const port = freePort();
      const server = spawnLogged([process.execPath, import.meta.path, 'serve', variant, String(port), file], { logBase: join(dir, variant) });
      await waitFor200(`http://127.0.0.1:${port}/`, server.proc, 10_000);
      sides.push({ variant, server, url: `http://127.0.0.1:${port}/`, us: [] as number[] });
    }
    for (let r = 0; r < rounds; r++) {
      for (const side of r % 2 ? [...sides].reverse() : sides) {
        const c0 = cpuSeconds(side.server.proc.pid);
        const w = await wrk({ url: side.url, script, connections: 32, seconds: 2 });
        side.us.push(((cpuSeconds(side.server.proc.pid) - c0) * 1e6) / w.requests);
      }
    }
    for (const side of sides) {
      const sorted = [...side.us].sort((a, b) => a - b);
      console.log(`${side.variant}: median ${sorted[sorted.length >> 1]!.toFixed(2)} µs CPU per request [${side.us.map((x) => x.toFixed(1)).join(' ')}]`);
      await side.server.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const [first, ...rest] = process.argv.slice(2);
if (first === 'serve') {
  await serve(rest[0] as Variant, Number(rest[1]), rest[2]!);
} else {
  const rounds = Number(first ?? 4);
  const chosen = (rest.length > 0 ? rest : VARIANTS) as Variant[];
  for (const v of chosen) if (!VARIANTS.includes(v)) throw new Error(`unknown variant ${v}; one of ${VARIANTS.join(', ')}`);
  await main(rounds, chosen);
}
