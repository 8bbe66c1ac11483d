"""The soak's mixed traffic besides verification: for SECONDS, against both nodes in
turn, creates a key, renames it, reads the dashboard's pages (the keys list in each
order, a key's sparkline, the organization's analytics, the audit log) and revokes the
key. Prints how many rounds it ran. Stops by itself.

Usage: soak_mix.py NODE_A NODE_B PAT ORG SECONDS
"""
import http.client
import json
import random
import sys
import time
import urllib.parse

ORDERS = ["NEWEST", "OLDEST", "NAME", "LAST_USED", "EXPIRES"]


def connect(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)


def gql(conn, pat, query, variables):
    body = json.dumps({"query": query, "variables": variables})
    conn.request("POST", "/graphql", body=body, headers={
        "Authorization": f"Bearer {pat}", "Content-Type": "application/json"})
    r = conn.getresponse()
    answer = json.loads(r.read())
    if r.status != 200 or answer.get("errors"):
        raise SystemExit(f"GraphQL failed: {r.status} {answer}")
    return answer["data"]


def round_at(conn, pat, org, n):
    key = gql(conn, pat,
              "mutation($o: ID!, $n: String!) { createApiKey(input: { organizationId: $o, name: $n }) { apiKey { id } } }",
              {"o": org, "n": f"soak-{n}"})["createApiKey"]["apiKey"]["id"]
    gql(conn, pat, "mutation($id: ID!, $n: String!) { renameApiKey(input: { id: $id, name: $n }) { id } }",
        {"id": key, "n": f"soak-{n}-renamed"})
    page = gql(conn, pat,
               "query($o: ID!, $by: KeyOrder) { apiKeys(organizationId: $o, orderBy: $by, first: 50) { totalCount pageInfo { endCursor } nodes { id } } }",
               {"o": org, "by": random.choice(ORDERS)})["apiKeys"]
    ids = [k["id"] for k in page["nodes"]]
    gql(conn, pat, "query($o: ID!, $k: [ID!]!) { keyActivity(organizationId: $o, keyIds: $k) { keyId hours } }",
        {"o": org, "k": ids})
    gql(conn, pat, "query($o: ID!) { organizationVerifications(organizationId: $o) { total failed } }",
        {"o": org})
    gql(conn, pat, "query($o: ID!) { auditEvents(organizationId: $o, first: 50) { nodes { action } } }",
        {"o": org})
    gql(conn, pat, "mutation($id: ID!) { revokeApiKey(input: { id: $id }) { id } }", {"id": key})


def main():
    node_a, node_b, pat, org, seconds = sys.argv[1:6]
    conns = [connect(node_a), connect(node_b)]
    until = time.monotonic() + float(seconds)
    rounds = 0
    while time.monotonic() < until:
        round_at(conns[rounds % 2], pat, org, rounds)
        rounds += 1
    print(f"mixed traffic: {rounds} rounds of create, rename, pages, revoke")


if __name__ == "__main__":
    main()
