// GraphiQL for Keyward. Queries go to this server's /graphql with the signed-in
// dashboard session (same origin; the header marks them as Keyward's own page). The
// schema comes from /graphql/schema.json: the introspection is deeper than any query a
// client may send. Every script and style comes from the server itself, checked by its
// integrity hash.
(function () {
  "use strict";
  var fetcher = GraphiQL.createFetcher({
    url: "/graphql",
    headers: { "x-keyward-client": "graphiql" },
  });
  function render(schema) {
    ReactDOM.createRoot(document.getElementById("graphiql")).render(
      React.createElement(GraphiQL, { fetcher: fetcher, schema: schema })
    );
  }
  fetch("/graphql/schema.json")
    .then(function (response) {
      return response.ok ? response.json() : undefined;
    })
    .then(render, function () {
      render(undefined);
    });
})();
