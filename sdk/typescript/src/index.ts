/**
 * `@keyward/verify`: verify Keyward API keys from a Node.js product (SPEC §16).
 *
 * A {@link Keyward} client asks the server's `POST /api/v1/keys/verify`, bound to one
 * organization (and optionally one project), so another tenant's key answers
 * `WRONG_ORGANIZATION`. While it follows the key event stream (`GET /api/v1/keys/events`)
 * it keeps recent valid answers in a bounded cache keyed by the token's SHA-256 (the token
 * itself is never kept): a revoke, disable or edit drops the key's answers as its event
 * arrives, a reset or a lost stream drops them all. Keys with credits or named limits, and
 * personal access tokens, are always asked: only the server counts those.
 *
 * Middleware for Express and Connect ({@link expressMiddleware}), Fastify
 * ({@link fastifyPreHandler}) and fetch-style handlers ({@link verifyRequest}) reads the
 * credential as the server does: `Authorization: Bearer …` or `ApiKey …`, or `X-API-Key`.
 */

import { createHash } from "node:crypto";

export { expressMiddleware, fastifyPreHandler, verifyRequest, presentedKey } from "./middleware.js";
export type { Refusal } from "./middleware.js";
export { parseEvent, takeEvents } from "./stream.js";
export type { StreamEvent } from "./stream.js";

import { parseEvent, takeEvents } from "./stream.js";

/** How a client is set up. */
export interface Options {
  /** Where Keyward answers, e.g. `https://keyward.example.com`. */
  baseUrl: string;
  /** The organization whose keys are accepted. */
  organizationId: string;
  /** When set, only this project's keys are accepted. */
  projectId?: string;
  /** Answers kept at most (default 10,000). */
  capacity?: number;
  /** How long an answer is kept at most, in milliseconds (default 60,000). */
  ttlMs?: number;
  /** How long a verification may take, in milliseconds (default 5,000). */
  timeoutMs?: number;
  /** The clock, in milliseconds since the epoch (tests move it). */
  now?: () => number;
}

/** What the server answered about a key (`POST /api/v1/keys/verify`). */
export interface Answer {
  valid: boolean;
  /** `VALID`, or why not: `REVOKED`, `EXPIRED`, `WRONG_ORGANIZATION`, `RATE_LIMITED`, … */
  code: string;
  key?: {
    id: string;
    kind: string;
    name: string;
    scopes?: string[] | null;
    expires_at?: string | null;
    [member: string]: unknown;
  } | null;
  organization?: { id: string; name: string; [member: string]: unknown } | null;
  credits?: unknown;
  ratelimits?: Array<{ name: string; [member: string]: unknown }> | null;
  meta?: unknown;
  [member: string]: unknown;
}

/** One verification's outcome. */
export interface Verification {
  answer: Answer;
  /** Served from this process's cache. */
  cached: boolean;
}

/** What the cache has done so far. */
export interface Stats {
  /** Answers served from the cache. */
  hits: number;
  /** Verifications asked of the server. */
  asked: number;
  /** Events applied from the stream. */
  events: number;
}

/** The server could not be asked, or answered something that is no verification. */
export class KeywardError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = "KeywardError";
  }
}

interface Cached {
  verification: Verification;
  keyId: string;
  until: number;
}

/** Waits before following again after the stream is lost: doubling, at most 30 s. */
const RETRY_MS = [250, 500, 1000, 2000, 5000, 10000, 30000];
/** A heartbeat comes every 15 s: a stream silent much longer is dead. */
const SILENT_MS = 45_000;
/** Longest event the server sends, with room to spare. */
const MAX_EVENT = 64 * 1024;
/**
 * How long after its event a key's answers are not kept, in milliseconds: another replica
 * of the server may not have heard of the change yet, and its answer would be kept for the
 * whole TTL.
 */
export const SETTLE_MS = 5_000;

/** Whether an answer may be served from memory (see the module's comment). */
function cacheable(answer: Answer, organizationId: string): boolean {
  const limits = answer.ratelimits ?? [];
  return (
    answer.valid === true &&
    answer.code === "VALID" &&
    answer.organization?.id === organizationId &&
    answer.key?.kind !== "pat" &&
    typeof answer.key?.id === "string" &&
    (answer.credits === null || answer.credits === undefined) &&
    Array.isArray(limits) &&
    limits.every((l) => l.name === "per-minute")
  );
}

/** A verification client for one organization. */
export class Keyward {
  readonly #base: string;
  readonly #options: Required<Omit<Options, "projectId">> & { projectId?: string };
  readonly #cache = new Map<string, Cached>();
  #following = false;
  #generation = 0;
  #stats: Stats = { hits: 0, asked: 0, events: 0 };
  #abort?: AbortController;
  #listeners = new Set<() => void>();
  /** Keys whose events came within SETTLE_MS, by when they settle; and a reset's end. */
  #settling = new Map<string, number>();
  #settlingAll = 0;

  constructor(options: Options) {
    if (!/^https?:\/\//.test(options.baseUrl)) {
      throw new TypeError("baseUrl: must start with http:// or https://");
    }
    if (!options.organizationId) {
      throw new TypeError("organizationId: required");
    }
    this.#base = options.baseUrl.replace(/\/+$/, "");
    this.#options = {
      baseUrl: this.#base,
      organizationId: options.organizationId,
      projectId: options.projectId,
      capacity: options.capacity ?? 10_000,
      ttlMs: options.ttlMs ?? 60_000,
      timeoutMs: options.timeoutMs ?? 5_000,
      now: options.now ?? Date.now,
    };
  }

  /** Verifies `token`: from the cache while following, else by asking the server. */
  async verify(token: string): Promise<Verification> {
    const digest = createHash("sha256").update(token).digest("hex");
    const now = this.#options.now();
    const hit = this.#following ? this.#cache.get(digest) : undefined;
    if (hit && now < hit.until) {
      this.#stats.hits += 1;
      // Most recently used last: the oldest is the first to go when the cache is full.
      this.#cache.delete(digest);
      this.#cache.set(digest, hit);
      return { answer: hit.verification.answer, cached: true };
    }
    this.#stats.asked += 1;
    // An answer given while the stream was down, or overtaken by an event on the way,
    // may be stale already: it is not kept.
    const generation = this.#generation;
    const following = this.#following;
    let response: Response;
    try {
      response = await fetch(`${this.#base}/api/v1/keys/verify`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          key: token,
          expect: {
            organization_id: this.#options.organizationId,
            project_id: this.#options.projectId ?? null,
          },
        }),
        signal: AbortSignal.timeout(this.#options.timeoutMs),
      });
    } catch (e) {
      throw new KeywardError(`Keyward could not be asked: ${(e as Error).message}`);
    }
    const text = await response.text();
    let answer: Answer;
    try {
      answer = JSON.parse(text) as Answer;
    } catch {
      throw new KeywardError(`Keyward answered ${response.status} with no verification`, response.status);
    }
    if (typeof answer !== "object" || answer === null || typeof answer.valid !== "boolean") {
      throw new KeywardError(`Keyward answered ${response.status} with no verification`, response.status);
    }
    const verification = { answer, cached: false };
    if (
      following &&
      generation === this.#generation &&
      cacheable(answer, this.#options.organizationId) &&
      !this.#unsettled(answer.key!.id)
    ) {
      const expiresAt = answer.key?.expires_at ? Date.parse(answer.key.expires_at) : Number.NaN;
      const until = Math.min(now + this.#options.ttlMs, Number.isNaN(expiresAt) ? Infinity : expiresAt);
      if (until > now) {
        this.#cache.set(digest, { verification, keyId: answer.key!.id, until });
        while (this.#cache.size > this.#options.capacity) {
          const oldest = this.#cache.keys().next().value;
          if (oldest === undefined) break;
          this.#cache.delete(oldest);
        }
      }
    }
    return verification;
  }

  /**
   * Follows the organization's key event stream with `streamKey` (a credential holding
   * `api_keys:read`), resuming after a lost connection; the cache is used only while the
   * stream is open.
   */
  follow(streamKey: string): void {
    this.stopFollowing();
    const abort = new AbortController();
    this.#abort = abort;
    void this.#run(streamKey, abort.signal);
  }

  /** Stops following; the cache is emptied and no longer used. */
  stopFollowing(): void {
    this.#abort?.abort();
    this.#abort = undefined;
    this.#setFollowing(false);
    this.#forgetAll();
  }

  /** Whether the stream is open (and the cache in use). */
  isFollowing(): boolean {
    return this.#following;
  }

  /** What the cache has done so far. */
  stats(): Stats {
    return { ...this.#stats };
  }

  /** Resolves when `ready()` holds, checked now and at each change of the stream (opened,
   * closed, an event applied); rejects after `timeoutMs`. */
  waitFor(ready: (client: Keyward) => boolean, timeoutMs = 10_000): Promise<void> {
    if (ready(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#listeners.delete(check);
        reject(new KeywardError(`not ready within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = () => {
        if (ready(this)) {
          clearTimeout(timer);
          this.#listeners.delete(check);
          resolve();
        }
      };
      this.#listeners.add(check);
    });
  }

  #news(): void {
    for (const listener of [...this.#listeners]) listener();
  }

  #setFollowing(following: boolean): void {
    this.#following = following;
    this.#news();
  }

  #forgetAll(): void {
    this.#generation += 1;
    this.#cache.clear();
  }

  #unsettled(keyId: string): boolean {
    const now = performance.now();
    return now < this.#settlingAll || now < (this.#settling.get(keyId) ?? 0);
  }

  #settle(keyId?: string): void {
    const now = performance.now();
    if (keyId === undefined) {
      this.#settling.clear();
      this.#settlingAll = now + SETTLE_MS;
      return;
    }
    for (const [key, until] of this.#settling) {
      if (until <= now) this.#settling.delete(key);
    }
    this.#settling.set(keyId, now + SETTLE_MS);
  }

  #forgetKey(keyId: string): void {
    this.#generation += 1;
    for (const [digest, cached] of this.#cache) {
      if (cached.keyId === keyId) this.#cache.delete(digest);
    }
  }

  async #run(streamKey: string, signal: AbortSignal): Promise<void> {
    let lastEvent: string | undefined;
    let failures = 0;
    while (!signal.aborted) {
      try {
        const ended = await this.#read(streamKey, signal, lastEvent, (id) => {
          lastEvent = id;
          failures = 0;
        });
        if (ended) {
          // The server ended it: the credential was revoked, disabled or narrowed.
          this.#setFollowing(false);
          this.#forgetAll();
          return;
        }
      } catch (e) {
        // Lost: whatever was cached may have missed an event. Refused: asking again
        // will not mend it.
        if ((e as { final?: boolean }).final) {
          this.#setFollowing(false);
          this.#forgetAll();
          return;
        }
      }
      this.#setFollowing(false);
      this.#forgetAll();
      if (signal.aborted) return;
      const wait = RETRY_MS[Math.min(failures, RETRY_MS.length - 1)]!;
      failures += 1;
      await new Promise((resolve) => setTimeout(resolve, wait).unref());
    }
  }

  /** Reads the stream until it closes; true when the server ended it for good. */
  async #read(
    streamKey: string,
    signal: AbortSignal,
    lastEvent: string | undefined,
    seen: (id: string) => void,
  ): Promise<boolean> {
    const url = new URL(`${this.#base}/api/v1/keys/events`);
    url.searchParams.set("organization_id", this.#options.organizationId);
    const headers: Record<string, string> = {
      authorization: `Bearer ${streamKey}`,
      accept: "text/event-stream",
    };
    if (lastEvent) headers["last-event-id"] = lastEvent;
    const response = await fetch(url, { headers, signal });
    if (!response.ok || !response.body) {
      const body = await response.text().catch(() => "");
      // A refusal (401, 403) does not mend by asking again.
      if (response.status === 401 || response.status === 403) {
        throw Object.assign(new KeywardError(`the stream was refused: ${body}`, response.status), { final: true });
      }
      throw new KeywardError(`the stream answered ${response.status}`, response.status);
    }
    this.#setFollowing(true);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const buffer = { text: "" };
    for (;;) {
      let silent: NodeJS.Timeout | undefined;
      const chunk = await Promise.race([
        reader.read(),
        new Promise<never>((_, reject) => {
          silent = setTimeout(() => reject(new KeywardError("the stream went silent")), SILENT_MS);
          silent.unref();
        }),
      ]).finally(() => clearTimeout(silent));
      if (chunk.done) return false;
      for (const block of takeEvents(buffer, chunk.value)) {
        const event = parseEvent(block);
        if (!event) continue; // A heartbeat.
        if (event.event === "stream.ended") return true;
        const keyId = typeof event.data?.key_id === "string" ? event.data.key_id : undefined;
        if (event.event.startsWith("key.") && keyId) {
          this.#settle(keyId);
          this.#forgetKey(keyId);
        } else {
          // A reset, or anything this client does not know: drop everything.
          this.#settle();
          this.#forgetAll();
        }
        this.#stats.events += 1;
        if (event.id) seen(event.id);
        this.#news();
      }
      if (buffer.text.length > MAX_EVENT) {
        throw new KeywardError("an event longer than any Keyward sends");
      }
    }
  }
}
