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


class Busy(Exception):
    """The server answered UNAVAILABLE (a pool or the database busy): counted, retried."""


def gql(conn, pat, query, variables):
    body = json.dumps({"query": query, "variables": variables})
    conn.request("POST", "/graphql", body=body, headers={
        "Authorization": f"Bearer {pat}", "Content-Type": "application/json"})
    r = conn.getresponse()
    answer = json.loads(r.read())
    errors = answer.get("errors") or []
    if errors and all(e.get("extensions", {}).get("code") == "UNAVAILABLE" for e in errors):
        raise Busy()
    if r.status != 200 or errors:
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
    rounds = busy = 0
    while time.monotonic() < until:
        try:
            round_at(conns[rounds % 2], pat, org, rounds)
        except Busy:
            busy += 1
            time.sleep(0.5)
        rounds += 1
    print(f"mixed traffic: {rounds} rounds of create, rename, pages, revoke; "
          f"{busy} cut short by an UNAVAILABLE answer")


if __name__ == "__main__":
    main()
