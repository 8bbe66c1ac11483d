/**
 * Protecting a route: the credential read as the server reads it, verified, and the
 * request either passed on with its answer or refused with a JSON problem.
 */

import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";

import type { Keyward, Verification } from "./index.js";

/** Why a request was refused: the HTTP status and the problem sent. */
export interface Refusal {
  status: number;
  body: { type: "about:blank"; title: string; status: number; code: string; detail: string };
}

type HeaderSource = IncomingHttpHeaders | Headers;

function header(headers: HeaderSource, name: string): string | undefined {
  if (typeof (headers as Headers).get === "function") {
    return (headers as Headers).get(name) ?? undefined;
  }
  const value = (headers as IncomingHttpHeaders)[name];
  return Array.isArray(value) ? value.join(",") : value;
}

/**
 * The key a request presents: `Authorization: Bearer <key>` or `ApiKey <key>`, or
 * `X-API-Key`. Two different keys are refused (`MALFORMED`), as the server refuses them.
 */
export function presentedKey(headers: HeaderSource): { key?: string; refusal?: Refusal } {
  const found: string[] = [];
  const authorization = header(headers, "authorization")?.trim();
  if (authorization) {
    const match = /^(Bearer|ApiKey)\s+(\S+)$/i.exec(authorization);
    if (!match) return { refusal: refuse(401, "MALFORMED", "the Authorization header is not `Bearer <key>` or `ApiKey <key>`") };
    found.push(match[2]!);
  }
  const apiKey = header(headers, "x-api-key")?.trim();
  if (apiKey) found.push(apiKey);
  if (found.length === 0) return { refusal: refuse(401, "MISSING", "no API key was presented") };
  if (new Set(found).size > 1) return { refusal: refuse(401, "MALFORMED", "two different keys were presented") };
  return { key: found[0] };
}

function refuse(status: number, code: string, detail: string): Refusal {
  const titles: Record<number, string> = {
    401: "Unauthorized",
    403: "Forbidden",
    429: "Too Many Requests",
    503: "Service Unavailable",
  };
  return {
    status,
    body: { type: "about:blank", title: titles[status] ?? "Error", status, code, detail },
  };
}

/** The refusal for an answer that is not valid. */
function refusalOf(verification: Verification): Refusal {
  const { code } = verification.answer;
  const status =
    code === "RATE_LIMITED" || code === "USAGE_EXCEEDED"
      ? 429
      : code === "INSUFFICIENT_PERMISSIONS" || code === "WRONG_ORGANIZATION" || code === "WRONG_PROJECT"
        ? 403
        : 401;
  return refuse(status, code, `the key is not accepted (${code})`);
}

/**
 * Verifies a request's key: the verification when it is valid, or the refusal to send.
 * For fetch-style handlers (Hono, Next.js route handlers, Bun, Deno): pass `request.headers`.
 */
export async function verifyRequest(
  client: Keyward,
  headers: HeaderSource,
): Promise<{ verification?: Verification; refusal?: Refusal }> {
  const { key, refusal } = presentedKey(headers);
  if (refusal || key === undefined) return { refusal };
  try {
    const verification = await client.verify(key);
    if (verification.answer.valid) return { verification };
    return { refusal: refusalOf(verification) };
  } catch {
    return { refusal: refuse(503, "ERROR", "the key could not be verified now; try again") };
  }
}

function send(res: ServerResponse, refusal: Refusal): void {
  res.statusCode = refusal.status;
  res.setHeader("content-type", "application/problem+json");
  if (refusal.status === 401) res.setHeader("www-authenticate", 'Bearer realm="api"');
  res.end(JSON.stringify(refusal.body));
}

/**
 * Express and Connect middleware (also a plain `node:http` handler's first step): a
 * request with a valid key goes on with `req.keyward` set to its verification; any other
 * is answered with a JSON problem.
 */
export function expressMiddleware(client: Keyward) {
  return (
    req: IncomingMessage & { keyward?: Verification },
    res: ServerResponse,
    next: (error?: unknown) => void,
  ): void => {
    verifyRequest(client, req.headers).then(({ verification, refusal }) => {
      if (verification) {
        req.keyward = verification;
        next();
      } else if (refusal) {
        send(res, refusal);
      }
    }, next);
  };
}

/** A Fastify `preHandler` hook: sets `request.keyward`, or replies with the problem. */
export function fastifyPreHandler(client: Keyward) {
  return async (
    request: { headers: IncomingHttpHeaders; keyward?: Verification },
    reply: { code(status: number): { header(name: string, value: string): { send(body: unknown): unknown } } },
  ): Promise<void> => {
    const { verification, refusal } = await verifyRequest(client, request.headers);
    if (verification) {
      request.keyward = verification;
      return;
    }
    if (refusal) {
      await reply.code(refusal.status).header("content-type", "application/problem+json").send(refusal.body);
    }
  };
}
