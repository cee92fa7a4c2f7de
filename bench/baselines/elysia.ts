/**
 * Baseline: a bare Elysia app on port 0 whose POST routes answer with fixed
 * bytes (the exact `tools/list` response `dist/hide` gave). Prints
 * `{"port":N}` on stdout once listening.
 *
 * Usage: bun bench/baselines/elysia.ts BODY_FILE CONTENT_TYPE
 */
import { Elysia } from 'elysia';

const [bodyFile, contentType] = process.argv.slice(2);
if (!bodyFile || !contentType) throw new Error('usage: elysia.ts BODY_FILE CONTENT_TYPE');
const body = new Uint8Array(await Bun.file(bodyFile).arrayBuffer());

const answer = () => new Response(body, { headers: { 'content-type': contentType } });
const app = new Elysia().post('/mcp', answer).post('/', answer).listen({ hostname: '127.0.0.1', port: 0 });

console.log(JSON.stringify({ port: app.server?.port }));
