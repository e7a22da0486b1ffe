//! TOML and serde errors turned into one line an admin can act on: the dotted key, what was
//! expected, what was found, and where.
//!
//! `toml` alone reports "invalid type: string \"many\", expected i64" with a span but no key.
//! Deserializing through `serde_path_to_error` records the key path serde was in when it failed;
//! errors raised before serde runs (TOML syntax, integers out of range) have no path, so the key
//! is then read back from the text around the span. Shared with the users file, which has the
//! same needs.

use serde::de::DeserializeOwned;

/// A TOML document that could not be deserialized, located and worded for an admin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlError {
    /// Dotted key path (`ftps.passive_address_overrides[0].address`), when one is known.
    pub key: Option<String>,
    /// 1-based line and column (in characters), when `toml` gave a span.
    pub position: Option<(usize, usize)>,
    /// One line: "expected …, found …", "unknown key …", "required key is missing", or the
    /// TOML syntax error.
    pub message: String,
}

/// Deserializes `text`, keeping the key path of a failure.
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, TomlError> {
    let deserializer = toml::Deserializer::new(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = key_path(error.path());
        locate(text, path, error.inner())
    })
}

/// Joins the path's segments the way the docs write keys, leaving out the private fields that
/// `toml::Spanned` deserializes through (they are not keys an admin wrote).
fn key_path(path: &serde_path_to_error::Path) -> Option<String> {
    use serde_path_to_error::Segment;
    let mut joined = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Map { key } if key.starts_with("$__") => {}
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if !joined.is_empty() {
                    joined.push('.');
                }
                joined.push_str(key);
            }
            Segment::Seq { index } => joined.push_str(&format!("[{index}]")),
            Segment::Unknown => {}
        }
    }
    (!joined.is_empty()).then_some(joined)
}

fn locate(text: &str, path: Option<String>, error: &toml::de::Error) -> TomlError {
    let offset = error.span().map(|span| span.start);
    let raw = error.message();
    let (message, named_key) = reword(raw);
    // For an unknown or missing key serde's path stops at the table holding it.
    let key = match (path, named_key) {
        (Some(table), Some(name)) if table != name && !table.ends_with(&format!(".{name}")) => {
            Some(format!("{table}.{name}"))
        }
        (Some(path), _) => Some(path),
        (None, Some(name)) => offset
            .and_then(|offset| key_at(text, offset))
            .filter(|found| found.ends_with(&name))
            .or(Some(name)),
        (None, None) => offset.and_then(|offset| key_at(text, offset)),
    };
    TomlError {
        key,
        position: offset.map(|offset| line_column(text, offset)),
        message,
    }
}

/// Rewords serde's and toml's messages into one line without Rust type names; also returns
/// the key a message names (unknown, missing or duplicate key).
fn reword(raw: &str) -> (String, Option<String>) {
    let message = one_line(raw);
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, rest) = rest.split_once('`').unwrap_or((rest, ""));
        let choices = rest
            .strip_prefix(", expected one of ")
            .or_else(|| rest.strip_prefix(", expected "))
            .unwrap_or("");
        let advice = match closest(name, choices) {
            Some(close) => format!("; did you mean {close}?"),
            None if choices.is_empty() => String::new(),
            None => format!("; expected one of {choices}"),
        };
        return (format!("unknown key{advice}"), Some(name.to_owned()));
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return ("required key is missing".to_owned(), Some(name.to_owned()));
    }
    if let Some((_, rest)) = message.split_once("duplicate key `") {
        let name = rest.split('`').next().unwrap_or(rest);
        let what = if message.starts_with("invalid table header") {
            "table"
        } else {
            "key"
        };
        return (format!("{what} is written twice"), Some(name.to_owned()));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (found, rest) = rest.split_once('`').unwrap_or((rest, ""));
        let expected = rest.strip_prefix(", expected ").unwrap_or("a known value");
        return (format!("expected {expected}, found `{found}`"), None);
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            if let Some((found, expected)) = rest.rsplit_once(", expected ") {
                return (
                    format!("expected {}, found {}", plain_type(expected), found),
                    None,
                );
            }
        }
    }
    (message, None)
}

/// toml's syntax errors span several lines ("invalid table header\nexpected `.`, `]`").
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(", ")
}

/// serde's `expected` texts name Rust types; an admin writes TOML.
fn plain_type(expected: &str) -> String {
    let integers = [
        "i8", "i16", "i32", "i64", "i128", "u8", "u16", "u32", "u64", "u128", "isize", "usize",
    ];
    let word = expected.trim();
    if integers.contains(&word) {
        return "an integer".to_owned();
    }
    if let Some(kind) = word.strip_prefix("a nonzero ") {
        if integers.contains(&kind) {
            return "an integer above zero".to_owned();
        }
    }
    match word {
        "f32" | "f64" => "a number".to_owned(),
        "a sequence" => "an array".to_owned(),
        "a map" => "a table".to_owned(),
        _ if word.starts_with("struct ") => "a table".to_owned(),
        _ => word.to_owned(),
    }
}

/// The choice within two edits of `name`, for "did you mean" (catches typos, not guesses).
fn closest(name: &str, choices: &str) -> Option<String> {
    // serde writes `a`, `a` or `b`, and one of `a`, `b`, `c`: the names are the quoted parts.
    choices
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|choice| (edit_distance(name, choice), choice))
        .filter(|(distance, _)| *distance <= 2)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, choice)| format!("`{choice}`"))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitute = previous[j] + usize::from(a_char != *b_char);
            current.push(substitute.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

/// The dotted key whose line holds `offset`: the last `[table]` or `[[array]]` header above it
/// plus the key left of `=` on the line. Used when the parser failed before serde could track a
/// path; it reads the plain `key = value` layout of ferryd's files and gives up on anything else.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let before = text.get(..offset)?;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let mut table = String::new();
    let mut array_counts: Vec<(String, usize)> = Vec::new();
    for line in text[..line_start].lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix("[[") {
            let name = name.split("]]").next().unwrap_or("").trim().to_owned();
            let index = match array_counts.iter_mut().find(|(seen, _)| *seen == name) {
                Some((_, count)) => {
                    *count += 1;
                    *count - 1
                }
                None => {
                    array_counts.push((name.clone(), 1));
                    0
                }
            };
            table = format!("{name}[{index}]");
        } else if let Some(name) = line.strip_prefix('[') {
            table = name.split(']').next().unwrap_or("").trim().to_owned();
        }
    }
    let line = text[line_start..].lines().next().unwrap_or("").trim();
    if line.starts_with('[') {
        return None;
    }
    let (key, _) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || key.contains('#') {
        return None;
    }
    Some(if table.is_empty() {
        key.to_owned()
    } else {
        format!("{table}.{key}")
    })
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |index| index + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_at_reads_table_headers_and_counts_array_entries() {
        let text = "top = 1\n[a]\nx = 1\n[[b.c]]\ny = 1\n[[b.c]]\n  z = 2\n[d\n";
        let offset_of = |needle: &str| text.find(needle).unwrap();
        assert_eq!(key_at(text, offset_of("1")).as_deref(), Some("top"));
        assert_eq!(key_at(text, offset_of("x")).as_deref(), Some("a.x"));
        assert_eq!(key_at(text, offset_of("y")).as_deref(), Some("b.c[0].y"));
        assert_eq!(key_at(text, offset_of("2")).as_deref(), Some("b.c[1].z"));
        assert_eq!(key_at(text, offset_of("[d")), None);
    }

    #[test]
    fn typos_get_a_suggestion_and_guesses_do_not() {
        let choices = "one of `listen`, `enabled`, `host_keys`";
        assert_eq!(closest("lisen", choices).as_deref(), Some("`listen`"));
        assert_eq!(closest("port", choices), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn rust_type_names_become_toml_words() {
        assert_eq!(plain_type("usize"), "an integer");
        assert_eq!(plain_type("a nonzero u64"), "an integer above zero");
        assert_eq!(plain_type("struct ServerSection"), "a table");
        assert_eq!(plain_type("a boolean"), "a boolean");
    }

    #[test]
    fn line_column_counts_characters_from_one() {
        assert_eq!(line_column("ab\ncd", 0), (1, 1));
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ä\nöx", 5), (2, 2));
    }
}
