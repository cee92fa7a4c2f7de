/**
 * Reference for start-up: the smallest compiled Elysia server (one route),
 * built with hide's own build flags. It shows what the fixed stack costs
 * before any of hide's code runs. Started with `--port P`.
 */
import { Elysia } from 'elysia';

const i = process.argv.indexOf('--port');
const port = i > 0 ? Number(process.argv[i + 1]) : 0;
new Elysia().get('/health', () => 'ok').listen({ hostname: '127.0.0.1', port });
