//! A GraphQL document's cost, bounded before any work is done on it (SPEC §14).
//!
//! async-graphql expands fragment spreads while it checks depth and complexity, so a
//! document of a few kilobytes whose fragments each spread the previous one twice costs
//! 2^n steps before "too complex" comes back, on a worker thread that cannot be
//! interrupted. Here the document is measured first, in time linear in its length:
//! nesting is counted on the text before the parser recurses into it, then every
//! fragment's expanded size is computed once and reused. A document over any limit is
//! refused with `INVALID_INPUT` and a `reason` naming the limit; nothing else runs.

use std::{collections::HashMap, sync::Arc};

use async_graphql::{
    Request, ServerError, ServerResult,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest},
    parser::{
        parse_query,
        types::{ExecutableDocument, OperationType, Selection, SelectionSet},
    },
};

/// Deepest nesting of braces, brackets and parentheses in the document's text.
pub const MAX_NESTING: usize = 64;
/// Most selections (fields, fragment spreads, inline fragments) once fragments are expanded.
pub const MAX_SELECTIONS: u64 = 1_000;
/// Most aliased fields once fragments are expanded.
pub const MAX_ALIASES: u64 = 30;
/// Most top-level fields of a mutation: each runs as its own change.
pub const MAX_MUTATIONS: u64 = 10;

/// Why a document was refused: the `reason` extension and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

impl Refusal {
    fn new(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
        }
    }

    fn into_server_error(self) -> ServerError {
        let mut err = ServerError::new(self.message, None);
        let ext = err.extensions.get_or_insert_with(Default::default);
        ext.set("code", "INVALID_INPUT");
        ext.set("reason", self.reason);
        err
    }
}

/// The deepest nesting of `{`, `[` and `(` outside strings and comments.
pub fn text_nesting(query: &str) -> usize {
    let bytes = query.as_bytes();
    let (mut depth, mut deepest, mut i) = (0usize, 0usize, 0usize);
    while i < bytes.len() {
        match bytes[i] {
            // A comment ends at a line feed or a carriage return, as the parser reads it.
            b'#' => {
                while i < bytes.len() && !matches!(bytes[i], b'\n' | b'\r') {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && !matches!(bytes[i], b'"' | b'\n' | b'\r') {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    deepest
}

/// What a selection set costs once its fragments are expanded.
#[derive(Debug, Clone, Copy, Default)]
struct Cost {
    selections: u64,
    aliases: u64,
    depth: u64,
    /// Fields at this level (for a mutation's root: the changes it makes).
    top_fields: u64,
}

impl Cost {
    fn add(&mut self, other: Cost) {
        self.selections = self.selections.saturating_add(other.selections);
        self.aliases = self.aliases.saturating_add(other.aliases);
        self.depth = self.depth.max(other.depth);
        self.top_fields = self.top_fields.saturating_add(other.top_fields);
    }
}

#[derive(Clone, Copy)]
enum Memo {
    InProgress,
    Done(Cost),
}

struct Measure<'a> {
    doc: &'a ExecutableDocument,
    fragments: HashMap<&'a str, Memo>,
}

impl<'a> Measure<'a> {
    fn set(&mut self, set: &'a SelectionSet) -> Result<Cost, Refusal> {
        let mut cost = Cost::default();
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let child = self.set(&field.node.selection_set.node)?;
                    cost.add(Cost {
                        selections: child.selections.saturating_add(1),
                        aliases: child
                            .aliases
                            .saturating_add(u64::from(field.node.alias.is_some())),
                        depth: child.depth.saturating_add(1),
                        top_fields: 1,
                    });
                }
                Selection::InlineFragment(inline) => {
                    let mut child = self.set(&inline.node.selection_set.node)?;
                    child.selections = child.selections.saturating_add(1);
                    cost.add(child);
                }
                Selection::FragmentSpread(spread) => {
                    let name = spread.node.fragment_name.node.as_str();
                    let mut child = self.fragment(name)?;
                    child.selections = child.selections.saturating_add(1);
                    cost.add(child);
                }
            }
            // Stop adding up as soon as the document is over: the totals only grow.
            if cost.selections > MAX_SELECTIONS {
                return Ok(cost);
            }
        }
        Ok(cost)
    }

    fn fragment(&mut self, name: &'a str) -> Result<Cost, Refusal> {
        match self.fragments.get(name) {
            Some(Memo::Done(cost)) => return Ok(*cost),
            Some(Memo::InProgress) => {
                return Err(Refusal::new(
                    "FRAGMENT_CYCLE",
                    format!("fragment `{name}` spreads itself"),
                ));
            }
            None => {}
        }
        let Some(def) = self.doc.fragments.get(name) else {
            return Err(Refusal::new(
                "UNKNOWN_FRAGMENT",
                format!("unknown fragment `{name}`"),
            ));
        };
        self.fragments.insert(name, Memo::InProgress);
        let cost = self.set(&def.node.selection_set.node)?;
        self.fragments.insert(name, Memo::Done(cost));
        Ok(cost)
    }
}

/// Measures a request's document against every limit; `max_depth` is the schema's.
pub fn check(query: &str, max_depth: usize) -> Result<ExecutableDocument, Refusal> {
    if text_nesting(query) > MAX_NESTING {
        return Err(Refusal::new(
            "TOO_DEEP",
            format!("the document nests deeper than {MAX_NESTING} levels"),
        ));
    }
    let doc = parse_query(query).map_err(|e| Refusal::new("SYNTAX", e.to_string()))?;
    let mut measure = Measure {
        doc: &doc,
        fragments: HashMap::new(),
    };
    let mut total = Cost::default();
    for (_, operation) in doc.operations.iter() {
        let cost = measure.set(&operation.node.selection_set.node)?;
        if operation.node.ty == OperationType::Mutation && cost.top_fields > MAX_MUTATIONS {
            return Err(Refusal::new(
                "TOO_MANY_MUTATIONS",
                format!("a request may make at most {MAX_MUTATIONS} mutations"),
            ));
        }
        total.add(cost);
    }
    if total.selections > MAX_SELECTIONS {
        return Err(Refusal::new(
            "TOO_COMPLEX",
            format!(
                "the document selects more than {MAX_SELECTIONS} fields once its fragments are expanded"
            ),
        ));
    }
    if total.aliases > MAX_ALIASES {
        return Err(Refusal::new(
            "TOO_MANY_ALIASES",
            format!("the document uses more than {MAX_ALIASES} aliases"),
        ));
    }
    if total.depth > max_depth as u64 {
        return Err(Refusal::new(
            "TOO_DEEP",
            format!("the document is nested deeper than {max_depth} fields"),
        ));
    }
    // Every fragment must be used: one that is not would still be validated, unmeasured.
    if let Some(unused) = doc
        .fragments
        .keys()
        .find(|name| !measure.fragments.contains_key(name.as_str()))
    {
        return Err(Refusal::new(
            "UNUSED_FRAGMENT",
            format!("fragment `{unused}` is not used"),
        ));
    }
    Ok(doc)
}

/// The schema extension that applies [`check`] to every request before anything else.
pub struct DocumentLimits {
    pub max_depth: usize,
}

impl ExtensionFactory for DocumentLimits {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(DocumentLimitsExtension {
            max_depth: self.max_depth,
        })
    }
}

struct DocumentLimitsExtension {
    max_depth: usize,
}

#[async_graphql::async_trait::async_trait]
impl Extension for DocumentLimitsExtension {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        mut request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let doc = check(&request.query, self.max_depth).map_err(Refusal::into_server_error)?;
        // Parsed once: the executor uses this document instead of parsing again.
        request.set_parsed_query(doc);
        next.run(ctx, request).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bomb(levels: usize) -> String {
        let mut doc = String::from(
            "query { organizations { ...F0 } }\nfragment F0 on Organization { id name }\n",
        );
        for i in 1..=levels {
            doc.push_str(&format!(
                "fragment F{i} on Organization {{ ...F{p} ...F{p} }}\n",
                p = i - 1
            ));
        }
        doc.replace("{ ...F0 } }", &format!("{{ ...F{levels} }} }}"))
    }

    #[test]
    fn a_fragment_bomb_is_refused_by_its_expanded_size() {
        let err = check(&bomb(26), 12).unwrap_err();
        assert_eq!(err.reason, "TOO_COMPLEX");
        assert!(check(&bomb(3), 12).is_ok());
    }

    #[test]
    fn cycles_and_unknown_fragments_are_refused() {
        let cycle = "{ organizations { ...A } } fragment A on Organization { ...B } fragment B on Organization { ...A }";
        assert_eq!(check(cycle, 12).unwrap_err().reason, "FRAGMENT_CYCLE");
        assert_eq!(
            check("{ organizations { ...Nope } }", 12)
                .unwrap_err()
                .reason,
            "UNKNOWN_FRAGMENT"
        );
    }

    #[test]
    fn mutations_aliases_and_depth_are_bounded() {
        let many: String = (0..11)
            .map(|i| format!("m{i}: leaveOrganization(input: {{organizationId: \"x\"}})"))
            .collect::<Vec<_>>()
            .join(" ");
        assert_eq!(
            check(&format!("mutation {{ {many} }}"), 12)
                .unwrap_err()
                .reason,
            "TOO_MANY_MUTATIONS"
        );
        let aliases: String = (0..31)
            .map(|i| format!("a{i}: me {{ isInstanceAdmin }} "))
            .collect();
        assert_eq!(
            check(&format!("{{ {aliases} }}"), 12).unwrap_err().reason,
            "TOO_MANY_ALIASES"
        );
        let deep = format!("{}{}", "{ a ".repeat(13), "}".repeat(13));
        assert_eq!(check(&deep, 12).unwrap_err().reason, "TOO_DEEP");
        let very_deep = format!("{}{}", "{ a ".repeat(20_000), "}".repeat(20_000));
        assert_eq!(check(&very_deep, 12).unwrap_err().reason, "TOO_DEEP");
    }

    #[test]
    fn unused_fragments_are_refused() {
        let doc = "{ __typename } fragment B on QueryRoot { a b c }";
        assert_eq!(check(doc, 12).unwrap_err().reason, "UNUSED_FRAGMENT");
    }

    #[test]
    fn a_carriage_return_ends_a_comment() {
        let hidden = format!("#\r{}", "{a(x: ".repeat(100));
        assert!(text_nesting(&hidden) > 64);
        assert_eq!(check(&hidden, 12).unwrap_err().reason, "TOO_DEEP");
    }

    #[test]
    fn nesting_ignores_strings_and_comments() {
        assert_eq!(
            text_nesting(
                r#"{ a(s: "{{{{") # {{{{{
 }"#
            ),
            2
        );
        assert_eq!(text_nesting("{ a(s: \"\"\"{{{\"\"\") }"), 2);
    }
}
