//! A tiny JSON writer for `poolstatus --json` and the gate's one-line state:
//! we only ever write JSON, never read it, so a serializer dependency does
//! not earn its place.

use std::fmt::Write;

/// The version of the JSON documents we write for machines to read
/// (`poolstatus --json`, the API's `/` and `/status`), as their `schema`
/// field. Documents without that field are version 1. Version 2: the
/// `schema` field; times as ISO-8601 UTC strings (`generated_at`,
/// `last_check.finished_at`); ids, counts and other numeric columns as JSON
/// numbers. docs/compatibility.md ("JSON documents") lists the fields that changed.
pub const SCHEMA: u32 = 2;

/// A JSON value to be written out.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    /// Integers are kept exact (LSN byte offsets exceed f64's 53 bits).
    Int(i128),
    Float(f64),
    Str(String),
    Array(Vec<Json>),
    /// Keys keep their insertion order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// An empty object, to be filled with [`Json::with`].
    pub fn object() -> Json {
        Json::Object(Vec::new())
    }

    /// Adds `key: value` to an object (no-op on other variants) and returns it.
    pub fn with(mut self, key: &str, value: impl Into<Json>) -> Json {
        if let Json::Object(fields) = &mut self {
            fields.push((key.to_string(), value.into()));
        }
        self
    }

    /// The compact one-line text of this value.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    fn write_to(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Float(f) if f.is_finite() => {
                let _ = write!(out, "{f}");
            }
            Json::Float(_) => out.push_str("null"),
            Json::Str(s) => write_str(s, out),
            Json::Array(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write_to(out);
                }
                out.push(']');
            }
            Json::Object(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(k, out);
                    out.push(':');
                    v.write_to(out);
                }
                out.push('}');
            }
        }
    }
}

/// A column's text as a JSON number when it is one (an integer exactly,
/// else a finite decimal), else as the text itself.
pub fn number_or_text(text: &str) -> Json {
    let t = text.trim();
    if let Ok(i) = t.parse::<i128>() {
        return Json::Int(i);
    }
    let decimal = !t.is_empty()
        && t.chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && t.chars().any(|c| c.is_ascii_digit());
    match t.parse::<f64>() {
        Ok(f) if decimal && f.is_finite() => Json::Float(f),
        _ => Json::Str(text.to_string()),
    }
}

fn write_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<bool> for Json {
    fn from(b: bool) -> Json {
        Json::Bool(b)
    }
}
impl From<&str> for Json {
    fn from(s: &str) -> Json {
        Json::Str(s.to_string())
    }
}
impl From<String> for Json {
    fn from(s: String) -> Json {
        Json::Str(s)
    }
}
impl From<f64> for Json {
    fn from(f: f64) -> Json {
        Json::Float(f)
    }
}
macro_rules! json_from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Json {
            fn from(i: $t) -> Json { Json::Int(i as i128) }
        }
    )*};
}
json_from_int!(i32, i64, u16, u32, u64, usize);
impl<T: Into<Json>> From<Option<T>> for Json {
    fn from(o: Option<T>) -> Json {
        o.map_or(Json::Null, Into::into)
    }
}
impl<T: Into<Json>> From<Vec<T>> for Json {
    fn from(v: Vec<T>) -> Json {
        Json::Array(v.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_nested_values_with_escapes() {
        let j = Json::object()
            .with("host", "db\"1\"\n")
            .with("lag", Some(18446744073709551615u64))
            .with("up", true)
            .with("none", Option::<i64>::None)
            .with("list", vec![1i64, 2]);
        assert_eq!(
            j.render(),
            r#"{"host":"db\"1\"\n","lag":18446744073709551615,"up":true,"none":null,"list":[1,2]}"#
        );
    }

    #[test]
    fn numbers_in_text_become_numbers_and_the_rest_stays_text() {
        assert_eq!(number_or_text("0"), Json::Int(0));
        assert_eq!(number_or_text(" 4468 "), Json::Int(4468));
        assert_eq!(number_or_text("-3"), Json::Int(-3));
        assert_eq!(number_or_text("0.500000"), Json::Float(0.5));
        assert_eq!(number_or_text("0.500000").render(), "0.5");
        for text in ["", "0/801FBC8", "inf", "NaN", "0 second", "up", "1e999"] {
            assert_eq!(number_or_text(text), Json::Str(text.into()), "{text:?}");
        }
    }

    #[test]
    fn control_characters_and_non_finite_floats() {
        assert_eq!(Json::from("\u{1}").render(), r#""\u0001""#);
        assert_eq!(Json::Float(f64::NAN).render(), "null");
    }
}
