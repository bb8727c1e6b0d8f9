// The ranking page for people (`/rank`) and its JSON API, as a Hono app that `heed serve --db FILE`
// mounts: hand a rater the next prompt under a lease, take back a ranking or a skip, and answer
// only after the store has committed it.
import { readFileSync } from 'node:fs';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { z } from 'zod';
import { hash32, Rng } from '../core/rng.js';
import { FeedbackError, type FeedbackStore } from '../feedback/store.js';
import { ApiError, badRequest, sendError } from './errors.js';
import { pagePath } from './pages.js';

/** Request bodies are a few ids and a reason; anything larger is refused before it is read. */
export const RANK_BODY_LIMIT = 64 * 1024;

const Rater = z.string().trim().min(1, 'rater must not be empty').max(64, 'rater is at most 64 characters')
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'rater must not hold control characters');
const Id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
const TimeMs = z.number().int().min(0).max(7 * 24 * 3600 * 1000);
const Shown = z.array(Id).min(1).max(64);

const NextBody = z.object({ rater: Rater }).strict();
const SubmitBody = z.object({
  rater: Rater,
  prompt_id: Id,
  /** Tie groups of response ids, best first. */
  ranking: z.array(z.array(Id).min(1).max(64)).min(1).max(64),
  time_ms: TimeMs.optional(),
  shown: Shown.optional(),
}).strict();
const SkipBody = z.object({
  rater: Rater,
  prompt_id: Id,
  reason: z.string().trim().min(1, 'a skip needs a reason').max(500),
  time_ms: TimeMs.optional(),
  shown: Shown.optional(),
}).strict();

async function readBody<T>(c: Context, schema: z.ZodType<T>): Promise<T> {
  const text = await c.req.text();
  let json: unknown;
  try { json = JSON.parse(text); } catch { throw badRequest('the request body is not valid JSON'); }
  const r = schema.safeParse(json);
  if (r.success) return r.data;
  const issue = r.error.issues[0] as z.ZodIssue;
  const param = issue.path.join('.') || null;
  throw badRequest(param ? `${param}: ${issue.message}` : issue.message, param);
}

/** Runs a handler, answering refusals with their status and JSON error instead of a 500 page. */
async function answer(c: Context, fn: () => Promise<unknown> | unknown): Promise<Response> {
  try {
    return c.json(await fn() as object);
  } catch (e) {
    if (e instanceof ApiError) return sendError(c, e);
    if (e instanceof FeedbackError) {
      const [status, type] = e.kind === 'not_found' ? [404, 'not_found_error'] as const
        : e.kind === 'conflict' ? [409, 'conflict_error'] as const : [400, 'invalid_request_error'] as const;
      return sendError(c, new ApiError(status, e.message, type, e.param ?? null));
    }
    console.error(e);
    return sendError(c, new ApiError(500, 'the feedback store failed; nothing was saved', 'server_error'));
  }
}

let pageCache: string | undefined;
const rankPage = (): string => (pageCache ??= readFileSync(pagePath('rank.html'), 'utf8'));

/** Responses in an order fixed by rater and prompt, so a reload shows the same order. */
export function shownOrder<T>(rater: string, promptId: number, responses: readonly T[]): T[] {
  return new Rng(hash32(`${rater}\u0000${promptId}`)).shuffled(responses);
}

export function rankRoutes(store: FeedbackStore): Hono {
  const app = new Hono();

  app.get('/rank', (c) => {
    // Everything the page needs is inline; nothing may be fetched from another origin.
    c.header('Content-Security-Policy', "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:");
    c.header('Cache-Control', 'no-store');
    return c.html(rankPage());
  });

  app.use('/api/rank/*', bodyLimit({
    maxSize: RANK_BODY_LIMIT,
    onError: (c) => sendError(c, new ApiError(413, `the request body is over ${RANK_BODY_LIMIT} bytes`, 'request_too_large')),
  }));

  app.post('/api/rank/next', (c) => answer(c, async () => {
    const { rater } = await readBody(c, NextBody);
    const a = store.nextForRater(rater);
    if (!a) return { done: true, progress: store.progress(rater) };
    return {
      done: false,
      prompt: { id: a.prompt.id, messages: a.prompt.messages },
      responses: shownOrder(rater, a.prompt.id, a.responses).map((r) => ({ id: r.id, text: r.text })),
      progress: a.progress,
      lease_expires: a.leaseExpires,
    };
  }));

  app.post('/api/rank/submit', (c) => answer(c, async () => {
    const b = await readBody(c, SubmitBody);
    const r = store.submitRanking({
      rater: b.rater, promptId: b.prompt_id, groups: b.ranking,
      ...(b.time_ms !== undefined ? { timeMs: b.time_ms } : {}), ...(b.shown ? { shown: b.shown } : {}),
    });
    return { saved: true, id: r.id, duplicate: r.duplicate, progress: store.progress(b.rater) };
  }));

  app.post('/api/rank/skip', (c) => answer(c, async () => {
    const b = await readBody(c, SkipBody);
    const r = store.skip({
      rater: b.rater, promptId: b.prompt_id, reason: b.reason,
      ...(b.time_ms !== undefined ? { timeMs: b.time_ms } : {}), ...(b.shown ? { shown: b.shown } : {}),
    });
    return { saved: true, id: r.id, duplicate: r.duplicate, progress: store.progress(b.rater) };
  }));

  for (const path of ['/api/rank/next', '/api/rank/submit', '/api/rank/skip']) {
    app.all(path, (c) => {
      c.header('Allow', 'POST');
      return sendError(c, new ApiError(405, `${c.req.method} is not allowed here; use POST`));
    });
  }
  // Anything else under the API is a JSON 404, never the HTML one.
  app.all('/api/rank/*', (c) => sendError(c, new ApiError(404, `no such endpoint: ${c.req.method} ${c.req.path}`, 'not_found_error')));

  return app;
}
