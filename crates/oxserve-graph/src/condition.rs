//! Step conditions: the part of the GJSON path syntax that KServe InferenceGraph conditions use.
//!
//! KServe's router takes a `Switch` step, or lets a `Sequence` go on to a step, when the GJSON
//! path in the step's `condition` finds something in the message (gjson's `Exists()`):
//! `instances.#(intval>10)` finds an element of `instances` whose `intval` is above 10,
//! `predictions.#(label=="dog")` one labelled dog, `[@this].#(source==client)` the message itself
//! when its `source` is "client". [`Condition`] reads such a path once, when the graph is loaded,
//! and tests it on a JSON value with gjson's rules:
//!
//! - keys separated by `.`, with `*` and `?` wildcards and `\` escapes; an array index by number;
//! - `#`, the length of an array, and `#.path`, the path on every element (an array of what it finds);
//! - queries `#(path op value)` (the first element that matches) and `#(…)#` (an array of all),
//!   with `==` (or `=`), `!=`, `<`, `<=`, `>`, `>=`, `%` (like: `*` and `?` wildcards) and `!%`;
//!   a value is a quoted JSON string or bare text (`#(source==client)`), compared as the found
//!   value's type says (numbers as numbers, strings bytewise, booleans as gjson orders them);
//!   `~true`, `~false`, `~null` and `~*` test truthiness; a query without an operator tests
//!   existence, one without a path tests the element itself (`nets.#(=="fb")`); queries nest;
//! - `@this`, and `[path,…]` at the start (an array of what each path finds).
//!
//! The rest of GJSON (pipes `|`, other modifiers, `{…}` multipaths, `!` literals, `..` JSON lines)
//! is refused when the graph is read, as is anything gjson would read as a strange key (an
//! operator or bracket outside a query), so that no condition is silently false.

use std::borrow::Cow;
use std::fmt;

use oxserve_core::{Error, Result};
use serde_json::Value;

/// A parsed condition, ready to test messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    text: String,
    path: Path,
}

impl Condition {
    /// Reads `text`; an error names the condition and what in it this version does not read.
    pub fn parse(text: &str) -> Result<Condition> {
        let path = parse_path(text).map_err(|reason| {
            Error::invalid(format!("'{text}' is not a condition oxserve reads: {reason}"))
        })?;
        Ok(Condition { text: text.to_string(), path })
    }

    /// Whether the path finds something in `document`, as gjson's `Get(…).Exists()` says: a
    /// `null` found is something, a query with `#` always finds an array (maybe empty).
    pub fn matches(&self, document: &Value) -> bool {
        find(&self.path, Cow::Borrowed(document)).is_some()
    }

    /// Whether a test of the condition can look inside a member named `key`, so that a caller can
    /// leave out a costly member (tensor data) that no condition reads.
    pub fn reads(&self, key: &str) -> bool {
        self.path.reads(key)
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A path: steps taken one after another from the value it is tested on.
#[derive(Debug, Clone, PartialEq, Default)]
struct Path(Vec<Step>);

#[derive(Debug, Clone, PartialEq)]
enum Step {
    /// An object member by exact key, or an array element when the key is a number.
    Key(String),
    /// The first object member whose key matches a pattern with `*` / `?` (escapes kept).
    Wild(String),
    /// `#` at the end: the length of an array.
    Count,
    /// `#.path`: the path on every element; the array of what it finds. Ends the path.
    Each(Path),
    /// `#(…)`: the first element the query matches; the path goes on from it.
    First(Query),
    /// `#(…)#.path`: the path on every element the query matches. Ends the path.
    All(Query, Path),
    /// `@this`: the value itself.
    This,
    /// `[a,b]`: the array of what each path finds.
    Select(Vec<Path>),
}

impl Path {
    fn reads(&self, key: &str) -> bool {
        self.0.iter().any(|step| match step {
            Step::Key(k) => k == key,
            Step::Wild(pattern) => like(key, pattern),
            Step::Count | Step::This => false,
            Step::Each(path) => path.reads(key),
            Step::First(query) => query.path.reads(key),
            Step::All(query, path) => query.path.reads(key) || path.reads(key),
            Step::Select(paths) => paths.iter().any(|p| p.reads(key)),
        })
    }
}

/// What a query tests on each element: the value its path finds there, against a comparison.
#[derive(Debug, Clone, PartialEq)]
struct Query {
    /// Empty: the element itself (only elements that are not objects or arrays).
    path: Path,
    /// `None`: that the path finds something.
    comparison: Option<(Op, Operand)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Like,
    NotLike,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// Compared with a string as it is, with a number as the number it parses to (0 if none).
    Text(String),
    /// `~…`: the found value (maybe none) turned into a boolean first.
    Truthy(Truthiness),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Truthiness {
    /// `~true`: `true`, a non-zero number, a string such as "1", "t" or "true".
    True,
    /// `~false`: `false`, `null`, 0, "0"/"f"/"false", or nothing found.
    False,
    /// `~null`: `null` or nothing found.
    Null,
    /// `~*`: anything found.
    Any,
}

// ------------------------------------------------------------------------------------------------
// Reading a path

/// Characters gjson would take into a key silently, but which in a condition are almost surely
/// an operator or bracket in the wrong place; a key that holds one escapes it with `\`.
const NOT_IN_KEYS: &str = "()[]{}=<>!%\",#";

fn parse_path(text: &str) -> std::result::Result<Path, String> {
    if text.is_empty() {
        return Err("the path is empty".into());
    }
    if text.starts_with("..") {
        return Err("'..' (JSON lines) is not supported".into());
    }
    if text.starts_with('{') {
        return Err("'{…}' (an object multipath) is not supported".into());
    }
    if text.starts_with('!') {
        return Err("'!' (a JSON literal) is not supported".into());
    }
    let mut steps = Vec::new();
    let mut rest = text;
    if rest.starts_with('[') {
        let (paths, after) = parse_select(rest)?;
        steps.push(Step::Select(paths));
        rest = after;
        if rest.is_empty() {
            return Ok(Path(steps));
        }
        rest = after_dot(rest, "']'")?;
    }
    loop {
        if let Some(after) = rest.strip_prefix('#') {
            if after.is_empty() {
                steps.push(Step::Count);
                break;
            }
            if let Some(each) = after.strip_prefix('.') {
                steps.push(Step::Each(parse_path(each)?));
                break;
            }
            if after.starts_with('[') {
                return Err("'#[…]' is gjson's old query form; write '#(…)'".into());
            }
            if !after.starts_with('(') {
                return Err(format!(
                    "'#' is followed by '{}'; expected '#', '#.path' or '#(query)'",
                    first(after)
                ));
            }
            let (query, after) = parse_query(after)?;
            if let Some(after) = after.strip_prefix('#') {
                let then =
                    if after.is_empty() { Path::default() } else { parse_path(after_dot(after, "')#'")?)? };
                steps.push(Step::All(query, then));
                break;
            }
            steps.push(Step::First(query));
            rest = after;
        } else if rest.starts_with('@') {
            let end = rest.find('.').unwrap_or(rest.len());
            match &rest[..end] {
                "@this" => steps.push(Step::This),
                other => return Err(format!("the modifier '{other}' is not supported (only @this is)")),
            }
            rest = &rest[end..];
        } else {
            let (step, after) = parse_key(rest)?;
            steps.push(step);
            rest = after;
        }
        if rest.is_empty() {
            break;
        }
        rest = after_dot(rest, "a step")?;
    }
    Ok(Path(steps))
}

/// What follows the `.` that must come next; an error says what came instead.
fn after_dot<'a>(rest: &'a str, after: &str) -> std::result::Result<&'a str, String> {
    match rest.strip_prefix('.') {
        Some("") => Err("the path ends with '.'".into()),
        Some(next) => Ok(next),
        None if rest.starts_with('|') => Err("the pipe '|' is not supported; write '.'".into()),
        None => Err(format!("unexpected '{}' after {after}; steps are separated by '.'", first(rest))),
    }
}

fn first(text: &str) -> char {
    text.chars().next().unwrap_or(' ')
}

/// A key up to the next unescaped `.`.
fn parse_key(text: &str) -> std::result::Result<(Step, &str), String> {
    let mut key = String::new();
    let mut escaped = String::new();
    let mut wild = false;
    let mut chars = text.char_indices();
    let mut end = text.len();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                let (_, next) = chars.next().ok_or("the path ends with '\\'")?;
                key.push(next);
                escaped.push('\\');
                escaped.push(next);
            }
            '.' => {
                end = i;
                break;
            }
            '|' => return Err("the pipe '|' is not supported; write '.'".into()),
            c if NOT_IN_KEYS.contains(c) => {
                let step = &text[..text[i..].find('.').map_or(text.len(), |dot| i + dot)];
                return Err(format!(
                    "unexpected '{c}' in '{step}'; a query is written '#(path{c}…)', and a key that \
                     holds '{c}' escapes it as '\\{c}'"
                ));
            }
            '*' | '?' => {
                wild = true;
                key.push(c);
                escaped.push(c);
            }
            c => {
                key.push(c);
                escaped.push(c);
            }
        }
    }
    if end == 0 {
        return Err("a key is empty (two '.' in a row, or a path that starts with '.')".into());
    }
    let step = if wild { Step::Wild(escaped) } else { Step::Key(key) };
    Ok((step, &text[end..]))
}

/// `[path,path,…]` at the start of `text`, and what follows the `]`.
fn parse_select(text: &str) -> std::result::Result<(Vec<Path>, &str), String> {
    let mut paths = Vec::new();
    let mut depth = 0;
    let mut start = 1;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => skip_string(&mut chars)?,
            '[' | '(' | '{' => depth += 1,
            ':' if depth == 1 => return Err("named selections ('name:path') are not supported".into()),
            ',' if depth == 1 => {
                paths.push(parse_path(&text[start..i])?);
                start = i + 1;
            }
            ']' | ')' | '}' => {
                depth -= 1;
                if depth == 0 {
                    paths.push(parse_path(&text[start..i])?);
                    return Ok((paths, &text[i + 1..]));
                }
            }
            _ => {}
        }
    }
    Err("'[' is not closed".into())
}

/// Moves past a quoted string whose opening quote was just read.
fn skip_string(chars: &mut std::str::CharIndices<'_>) -> std::result::Result<(), String> {
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return Ok(()),
            _ => {}
        }
    }
    Err("a '\"' is not closed".into())
}

/// `(…)` at the start of `text` (after a `#`), and what follows the `)`. As in gjson, the first
/// operator character outside nested brackets and strings ends the query's path.
fn parse_query(text: &str) -> std::result::Result<(Query, &str), String> {
    let mut depth = 0;
    let mut op_at = None;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '!' | '=' | '<' | '>' | '%' if depth == 1 && op_at.is_none() => op_at = Some(i),
            '\\' => {
                chars.next();
            }
            '"' => skip_string(&mut chars)?,
            '(' | '[' => depth += 1,
            ')' | ']' => {
                depth -= 1;
                if depth == 0 {
                    let query = query(&text[1..i], op_at.map(|at| at - 1))?;
                    return Ok((query, &text[i + 1..]));
                }
            }
            _ => {}
        }
    }
    Err("'#(' is not closed".into())
}

/// The inside of `#(…)`, its operator (if any) at `op_at`.
fn query(inside: &str, op_at: Option<usize>) -> std::result::Result<Query, String> {
    let Some(op_at) = op_at else {
        let path = inside.trim();
        if path.is_empty() {
            return Err("'#()' is empty; give a path, an operator and a value".into());
        }
        return Ok(Query { path: parse_path(path)?, comparison: None });
    };
    let path = inside[..op_at].trim();
    let path = if path.is_empty() { Path::default() } else { parse_path(path)? };
    let rest = &inside[op_at..];
    let (op, length) = [
        ("==", Op::Eq),
        ("!=", Op::Ne),
        ("!%", Op::NotLike),
        ("<=", Op::Le),
        (">=", Op::Ge),
        ("=", Op::Eq),
        ("<", Op::Lt),
        (">", Op::Gt),
        ("%", Op::Like),
    ]
    .into_iter()
    .find(|(symbol, _)| rest.starts_with(symbol))
    .map(|(symbol, op)| (op, symbol.len()))
    .ok_or_else(|| format!("'{}' is not an operator (==, !=, <, <=, >, >=, %, !%)", first(rest)))?;
    let symbol = &rest[..length];
    let value = rest[length..].trim();
    let operand =
        if value.is_empty() {
            return Err(format!("the operator '{symbol}' in '#({inside})' has no value"));
        } else if value.starts_with('"') {
            Operand::Text(serde_json::from_str::<String>(value).map_err(|_| {
                format!("{value} is not one JSON string (quote it whole, escape '\"' inside)")
            })?)
        } else if let Some(truth) = value.strip_prefix('~') {
            Operand::Truthy(match truth {
                "true" => Truthiness::True,
                "false" => Truthiness::False,
                "null" => Truthiness::Null,
                "*" => Truthiness::Any,
                _ => return Err(format!("'{value}' is not ~true, ~false, ~null or ~*")),
            })
        } else if value.starts_with(['=', '!', '<', '>', '%']) {
            return Err(format!(
                "'{symbol}{value}' is not an operator and a value; quote a value that starts with '{}'",
                first(value)
            ));
        } else {
            Operand::Text(value.to_string())
        };
    Ok(Query { path, comparison: Some((op, operand)) })
}

// ------------------------------------------------------------------------------------------------
// Testing a path

fn find<'a>(path: &Path, value: Cow<'a, Value>) -> Option<Cow<'a, Value>> {
    let mut current = value;
    for step in &path.0 {
        current = match step {
            Step::Key(key) => descend(current, |v| member(v, key))?,
            Step::Wild(pattern) => {
                descend(current, |v| v.as_object()?.iter().find(|(k, _)| like(k, pattern)).map(|(_, v)| v))?
            }
            Step::Count => Cow::Owned(Value::from(current.as_array()?.len())),
            Step::Each(each) => Cow::Owned(Value::Array(
                current
                    .as_array()?
                    .iter()
                    .filter_map(|e| find(each, Cow::Borrowed(e)))
                    .map(Cow::into_owned)
                    .collect(),
            )),
            Step::First(query) => descend(current, |v| v.as_array()?.iter().find(|e| query.matches(e)))?,
            Step::All(query, then) => Cow::Owned(Value::Array(
                current
                    .as_array()?
                    .iter()
                    .filter(|e| query.matches(e))
                    .filter_map(|e| find(then, Cow::Borrowed(e)))
                    .map(Cow::into_owned)
                    .collect(),
            )),
            Step::This => current,
            Step::Select(paths) => Cow::Owned(Value::Array(
                paths
                    .iter()
                    .filter_map(|p| find(p, Cow::Borrowed(current.as_ref())))
                    .map(Cow::into_owned)
                    .collect(),
            )),
        };
    }
    Some(current)
}

/// The part of `value` that `pick` chooses, borrowed when `value` is.
fn descend<'a>(value: Cow<'a, Value>, pick: impl Fn(&Value) -> Option<&Value>) -> Option<Cow<'a, Value>> {
    match value {
        Cow::Borrowed(v) => pick(v).map(Cow::Borrowed),
        Cow::Owned(v) => pick(&v).cloned().map(Cow::Owned),
    }
}

/// An object's member, or an array's element when the key is all digits.
fn member<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Object(members) => members.get(key),
        Value::Array(elements) if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) => {
            elements.get(key.parse::<usize>().ok()?)
        }
        _ => None,
    }
}

impl Query {
    /// Whether `element` matches. As in gjson, a query path looks into objects and arrays only,
    /// and an empty one tests elements that are neither.
    fn matches(&self, element: &Value) -> bool {
        let nested = element.is_object() || element.is_array();
        let found = match (nested, self.path.0.is_empty()) {
            (true, false) => find(&self.path, Cow::Borrowed(element)),
            (false, true) => Some(Cow::Borrowed(element)),
            (true, true) => None,
            (false, false) => return false,
        };
        let Some((op, operand)) = &self.comparison else { return found.is_some() };
        let (found, text) = match operand {
            Operand::Text(text) => (found, text.as_str()),
            Operand::Truthy(truthiness) => {
                (Some(Cow::Owned(Value::Bool(truthiness.holds(found.as_deref())))), "true")
            }
        };
        found.is_some_and(|found| compare(&found, *op, text))
    }
}

impl Truthiness {
    fn holds(self, found: Option<&Value>) -> bool {
        let parsed = |s: &str| match s.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" => Some(true),
            "0" | "f" | "false" => Some(false),
            _ => None,
        };
        match (self, found) {
            (Truthiness::Any, found) => found.is_some(),
            (Truthiness::Null, found) => matches!(found, None | Some(Value::Null)),
            (Truthiness::True, Some(Value::Bool(b))) => *b,
            (Truthiness::True, Some(Value::String(s))) => parsed(s) == Some(true),
            (Truthiness::True, Some(Value::Number(n))) => n.as_f64() != Some(0.0),
            (Truthiness::True, _) => false,
            (Truthiness::False, None | Some(Value::Null)) => true,
            (Truthiness::False, Some(Value::Bool(b))) => !*b,
            (Truthiness::False, Some(Value::String(s))) => parsed(s) == Some(false),
            (Truthiness::False, Some(Value::Number(n))) => n.as_f64() == Some(0.0),
            (Truthiness::False, _) => false,
        }
    }
}

/// gjson's comparison: the found value's type decides how `text` is read. Objects, arrays and
/// `null` match no comparison.
fn compare(found: &Value, op: Op, text: &str) -> bool {
    match found {
        Value::String(s) => match op {
            Op::Eq => s == text,
            Op::Ne => s != text,
            Op::Lt => s.as_str() < text,
            Op::Le => s.as_str() <= text,
            Op::Gt => s.as_str() > text,
            Op::Ge => s.as_str() >= text,
            Op::Like => like(s, text),
            Op::NotLike => !like(s, text),
        },
        Value::Number(n) => {
            let (n, operand) = (n.as_f64().unwrap_or(f64::NAN), text.parse::<f64>().unwrap_or(0.0));
            match op {
                Op::Eq => n == operand,
                Op::Ne => n != operand,
                Op::Lt => n < operand,
                Op::Le => n <= operand,
                Op::Gt => n > operand,
                Op::Ge => n >= operand,
                Op::Like | Op::NotLike => false,
            }
        }
        // gjson orders false before true and compares with the text as written.
        Value::Bool(true) => match op {
            Op::Eq => text == "true",
            Op::Ne => text != "true",
            Op::Gt => text == "false",
            Op::Ge => true,
            _ => false,
        },
        Value::Bool(false) => match op {
            Op::Eq => text == "false",
            Op::Ne => text != "false",
            Op::Lt => text == "true",
            Op::Le => true,
            _ => false,
        },
        Value::Null | Value::Array(_) | Value::Object(_) => false,
    }
}

/// Whether `text` matches `pattern`: `*` any run of characters, `?` any one, `\c` the character c.
/// Linear backtracking to the last `*`, so no pattern costs more than |text| × |pattern| steps.
fn like(text: &str, pattern: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Token {
        Any,
        One,
        Char(char),
    }
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        tokens.push(match c {
            '*' => Token::Any,
            '?' => Token::One,
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            c => Token::Char(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Token::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Token::One) => {
                t += 1;
                p += 1;
            }
            Some(Token::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|token| *token == Token::Any)
}

#[cfg(test)]
mod tests;
