//! Request bodies read exactly as the OpenAPI document describes them.
//!
//! `serde_json` alone is lenient where the document is not: a struct may arrive as an
//! array of its fields in order (`"expect": [null, null]`), which the document calls an
//! invalid object. Here a body is parsed into a [`Value`] first and read back through
//! [`Strict`], which hands a struct only an object. Its errors name the member that failed
//! (`expect: …`) and describe a wrong value by its kind, never by its text: a key sent
//! where a number belongs is not echoed into the answer or the log.

use std::fmt;

use axum::http::{HeaderMap, header};
use serde::{
    de::{
        self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess,
        SeqAccess, Unexpected, VariantAccess, Visitor,
    },
    forward_to_deserialize_any,
};
use serde_json::{Map, Value};

use crate::error::AppError;

/// Whether a request says its body is JSON (`application/json` or `application/…+json`).
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or("").trim();
    let Some((kind, subtype)) = essence.split_once('/') else {
        return false;
    };
    kind.eq_ignore_ascii_case("application")
        && (subtype.eq_ignore_ascii_case("json")
            || subtype.len() > 5
                && subtype.is_char_boundary(subtype.len() - 5)
                && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json"))
}

/// Parses a JSON body into `T`. The error names the member that failed (`body` for the
/// body as a whole) and says why without quoting the input.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        // Syntax errors carry only a category and a position.
        let what = match e.classify() {
            serde_json::error::Category::Eof => "ends early",
            _ => "is not valid JSON",
        };
        AppError::invalid(
            "body",
            format!("{what} (line {}, column {})", e.line(), e.column()),
        )
    })?;
    from_value(&value)
}

/// Reads an already parsed body into `T`, as [`from_slice`] does.
pub fn from_value<T: DeserializeOwned>(value: &Value) -> Result<T, AppError> {
    serde_path_to_error::deserialize(Strict(value)).map_err(|e| {
        let field = field_of(e.path());
        AppError::invalid(field, e.into_inner().0)
    })
}

/// A member's path (`expect.organization_id`, `ratelimits[1]`; `body` for the whole). A
/// name from the input is shown only when it is too short to hold a credential (every
/// token's random part alone is longer) and printable.
fn field_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut field = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => field.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !field.is_empty() {
                    field.push('.');
                }
                if shown(key) {
                    field.push_str(key);
                } else {
                    field.push('…');
                }
            }
            Segment::Unknown => field.push_str(".?"),
        }
    }
    if field.is_empty() {
        "body".to_owned()
    } else {
        field
    }
}

fn shown(name: &str) -> bool {
    name.len() < crate::token::MIN_RANDOM_LEN && name.bytes().all(|b| b.is_ascii_graphic())
}

/// A reading error. Its message never holds the text of the value read.
#[derive(Debug)]
pub struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// What was found, by kind only.
fn kind(unexp: &Unexpected<'_>) -> &'static str {
    match unexp {
        Unexpected::Bool(_) => "a boolean",
        Unexpected::Unsigned(_) | Unexpected::Signed(_) => "an integer",
        Unexpected::Float(_) => "a number",
        Unexpected::Char(_) | Unexpected::Str(_) => "a string",
        Unexpected::Bytes(_) => "bytes",
        Unexpected::Unit | Unexpected::Option => "null",
        Unexpected::Seq => "an array",
        Unexpected::Map => "an object",
        _ => "a value",
    }
}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }

    fn invalid_type(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        Error(format!("expected {exp}, found {}", kind(&unexp)))
    }

    fn invalid_value(unexp: Unexpected<'_>, exp: &dyn de::Expected) -> Self {
        // Numbers out of range are safe to show; strings are not.
        match unexp {
            Unexpected::Unsigned(n) => Error(format!("expected {exp}, found {n}")),
            Unexpected::Signed(n) => Error(format!("expected {exp}, found {n}")),
            other => Error(format!("expected {exp}, found {}", kind(&other))),
        }
    }

    fn unknown_variant(_variant: &str, expected: &'static [&'static str]) -> Self {
        Error(format!("must be one of {}", expected.join(", ")))
    }

    fn unknown_field(_field: &str, expected: &'static [&'static str]) -> Self {
        // The path names the member (see `field_of`).
        Error(format!(
            "is not a member here; the members are {}",
            expected.join(", ")
        ))
    }
}

/// A JSON value read strictly: structs only from objects.
#[derive(Clone, Copy)]
pub struct Strict<'a>(pub &'a Value);

impl<'de, 'a> de::Deserializer<'de> for Strict<'a> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_str(s),
            Value::Array(items) => visitor.visit_seq(Items(items.iter())),
            Value::Object(members) => visitor.visit_map(Members::new(members)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(members) => visitor.visit_map(Members::new(members)),
            other => Err(found(other, "an object")),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(members) => visitor.visit_map(Members::new(members)),
            other => Err(found(other, "an object")),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(tag) => visitor.visit_enum(tag.as_str().into_deserializer()),
            Value::Object(members) if members.len() == 1 => match members.iter().next() {
                Some((tag, content)) => visitor.visit_enum(Variant { tag, content }),
                None => Err(found(self.0, "a string")),
            },
            other => Err(found(other, "a string")),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct identifier ignored_any
    }
}

/// A value of the wrong kind, named by the kind the document gives rather than a Rust
/// type's name.
fn found(value: &Value, expected: &str) -> Error {
    Error(format!(
        "expected {expected}, found {}",
        kind(&unexpected(value))
    ))
}

fn unexpected(value: &Value) -> Unexpected<'_> {
    match value {
        Value::Null => Unexpected::Unit,
        Value::Bool(b) => Unexpected::Bool(*b),
        Value::Number(_) => Unexpected::Float(0.0),
        Value::String(_) => Unexpected::Str(""),
        Value::Array(_) => Unexpected::Seq,
        Value::Object(_) => Unexpected::Map,
    }
}

struct Items<'a>(std::slice::Iter<'a, Value>);

impl<'de, 'a> SeqAccess<'de> for Items<'a> {
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Error> {
        self.0
            .next()
            .map(|item| seed.deserialize(Strict(item)))
            .transpose()
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Members<'a> {
    iter: serde_json::map::Iter<'a>,
    value: Option<&'a Value>,
}

impl<'a> Members<'a> {
    fn new(members: &'a Map<String, Value>) -> Self {
        Self {
            iter: members.iter(),
            value: None,
        }
    }
}

impl<'de, 'a> MapAccess<'de> for Members<'a> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((key, value)) => {
                self.value = Some(value);
                seed.deserialize(key.as_str().into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("a value was read before its key"))?;
        seed.deserialize(Strict(value))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Variant<'a> {
    tag: &'a str,
    content: &'a Value,
}

impl<'de, 'a> EnumAccess<'de> for Variant<'a> {
    type Error = Error;
    type Variant = Strict<'a>;

    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Strict<'a>), Error> {
        let tag = seed.deserialize(self.tag.into_deserializer())?;
        Ok((tag, Strict(self.content)))
    }
}

impl<'de, 'a> VariantAccess<'de> for Strict<'a> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        match self.0 {
            Value::Null => Ok(()),
            other => Err(de::Error::invalid_type(unexpected(other), &"no content")),
        }
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_seq(self, visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        de::Deserializer::deserialize_struct(self, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[serde(default)]
        a: Option<u32>,
        #[serde(default)]
        b: Option<String>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Level {
        Read,
        Write,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        key: String,
        #[serde(default)]
        inner: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
        #[serde(default)]
        level: Option<Level>,
        #[serde(default)]
        meta: Option<Map<String, Value>>,
    }

    fn text<T: DeserializeOwned + fmt::Debug>(body: &[u8]) -> Result<T, String> {
        from_slice(body).map_err(|e| e.to_string())
    }

    #[test]
    fn an_object_reads_as_serde_json_would() {
        let read: Outer = from_slice(
            br#"{"key":"k","inner":{"a":3},"list":[{"b":"x"}],"level":"write","meta":{"n":[1,{"m":null}]}}"#,
        )
        .unwrap();
        assert_eq!(read.key, "k");
        assert_eq!(
            read.inner,
            Some(Inner {
                a: Some(3),
                b: None
            })
        );
        assert_eq!(
            read.list,
            vec![Inner {
                a: None,
                b: Some("x".into())
            }]
        );
        assert_eq!(read.level, Some(Level::Write));
        assert_eq!(read.meta.unwrap()["n"][1]["m"], Value::Null);
        let _ = Level::Read;
    }

    #[test]
    fn a_struct_never_reads_from_an_array() {
        // serde_json alone takes this.
        assert!(serde_json::from_slice::<Outer>(br#"{"key":"k","inner":[null,null]}"#).is_ok());
        let err = text::<Outer>(br#"{"key":"k","inner":[null,null]}"#).unwrap_err();
        assert_eq!(err, "inner: expected an object, found an array");
        let err = text::<Outer>(br#"{"key":"k","list":[[1]]}"#).unwrap_err();
        assert_eq!(err, "list[0]: expected an object, found an array");
        let err = text::<Outer>(br#"["k"]"#).unwrap_err();
        assert_eq!(err, "body: expected an object, found an array");
    }

    #[test]
    fn errors_name_the_member_and_never_quote_the_input() {
        let secret = "kw_live_supersecretvalue";
        let cases = [
            format!(r#"{{"key":"k","inner":{{"a":"{secret}"}}}}"#),
            format!(r#"{{"key":"k","level":"{secret}"}}"#),
            format!(r#"{{"key":"k","{secret}":1}}"#),
            format!(r#"{{"key":"k","inner":{{"a":1,"{secret}":2}}}}"#),
            format!(r#"{{"key":"k","inner":{{"a":-1}}, "x": "{secret}"#),
            format!(r#"{{"key":7, "b": "{secret}"}}"#),
        ];
        for body in cases {
            let err = text::<Outer>(body.as_bytes()).unwrap_err();
            assert!(!err.contains("supersecret"), "{err}");
        }
        let err = text::<Outer>(br#"{"key":"k","inner":{"a":"x"}}"#).unwrap_err();
        assert_eq!(err, "inner.a: expected u32, found a string");
        let err = text::<Outer>(br#"{"key":"k","inner":{"a":-1}}"#).unwrap_err();
        assert_eq!(err, "inner.a: expected u32, found -1");
        let err = text::<Outer>(br#"{"key":"k","level":"admin"}"#).unwrap_err();
        assert_eq!(err, "level: must be one of read, write");
        let err = text::<Outer>(br#"{}"#).unwrap_err();
        assert_eq!(err, "body: missing field `key`");
        let err = text::<Outer>(br#"{"key":"k","extra":1}"#).unwrap_err();
        assert_eq!(
            err,
            "extra: is not a member here; the members are key, inner, list, level, meta"
        );
        let err =
            text::<Outer>(br#"{"key":"k","inner":{"kw_live_supersecretvalue":1}}"#).unwrap_err();
        assert_eq!(err, "inner.…: is not a member here; the members are a, b");
        let err = text::<Outer>(br#"{"key":"#).unwrap_err();
        assert_eq!(err, "body: ends early (line 1, column 7)");
    }
}
