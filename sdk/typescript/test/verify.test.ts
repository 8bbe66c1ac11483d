// The package against a real Keyward server, which the Rust integration test
// `sdk_typescript` starts and describes in the environment: a valid key of the
// organization, one with two credits, another organization's key, and the owner's
// personal access token (to follow the stream and to revoke).
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";

import { Keyward, expressMiddleware, parseEvent, presentedKey, takeEvents, type Verification } from "../src/index.js";

function env(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this through \`cargo test -p tests --test integration sdk_typescript\``);
  return value;
}

const base = env("KEYWARD_TEST_BASE");
const organizationId = env("KEYWARD_TEST_ORG");

function client(): Keyward {
  return new Keyward({ baseUrl: base, organizationId });
}

test("verifies a key, and asks the server each time while not following", async () => {
  const keyward = client();
  const first = await keyward.verify(env("KEYWARD_TEST_KEY"));
  assert.equal(first.answer.code, "VALID");
  assert.equal(first.answer.key?.id, env("KEYWARD_TEST_KEY_ID"));
  const second = await keyward.verify(env("KEYWARD_TEST_KEY"));
  assert.equal(second.cached, false);
  assert.deepEqual(keyward.stats(), { hits: 0, asked: 2, events: 0 });
  const nonsense = await keyward.verify("not-a-key");
  assert.equal(nonsense.answer.valid, false);
  assert.equal(nonsense.answer.code, "MALFORMED");
});

test("another organization's key is refused", async () => {
  const answer = await client().verify(env("KEYWARD_TEST_FOREIGN_KEY"));
  assert.equal(answer.answer.code, "WRONG_ORGANIZATION");
});

test("credits are always counted by the server", async () => {
  const keyward = client();
  keyward.follow(env("KEYWARD_TEST_ADMIN_PAT"));
  await keyward.waitFor((k) => k.isFollowing());
  const codes: string[] = [];
  for (let i = 0; i < 3; i++) {
    const v = await keyward.verify(env("KEYWARD_TEST_METERED_KEY"));
    assert.equal(v.cached, false);
    codes.push(v.answer.code);
  }
  assert.deepEqual(codes, ["VALID", "VALID", "USAGE_EXCEEDED"]);
  keyward.stopFollowing();
});

test("middleware admits a valid key and refuses the rest with a problem", async () => {
  const keyward = client();
  const guard = expressMiddleware(keyward);
  const server = createServer((req: IncomingMessage & { keyward?: Verification }, res: ServerResponse) => {
    guard(req, res, () => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ key: req.keyward?.answer.key?.name }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  try {
    const ok = await fetch(url, { headers: { "x-api-key": env("KEYWARD_TEST_KEY") } });
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { key: "ts-sdk" });
    const bearer = await fetch(url, { headers: { authorization: `Bearer ${env("KEYWARD_TEST_KEY")}` } });
    assert.equal(bearer.status, 200);
    const missing = await fetch(url);
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get("content-type"), "application/problem+json");
    assert.equal(((await missing.json()) as { code: string }).code, "MISSING");
    const doubled = await fetch(url, {
      headers: { authorization: `Bearer ${env("KEYWARD_TEST_KEY")}`, "x-api-key": env("KEYWARD_TEST_FOREIGN_KEY") },
    });
    assert.equal(doubled.status, 401);
    assert.equal(((await doubled.json()) as { code: string }).code, "MALFORMED");
    const foreign = await fetch(url, { headers: { "x-api-key": env("KEYWARD_TEST_FOREIGN_KEY") } });
    assert.equal(foreign.status, 403);
  } finally {
    server.close();
  }
});

test("the stream's reader takes events across chunks and line endings", () => {
  const buffer = { text: "" };
  assert.deepEqual(takeEvents(buffer, "id: 7\r\nevent: key.revoked\r\ndata: {\"key_id\":\"k\"}\r"), []);
  const [block] = takeEvents(buffer, "\n\r\n: heartbeat\n\n");
  assert.deepEqual(parseEvent(block!), { id: "7", event: "key.revoked", data: { key_id: "k" } });
  assert.equal(parseEvent(": heartbeat"), undefined);
  assert.deepEqual(presentedKey(new Headers({ authorization: "ApiKey abc" })), { key: "abc" });
});

// Last: it revokes the key the others use.
test("following, a valid answer is cached and a revocation drops it within a second", async () => {
  const keyward = client();
  keyward.follow(env("KEYWARD_TEST_ADMIN_PAT"));
  await keyward.waitFor((k) => k.isFollowing());
  const key = env("KEYWARD_TEST_KEY");
  assert.equal((await keyward.verify(key)).cached, false);
  const again = await keyward.verify(key);
  assert.equal(again.cached, true);
  assert.equal(again.answer.code, "VALID");

  // Just changed, the key is asked of the server until it settles.
  const renamed = await fetch(`${base}/api/v1/orgs/${organizationId}/api-keys/${env("KEYWARD_TEST_KEY_ID")}`, {
    method: "PATCH",
    headers: { authorization: `Bearer ${env("KEYWARD_TEST_ADMIN_PAT")}`, "content-type": "application/json" },
    body: JSON.stringify({ name: "ts-sdk renamed" }),
  });
  assert.equal(renamed.status, 200, await renamed.text());
  const changes = keyward.stats().events;
  await keyward.waitFor((k) => k.stats().events > changes, 1000);
  for (let i = 0; i < 2; i++) {
    const settling = await keyward.verify(key);
    assert.equal(settling.cached, false);
    assert.equal(settling.answer.key?.name, "ts-sdk renamed");
  }

  const events = keyward.stats().events;
  const started = performance.now();
  const revoked = await fetch(`${base}/api/v1/orgs/${organizationId}/api-keys/${env("KEYWARD_TEST_KEY_ID")}/revoke`, {
    method: "POST",
    headers: { authorization: `Bearer ${env("KEYWARD_TEST_ADMIN_PAT")}`, "content-type": "application/json" },
    body: "{}",
  });
  assert.equal(revoked.status, 200, await revoked.text());
  await keyward.waitFor((k) => k.stats().events > events, 1000);
  const after = await keyward.verify(key);
  assert.equal(after.cached, false);
  assert.equal(after.answer.code, "REVOKED");
  assert.ok(performance.now() - started < 1000, "the revocation arrived within a second");
  keyward.stopFollowing();
  assert.equal(keyward.isFollowing(), false);
});
