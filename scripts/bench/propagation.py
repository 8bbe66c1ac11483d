"""Propagation between two nodes.

Revocation (the default): for each key, verify it at node B (so B holds it in memory),
revoke it at node A, and from the moment the revoke returned poll B until it refuses the
key. Prints the delay (p50, p99, max) and how many requests B still accepted after the
revoke had returned.

Edit (`edit ORG`): for each of the COUNT keys after the first COUNT, verify it at node B,
change its metadata at node A (`PATCH /api/v1/orgs/ORG/api-keys/ID`), and from the moment
the edit returned poll B until its answer carries the new metadata (SPEC §3.5: within
50 ms on every replica).

Usage: propagation.py NODE_A NODE_B PAT IDS_FILE COUNT [edit ORG]
"""
import http.client
import json
import sys
import time
import urllib.parse


def connect(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)


def verify(conn, secret):
    conn.request("GET", "/api/v1/api-keys/verify", headers={"X-API-Key": secret})
    r = conn.getresponse()
    r.read()
    return r.status


def revoke(conn, pat, key_id):
    body = json.dumps({
        "query": "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { id } }",
        "variables": {"id": key_id},
    })
    conn.request("POST", "/graphql", body=body, headers={
        "Authorization": f"Bearer {pat}", "Content-Type": "application/json"})
    r = conn.getresponse()
    answer = json.loads(r.read())
    if r.status != 200 or answer.get("errors"):
        raise SystemExit(f"revoke failed: {r.status} {answer}")


def edit(conn, pat, org, key_id, meta):
    body = json.dumps({"meta": meta})
    conn.request("PATCH", f"/api/v1/orgs/{org}/api-keys/{key_id}", body=body, headers={
        "Authorization": f"Bearer {pat}", "Content-Type": "application/json"})
    r = conn.getresponse()
    answer = r.read()
    if r.status != 200:
        raise SystemExit(f"edit failed: {r.status} {answer!r}")


def meta_at(conn, secret):
    conn.request("POST", "/api/v1/keys/verify", body=json.dumps({"key": secret}),
                 headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    return json.loads(r.read()).get("meta")


def edits(node_a, node_b, pat, org, keys):
    a, b = connect(node_a), connect(node_b)
    delays, stale = [], 0
    for n, (key_id, secret) in enumerate(keys):
        meta_at(b, secret)
        wanted = {"v": n}
        edit(a, pat, org, key_id, wanted)
        returned = time.perf_counter()
        while meta_at(b, secret) != wanted:
            stale += 1
            if time.perf_counter() - returned > 30:
                raise SystemExit("node B never saw the edit")
        delays.append((time.perf_counter() - returned) * 1000)
    print(f"propagation over {len(delays)} edits: p50 {percentile(delays, 50):.2f} ms, "
          f"p99 {percentile(delays, 99):.2f} ms, max {max(delays):.2f} ms; "
          f"stale answers node B gave after the edit returned: {stale}")


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    node_a, node_b, pat, ids_file, count = sys.argv[1:6]
    count = int(count)
    mode = sys.argv[6] if len(sys.argv) > 6 else "revoke"
    skip = count if mode == "edit" else 0
    keys = []
    with open(ids_file) as f:
        for n, line in enumerate(f):
            if n < skip:
                continue
            key_id, secret = line.split()
            keys.append((key_id, secret))
            if len(keys) == count:
                break
    if mode == "edit":
        edits(node_a, node_b, pat, sys.argv[7], keys)
        return
    a, b = connect(node_a), connect(node_b)
    delays, accepted_after = [], 0
    for key_id, secret in keys:
        if verify(b, secret) != 200:
            raise SystemExit("node B refused a live key")
        revoke(a, pat, key_id)
        returned = time.perf_counter()
        while True:
            status = verify(b, secret)
            if status == 401:
                delays.append((time.perf_counter() - returned) * 1000)
                break
            accepted_after += 1
            if time.perf_counter() - returned > 30:
                raise SystemExit("node B never refused the revoked key")
    print(f"propagation over {len(delays)} revokes: p50 {percentile(delays, 50):.2f} ms, "
          f"p99 {percentile(delays, 99):.2f} ms, max {max(delays):.2f} ms; "
          f"requests node B accepted after the revoke returned: {accepted_after}")


main()
