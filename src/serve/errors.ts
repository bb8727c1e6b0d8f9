// Errors in OpenAI's shape, {"error": {"message", "type", "param", "code"}}, with their HTTP status,
// so every OpenAI client surfaces them as its own error classes (BadRequestError, NotFoundError, …).
import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ZodError } from 'zod';

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
    readonly type: string = 'invalid_request_error',
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Record<string, string> = {},
  ) { super(message); }

  body(): { error: { message: string; type: string; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export function sendError(c: Context, e: ApiError): Response {
  for (const [k, v] of Object.entries(e.headers)) c.header(k, v);
  return c.json(e.body(), e.status);
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) => new ApiError(400, message, 'invalid_request_error', param, code);

/** The first problem zod found, worded for a request body, naming the field (`messages.1.content`). */
export function fromZod(err: ZodError): ApiError {
  const issue = err.issues[0]!, param = issue.path.join('.') || null;
  if (issue.code === 'invalid_union') {
    // a value of none of the accepted types: name them all (content is a string or a list of parts)
    const firsts = issue.unionErrors.map((e) => e.issues[0]!);
    if (firsts.every((f) => f.code === 'invalid_type' && f.path.join('.') === param))
      return badRequest(`Invalid type for '${param}': expected ${firsts.map((f) => (f as { expected: string }).expected).join(' or ')}, but got ${(firsts[0] as { received: string }).received}.`, param, 'invalid_type');
    return fromZod(issue.unionErrors[0]!);
  }
  if (issue.code === 'unrecognized_keys') return badRequest(`Unrecognized request argument supplied: ${issue.keys.join(', ')}`, issue.keys[0] ?? null);
  if (issue.code === 'invalid_type' && issue.received === 'undefined') return badRequest(`Missing required parameter: '${param}'.`, param, 'missing_required_parameter');
  if (issue.code === 'invalid_type') return badRequest(`Invalid type for '${param}': expected ${issue.expected}, but got ${issue.received}.`, param, 'invalid_type');
  return badRequest(`Invalid value for '${param}': ${issue.message}.`, param, 'invalid_value');
}
