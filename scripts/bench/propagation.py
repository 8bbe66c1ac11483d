"""Revocation propagation between two nodes: for each key, verify it at node B (so B
holds it in memory), revoke it at node A, and from the moment the revoke returned poll
B until it refuses the key. Prints the delay (p50, p99, max) and how many requests B
still accepted after the revoke had returned.

Usage: propagation.py NODE_A NODE_B PAT IDS_FILE COUNT
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


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    node_a, node_b, pat, ids_file, count = sys.argv[1:6]
    count = int(count)
    keys = []
    with open(ids_file) as f:
        for line in f:
            key_id, secret = line.split()
            keys.append((key_id, secret))
            if len(keys) == count:
                break
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
