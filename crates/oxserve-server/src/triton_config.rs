//! Triton's per-model `config.pbtxt`, so that a Triton model repository of ONNX models serves
//! unchanged.
//!
//! The file is a `ModelConfig` message in protobuf text format. We parse the text format
//! ourselves (a small, strict grammar: a syntax error stops the start with the file, line and
//! column) into a tree of [`Field`]s, then read the fields that matter for an ONNX model into
//! [`ModelSettings`]. Triton configs carry many optional fields that change nothing here
//! (`optimization`, `model_warmup`, `response_cache`…): those are ignored with a debug log. The
//! few that would change a model's meaning and that oxserve cannot honour (`sequence_batching`,
//! ensembles, `reshape`, decoupled models) are refused by name rather than silently dropped.

use std::fmt;
use std::path::Path;

use oxserve_core::{DataType, Error, ModelSettings, Result, SettingsParameters, TensorSpec};

/// The file Triton reads in each model folder.
pub(crate) const CONFIG_FILE: &str = "config.pbtxt";
/// `default_model_filename` of Triton's ONNX Runtime backend.
pub(crate) const DEFAULT_MODEL_FILENAME: &str = "model.onnx";

const ONNX_PLATFORM: &str = "onnxruntime_onnx";
const ONNX_BACKEND: &str = "onnxruntime";
/// Deeper nesting than any real config; the bound keeps a hostile file from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// What a `config.pbtxt` (or its absence) says about one model folder.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TritonConfig {
    /// Everything but `parameters.uri` / `parameters.version`, which depend on the version
    /// folder that discovery picks.
    pub settings: ModelSettings,
    pub version_policy: VersionPolicy,
    /// File name inside a version folder (`default_model_filename`).
    pub model_filename: String,
}

/// Which version folders Triton serves (`version_policy`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum VersionPolicy {
    /// The `num_versions` highest versions (Triton's default: the highest one).
    Latest {
        num_versions: u32,
    },
    All,
    /// The listed versions that have a folder.
    Specific {
        versions: Vec<u64>,
    },
}

impl Default for VersionPolicy {
    fn default() -> Self {
        VersionPolicy::Latest { num_versions: 1 }
    }
}

impl VersionPolicy {
    /// The versions this policy serves among `present`, in ascending order.
    pub(crate) fn select(&self, present: &[u64]) -> Vec<u64> {
        let mut present = present.to_vec();
        present.sort_unstable();
        present.dedup();
        match self {
            VersionPolicy::Latest { num_versions } => {
                let skip = present.len().saturating_sub(*num_versions as usize);
                present.split_off(skip)
            }
            VersionPolicy::All => present,
            VersionPolicy::Specific { versions } => {
                present.retain(|v| versions.contains(v));
                present
            }
        }
    }
}

impl fmt::Display for VersionPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VersionPolicy::Latest { num_versions: 1 } => f.write_str("latest"),
            VersionPolicy::Latest { num_versions } => write!(f, "latest {{ num_versions: {num_versions} }}"),
            VersionPolicy::All => f.write_str("all"),
            VersionPolicy::Specific { versions } => write!(f, "specific {{ versions: {versions:?} }}"),
        }
    }
}

impl TritonConfig {
    /// What Triton assumes for an ONNX model folder without `config.pbtxt` (auto-complete):
    /// the latest version's `model.onnx`, metadata from the graph, no batching.
    pub(crate) fn auto_complete(folder_name: &str) -> TritonConfig {
        TritonConfig {
            settings: ModelSettings {
                name: Some(folder_name.to_string()),
                implementation: Some("onnx".to_string()),
                platform: Some(ONNX_PLATFORM.to_string()),
                ..ModelSettings::default()
            },
            version_policy: VersionPolicy::default(),
            model_filename: DEFAULT_MODEL_FILENAME.to_string(),
        }
    }

    /// Reads `path`, the `config.pbtxt` of the model folder named `folder_name`.
    pub(crate) fn from_file(path: &Path, folder_name: &str) -> Result<TritonConfig> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::invalid(format!("cannot read {}: {e}", path.display())))?;
        TritonConfig::parse(&text, &path.display().to_string(), folder_name)
    }

    /// Parses config text; `source` names the file in error messages, which all read
    /// `<source>:<line>:<column>: <field>: <what is wrong>`.
    pub(crate) fn parse(text: &str, source: &str, folder_name: &str) -> Result<TritonConfig> {
        let document = Parser::new(text, source).document()?;
        Reader { source }.model_config(&document, folder_name)
    }
}

// ---------------------------------------------------------------------------------------------
// Protobuf text format: the tree

/// A message: its fields in file order. A repeated field is one [`Field`] per element, whether
/// the file repeats the field or writes a `[a, b]` list.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Message {
    pub fields: Vec<Field>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Field {
    pub name: String,
    /// Where the field (or, in a list, the element) starts.
    pub pos: Pos,
    pub value: Value,
}

/// 1-based line and column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Pos {
    pub line: u32,
    pub column: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A quoted string, escapes resolved and adjacent strings joined.
    Str(String),
    /// A number as written, sign included: its type is the field's, which only the reader knows.
    Number(String),
    /// A bare identifier: an enum value, `true` / `false`, `inf`, `nan` (sign included).
    Ident(String),
    Message(Message),
}

impl Value {
    fn describe(&self) -> String {
        match self {
            Value::Str(s) => format!("the string {s:?}"),
            Value::Number(n) => format!("the number {n}"),
            Value::Ident(i) => format!("'{i}'"),
            Value::Message(_) => "a message { … }".to_string(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Protobuf text format: tokens

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Number(String),
    Str(Vec<u8>),
    Punct(char),
    End,
}

impl Tok {
    fn describe(&self) -> String {
        match self {
            Tok::Ident(i) => format!("'{i}'"),
            Tok::Number(n) => format!("the number {n}"),
            Tok::Str(s) => format!("the string {:?}", String::from_utf8_lossy(s)),
            Tok::Punct(c) => format!("'{c}'"),
            Tok::End => "the end of the file".to_string(),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: Pos,
}

/// A syntax error before it is given the file name.
type Syntax<T> = std::result::Result<T, (Pos, String)>;

struct Lexer {
    chars: Vec<char>,
    i: usize,
    pos: Pos,
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer { chars: text.chars().collect(), i: 0, pos: Pos { line: 1, column: 1 } }
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.i + ahead).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_at(0)?;
        self.i += 1;
        if c == '\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else {
            self.pos.column += 1;
        }
        Some(c)
    }

    fn skip_blanks_and_comments(&mut self) {
        while let Some(c) = self.peek_at(0) {
            if c == '#' {
                while self.peek_at(0).is_some_and(|c| c != '\n') {
                    self.bump();
                }
            } else if c.is_whitespace() {
                self.bump();
            } else {
                break;
            }
        }
    }

    fn next(&mut self) -> Syntax<Token> {
        self.skip_blanks_and_comments();
        let pos = self.pos;
        let Some(c) = self.peek_at(0) else {
            return Ok(Token { tok: Tok::End, pos });
        };
        let tok = if c.is_ascii_alphabetic() || c == '_' {
            Tok::Ident(self.take_while(|c, _| c.is_ascii_alphanumeric() || c == '_'))
        } else if c.is_ascii_digit() || (c == '.' && self.peek_at(1).is_some_and(|d| d.is_ascii_digit())) {
            let text = self.take_while(|c, sofar| {
                c.is_ascii_alphanumeric()
                    || c == '.'
                    || ((c == '+' || c == '-')
                        && sofar.ends_with(['e', 'E'])
                        && !sofar.starts_with("0x")
                        && !sofar.starts_with("0X"))
            });
            if !is_number(&text) {
                return Err((pos, format!("'{text}' is not a number")));
            }
            Tok::Number(text)
        } else if c == '"' || c == '\'' {
            Tok::Str(self.string()?)
        } else if "{}<>[]:,;-".contains(c) {
            self.bump();
            Tok::Punct(c)
        } else {
            return Err((pos, format!("unexpected character {c:?}")));
        };
        Ok(Token { tok, pos })
    }

    fn take_while(&mut self, keep: impl Fn(char, &str) -> bool) -> String {
        let mut text = String::new();
        while let Some(c) = self.peek_at(0) {
            if !keep(c, &text) {
                break;
            }
            text.push(c);
            self.bump();
        }
        text
    }

    /// A quoted string with C-style escapes; the result is bytes, as in protobuf (`\xff` is legal).
    fn string(&mut self) -> Syntax<Vec<u8>> {
        let start = self.pos;
        let quote = self.bump().unwrap_or('"');
        let mut out = Vec::new();
        loop {
            let at = self.pos;
            match self.bump() {
                None => return Err((start, "string without its closing quote".to_string())),
                Some('\n') => {
                    return Err((start, "string without its closing quote on the same line".to_string()));
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => self.escape(at, &mut out)?,
                Some(c) => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
    }

    fn escape(&mut self, at: Pos, out: &mut Vec<u8>) -> Syntax<()> {
        let bad = |what: &str| (at, format!("bad escape in string: {what}"));
        let Some(c) = self.bump() else { return Err(bad("'\\' at the end of the file")) };
        let byte = match c {
            'n' => b'\n',
            't' => b'\t',
            'r' => b'\r',
            'a' => 0x07,
            'b' => 0x08,
            'f' => 0x0c,
            'v' => 0x0b,
            '\\' => b'\\',
            '\'' => b'\'',
            '"' => b'"',
            '?' => b'?',
            '0'..='7' => {
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek_at(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.bump();
                        }
                        None => break,
                    }
                }
                u8::try_from(value).map_err(|_| bad("octal escape above \\377"))?
            }
            'x' | 'X' => {
                let digits = self.hex_digits(2);
                if digits.is_empty() {
                    return Err(bad("'\\x' needs hex digits"));
                }
                u8::from_str_radix(&digits, 16).map_err(|_| bad("'\\x' needs hex digits"))?
            }
            'u' | 'U' => {
                let want = if c == 'u' { 4 } else { 8 };
                let digits = self.hex_digits(want);
                let ch = if digits.len() == want {
                    u32::from_str_radix(&digits, 16).ok().and_then(char::from_u32)
                } else {
                    None
                };
                let ch =
                    ch.ok_or_else(|| bad(&format!("'\\{c}' needs {want} hex digits naming a character")))?;
                out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                return Ok(());
            }
            other => return Err(bad(&format!("unknown escape '\\{other}'"))),
        };
        out.push(byte);
        Ok(())
    }

    fn hex_digits(&mut self, at_most: usize) -> String {
        let mut digits = String::new();
        while digits.len() < at_most && self.peek_at(0).is_some_and(|d| d.is_ascii_hexdigit()) {
            digits.push(self.bump().unwrap_or('0'));
        }
        digits
    }
}

/// The text format's number literals: decimal, octal or hex integers and decimal floats with an
/// optional exponent and `f` suffix.
fn is_number(text: &str) -> bool {
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit());
    }
    let body = text.strip_suffix(['f', 'F']).unwrap_or(text);
    let (mantissa, exponent) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let mantissa_ok = digits(whole) && digits(fraction) && !(whole.is_empty() && fraction.is_empty());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['+', '-']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok
}

// ---------------------------------------------------------------------------------------------
// Protobuf text format: the parser

struct Parser<'a> {
    lexer: Lexer,
    peeked: Option<Token>,
    source: &'a str,
}

/// A message being read: how it ends and where it began, for the "missing '}'" message.
struct Open<'n> {
    close: char,
    at: Pos,
    field: &'n str,
}

impl<'a> Parser<'a> {
    fn new(text: &str, source: &'a str) -> Parser<'a> {
        Parser { lexer: Lexer::new(text), peeked: None, source }
    }

    fn fail(&self, pos: Pos, message: impl fmt::Display) -> Error {
        Error::invalid(format!("{}:{}:{}: {message}", self.source, pos.line, pos.column))
    }

    fn next(&mut self) -> Result<Token> {
        match self.peeked.take() {
            Some(token) => Ok(token),
            None => self.lexer.next().map_err(|(pos, message)| self.fail(pos, message)),
        }
    }

    fn peek(&mut self) -> Result<&Tok> {
        if self.peeked.is_none() {
            let token = self.next()?;
            self.peeked = Some(token);
        }
        Ok(&self.peeked.as_ref().expect("just peeked").tok)
    }

    fn document(&mut self) -> Result<Message> {
        self.message(None, 0)
    }

    fn message(&mut self, open: Option<Open<'_>>, depth: usize) -> Result<Message> {
        let mut fields = Vec::new();
        loop {
            let token = self.next()?;
            match token.tok {
                Tok::Ident(name) => {
                    self.field(name, token.pos, &mut fields, depth)?;
                    if matches!(self.peek()?, Tok::Punct(',' | ';')) {
                        self.next()?;
                    }
                }
                Tok::Punct(c) if open.as_ref().is_some_and(|o| o.close == c) => {
                    return Ok(Message { fields });
                }
                Tok::End => {
                    return match open {
                        None => Ok(Message { fields }),
                        Some(o) => Err(self.fail(
                            token.pos,
                            format!(
                                "end of file: missing '{}' to close '{}' opened at line {}",
                                o.close, o.field, o.at.line
                            ),
                        )),
                    };
                }
                Tok::Punct('[') => {
                    return Err(
                        self.fail(token.pos, "extension and Any fields ('[type.name]') are not supported")
                    );
                }
                Tok::Punct(c @ ('}' | '>')) => {
                    let message = match &open {
                        None => format!("unexpected '{c}': no '{{' is open here"),
                        Some(o) => format!(
                            "expected '{}' to close '{}' opened at line {}, found '{c}'",
                            o.close, o.field, o.at.line
                        ),
                    };
                    return Err(self.fail(token.pos, message));
                }
                other => {
                    return Err(
                        self.fail(token.pos, format!("expected a field name, found {}", other.describe()))
                    );
                }
            }
        }
    }

    fn field(&mut self, name: String, pos: Pos, out: &mut Vec<Field>, depth: usize) -> Result<()> {
        let colon = matches!(self.peek()?, Tok::Punct(':'));
        if colon {
            self.next()?;
        }
        let token = self.next()?;
        match token.tok {
            Tok::Punct(open @ ('{' | '<')) => {
                let value = self.nested(&name, open, token.pos, depth)?;
                out.push(Field { name, pos, value });
            }
            Tok::Punct('[') => self.list(&name, colon, token.pos, out, depth)?,
            _ if colon => {
                let value = self.scalar(token, &name)?;
                out.push(Field { name, pos, value });
            }
            other => {
                return Err(self.fail(
                    token.pos,
                    format!("expected ':' or '{{' after '{name}', found {}", other.describe()),
                ));
            }
        }
        Ok(())
    }

    fn nested(&mut self, name: &str, open: char, at: Pos, depth: usize) -> Result<Value> {
        if depth >= MAX_DEPTH {
            return Err(self.fail(at, format!("messages nested more than {MAX_DEPTH} deep")));
        }
        let close = if open == '{' { '}' } else { '>' };
        Ok(Value::Message(self.message(Some(Open { close, at, field: name }), depth + 1)?))
    }

    /// `[a, b]` or `[{…}, {…}]`; a list of values needs the colon, a list of messages does not.
    fn list(&mut self, name: &str, colon: bool, at: Pos, out: &mut Vec<Field>, depth: usize) -> Result<()> {
        if matches!(self.peek()?, Tok::Punct(']')) {
            self.next()?;
            return Ok(());
        }
        loop {
            let token = self.next()?;
            let pos = token.pos;
            let value = match token.tok {
                Tok::Punct(open @ ('{' | '<')) => self.nested(name, open, pos, depth)?,
                Tok::End => {
                    return Err(self.fail(
                        pos,
                        format!(
                            "end of file: missing ']' to close the list '{name}' opened at line {}",
                            at.line
                        ),
                    ));
                }
                _ if !colon => {
                    return Err(
                        self.fail(pos, format!("expected ':' between '{name}' and its list of values"))
                    );
                }
                _ => self.scalar(token, name)?,
            };
            out.push(Field { name: name.to_string(), pos, value });
            let separator = self.next()?;
            match separator.tok {
                Tok::Punct(',') => {}
                Tok::Punct(']') => return Ok(()),
                other => {
                    return Err(self.fail(
                        separator.pos,
                        format!(
                            "expected ',' or ']' in the list '{name}' opened at line {}, found {}",
                            at.line,
                            other.describe()
                        ),
                    ));
                }
            }
        }
    }

    fn scalar(&mut self, token: Token, name: &str) -> Result<Value> {
        match token.tok {
            Tok::Number(n) => Ok(Value::Number(n)),
            Tok::Ident(i) => Ok(Value::Ident(i)),
            Tok::Str(mut bytes) => {
                // Adjacent strings are one string, as in C.
                while matches!(self.peek()?, Tok::Str(_)) {
                    if let Tok::Str(more) = self.next()?.tok {
                        bytes.extend_from_slice(&more);
                    }
                }
                String::from_utf8(bytes)
                    .map(Value::Str)
                    .map_err(|_| self.fail(token.pos, format!("{name}: the string is not valid UTF-8")))
            }
            Tok::Punct('-') => {
                let next = self.next()?;
                match next.tok {
                    Tok::Number(n) => Ok(Value::Number(format!("-{n}"))),
                    Tok::Ident(i)
                        if ["inf", "infinity", "nan"].contains(&i.to_ascii_lowercase().as_str()) =>
                    {
                        Ok(Value::Ident(format!("-{i}")))
                    }
                    other => Err(self
                        .fail(next.pos, format!("expected a number after '-', found {}", other.describe()))),
                }
            }
            other => {
                Err(self
                    .fail(token.pos, format!("expected a value for '{name}', found {}", other.describe())))
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// ModelConfig fields → ModelSettings

/// Triton's `DataType` enum, indexed by its protobuf number.
const DATA_TYPES: &[&str] = &[
    "TYPE_INVALID",
    "TYPE_BOOL",
    "TYPE_UINT8",
    "TYPE_UINT16",
    "TYPE_UINT32",
    "TYPE_UINT64",
    "TYPE_INT8",
    "TYPE_INT16",
    "TYPE_INT32",
    "TYPE_INT64",
    "TYPE_FP16",
    "TYPE_FP32",
    "TYPE_FP64",
    "TYPE_STRING",
    "TYPE_BF16",
];
/// `ModelInstanceGroup.Kind`, indexed by its protobuf number.
const INSTANCE_KINDS: &[&str] = &["KIND_AUTO", "KIND_GPU", "KIND_CPU", "KIND_MODEL"];
/// `ModelQueuePolicy.TimeoutAction`, indexed by its protobuf number.
const TIMEOUT_ACTIONS: &[&str] = &["REJECT", "DELAY"];
const INT32_MAX: i128 = i32::MAX as i128;
const UINT32_MAX: i128 = u32::MAX as i128;
const INT64_MAX: i128 = i64::MAX as i128;
const UINT64_MAX: i128 = u64::MAX as i128;

/// One `input` or `output` entry.
struct TensorDecl {
    name: String,
    datatype: DataType,
    dims: Vec<i64>,
}

/// `dynamic_batching`, with where each preferred size was written (checked against
/// `max_batch_size`, which may come later in the file).
#[derive(Default)]
struct DynamicBatching {
    preferred: Vec<(usize, Pos)>,
    max_queue_delay_us: u64,
    max_queue_size: usize,
    timeout_us: u64,
}

/// Reads typed values out of the tree; every error names the file, line, column and field path.
struct Reader<'a> {
    source: &'a str,
}

/// Singular fields seen so far in one message: protobuf refuses a singular field given twice.
#[derive(Default)]
struct Seen(Vec<String>);

fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") }
}

impl Reader<'_> {
    fn fail_at(&self, pos: Pos, path: &str, message: impl fmt::Display) -> Error {
        Error::invalid(format!("{}:{}:{}: {path}: {message}", self.source, pos.line, pos.column))
    }

    fn fail(&self, field: &Field, path: &str, message: impl fmt::Display) -> Error {
        self.fail_at(field.pos, path, message)
    }

    fn ignored(&self, field: &Field, path: &str) {
        tracing::debug!(
            file = self.source,
            line = field.pos.line,
            field = path,
            "config.pbtxt field not used by oxserve; ignored"
        );
    }

    fn once(&self, seen: &mut Seen, field: &Field, path: &str) -> Result<()> {
        if seen.0.contains(&field.name) {
            return Err(self.fail(field, path, "given twice, and it is not a repeated field"));
        }
        seen.0.push(field.name.clone());
        Ok(())
    }

    fn string(&self, field: &Field, path: &str) -> Result<String> {
        match &field.value {
            Value::Str(s) => Ok(s.clone()),
            other => {
                Err(self.fail(field, path, format!("expected a quoted string, found {}", other.describe())))
            }
        }
    }

    /// An integer in `min..=max` (the field's protobuf type), written in decimal, hex or octal.
    fn integer(&self, field: &Field, path: &str, min: i128, max: i128) -> Result<i128> {
        let Value::Number(text) = &field.value else {
            return Err(self.fail(
                field,
                path,
                format!("expected an integer, found {}", field.value.describe()),
            ));
        };
        let (negative, digits) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text.as_str()),
        };
        let parsed = if let Some(hex) = digits.strip_prefix("0x").or_else(|| digits.strip_prefix("0X")) {
            i128::from_str_radix(hex, 16)
        } else if digits.len() > 1 && digits.starts_with('0') {
            i128::from_str_radix(&digits[1..], 8)
        } else {
            digits.parse::<i128>()
        };
        let value = parsed
            .map(|v| if negative { -v } else { v })
            .map_err(|_| self.fail(field, path, format!("expected an integer, found {text}")))?;
        if value < min || value > max {
            return Err(self.fail(field, path, format!("{value} is out of range ({min} to {max})")));
        }
        Ok(value)
    }

    fn boolean(&self, field: &Field, path: &str) -> Result<bool> {
        match &field.value {
            Value::Ident(i) if ["true", "True", "t"].contains(&i.as_str()) => Ok(true),
            Value::Ident(i) if ["false", "False", "f"].contains(&i.as_str()) => Ok(false),
            Value::Number(n) if n == "1" => Ok(true),
            Value::Number(n) if n == "0" => Ok(false),
            other => {
                Err(self.fail(field, path, format!("expected true or false, found {}", other.describe())))
            }
        }
    }

    /// An enum value by name (or, as protobuf allows, by number); `values` is indexed by number.
    fn enumeration(&self, field: &Field, path: &str, values: &[&'static str]) -> Result<&'static str> {
        let found = match &field.value {
            Value::Ident(i) => values.iter().find(|v| **v == i.as_str()).copied(),
            Value::Number(n) => n.parse::<usize>().ok().and_then(|n| values.get(n).copied()),
            _ => None,
        };
        found.ok_or_else(|| {
            self.fail(
                field,
                path,
                format!("unknown value {}; expected one of {}", field.value.describe(), values.join(", ")),
            )
        })
    }

    fn message<'m>(&self, field: &'m Field, path: &str) -> Result<&'m Message> {
        match &field.value {
            Value::Message(m) => Ok(m),
            other => {
                let found = other.describe();
                Err(self.fail(field, path, format!("expected a message {{ … }}, found {found}")))
            }
        }
    }

    fn model_config(&self, config: &Message, folder_name: &str) -> Result<TritonConfig> {
        let mut seen = Seen::default();
        let mut name = None;
        let mut platform: Option<(String, &Field)> = None;
        let mut backend: Option<(String, &Field)> = None;
        let mut max_batch_size: Option<(usize, &Field)> = None;
        let mut inputs: Vec<TensorDecl> = Vec::new();
        let mut outputs: Vec<TensorDecl> = Vec::new();
        let mut dynamic: Option<DynamicBatching> = None;
        let mut instances: Option<usize> = None;
        let mut version_policy = VersionPolicy::default();
        let mut model_filename = DEFAULT_MODEL_FILENAME.to_string();
        let mut extra = serde_json::Map::new();

        for field in &config.fields {
            let path = field.name.as_str();
            match path {
                "name" => {
                    self.once(&mut seen, field, path)?;
                    let given = self.string(field, path)?;
                    // Triton fills in a missing name, and refuses one that differs from the folder.
                    if given != folder_name {
                        return Err(self.fail(
                            field,
                            path,
                            format!(
                                "'{given}' differs from the model folder's name '{folder_name}' \
                                 (Triton requires them to be equal)"
                            ),
                        ));
                    }
                    name = Some(given);
                }
                "platform" => {
                    self.once(&mut seen, field, path)?;
                    platform = Some((self.string(field, path)?, field));
                }
                "backend" => {
                    self.once(&mut seen, field, path)?;
                    backend = Some((self.string(field, path)?, field));
                }
                "max_batch_size" => {
                    self.once(&mut seen, field, path)?;
                    max_batch_size = Some((self.integer(field, path, 0, INT32_MAX)? as usize, field));
                }
                "input" => {
                    let path = format!("input[{}]", inputs.len());
                    let decl = self.tensor(field, &path)?;
                    if inputs.iter().any(|i| i.name == decl.name) {
                        return Err(self.fail(
                            field,
                            &path,
                            format!("input '{}' is declared twice", decl.name),
                        ));
                    }
                    inputs.push(decl);
                }
                "output" => {
                    let path = format!("output[{}]", outputs.len());
                    let decl = self.tensor(field, &path)?;
                    if outputs.iter().any(|o| o.name == decl.name) {
                        return Err(self.fail(
                            field,
                            &path,
                            format!("output '{}' is declared twice", decl.name),
                        ));
                    }
                    outputs.push(decl);
                }
                "dynamic_batching" => {
                    self.once(&mut seen, field, path)?;
                    dynamic = Some(self.dynamic_batching(field, path)?);
                }
                "instance_group" => {
                    let count = self.instance_group(field, "instance_group")?;
                    instances = Some(instances.unwrap_or(0).saturating_add(count));
                }
                "version_policy" => {
                    self.once(&mut seen, field, path)?;
                    version_policy = self.version_policy(field, path)?;
                }
                "default_model_filename" => {
                    self.once(&mut seen, field, path)?;
                    model_filename = self.model_filename(field, path)?;
                }
                "parameters" => {
                    let (key, value) = self.parameter(field, path)?;
                    // The ONNX Runtime backend's thread setting is ours under another name.
                    if key == "intra_op_thread_count" {
                        extra.insert("intra_op_threads".to_string(), value.clone().into());
                    }
                    extra.insert(key, value.into());
                }
                "sequence_batching" => {
                    return Err(self.fail(
                        field,
                        path,
                        "stateful (sequence) models are not supported by oxserve",
                    ));
                }
                "ensemble_scheduling" => {
                    return Err(self.fail(
                        field,
                        path,
                        "ensembles are not supported here; serve the models and chain them with an oxserve \
                         graph",
                    ));
                }
                "batch_input" | "batch_output" => {
                    return Err(self.fail(
                        field,
                        path,
                        "ragged batching (batch_input / batch_output) is not supported",
                    ));
                }
                "model_transaction_policy" => self.transaction_policy(field, path)?,
                _ => self.ignored(field, path),
            }
        }

        for (given, path, ours) in
            [(&platform, "platform", ONNX_PLATFORM), (&backend, "backend", ONNX_BACKEND)]
        {
            if let Some((value, field)) = given
                && value != ours
            {
                return Err(self.fail(
                    field,
                    path,
                    format!(
                        "'{value}' is not available: this build of oxserve serves ONNX models \
                         (platform \"{ONNX_PLATFORM}\" or backend \"{ONNX_BACKEND}\")"
                    ),
                ));
            }
        }

        let max_batch_size = max_batch_size.map_or(0, |(n, _)| n);
        if let Some(dynamic) = &dynamic {
            for (size, pos) in &dynamic.preferred {
                if *size > max_batch_size {
                    return Err(self.fail_at(
                        *pos,
                        "dynamic_batching.preferred_batch_size",
                        format!("{size} is larger than max_batch_size ({max_batch_size})"),
                    ));
                }
            }
        }

        // With max_batch_size > 0 the first dimension of every tensor is the batch, which `dims`
        // leaves out. Without dynamic_batching Triton still takes client batches up to that size
        // but never combines requests, so oxserve's batcher stays off.
        let spec = |decl: TensorDecl| TensorSpec {
            name: decl.name,
            datatype: decl.datatype,
            shape: if max_batch_size > 0 { [-1].into_iter().chain(decl.dims).collect() } else { decl.dims },
        };
        // The batcher forms batches only when the model has a batch dimension; Triton's queue
        // policy applies either way.
        let batching = dynamic.as_ref().filter(|_| max_batch_size > 0);
        let settings = ModelSettings {
            name: Some(name.unwrap_or_else(|| folder_name.to_string())),
            implementation: Some("onnx".to_string()),
            parameters: SettingsParameters { uri: None, version: None, extra },
            max_batch_size: if batching.is_some() { max_batch_size } else { 0 },
            max_batch_time: batching.map_or(0.0, |d| d.max_queue_delay_us as f64 / 1e6),
            preferred_batch_sizes: batching
                .map_or_else(Vec::new, |d| d.preferred.iter().map(|(s, _)| *s).collect()),
            max_queue_size: dynamic.as_ref().map_or(0, |d| d.max_queue_size),
            timeout: dynamic.as_ref().map_or(0.0, |d| d.timeout_us as f64 / 1e6),
            instances: Some(instances.unwrap_or(1)),
            platform: Some(ONNX_PLATFORM.to_string()),
            versions: Vec::new(),
            inputs: inputs.into_iter().map(spec).collect(),
            outputs: outputs.into_iter().map(spec).collect(),
        };
        Ok(TritonConfig { settings, version_policy, model_filename })
    }

    fn tensor(&self, field: &Field, path: &str) -> Result<TensorDecl> {
        let message = self.message(field, path)?;
        let mut seen = Seen::default();
        let mut name = None;
        let mut datatype = None;
        let mut dims = Vec::new();
        for f in &message.fields {
            let path = join(path, &f.name);
            match f.name.as_str() {
                "name" => {
                    self.once(&mut seen, f, &path)?;
                    name = Some(self.string(f, &path)?);
                }
                "data_type" => {
                    self.once(&mut seen, f, &path)?;
                    datatype = Some(match self.enumeration(f, &path, DATA_TYPES)? {
                        "TYPE_INVALID" => return Err(self.fail(f, &path, "TYPE_INVALID is not a datatype")),
                        "TYPE_STRING" => DataType::Bytes,
                        other => DataType::parse(&other["TYPE_".len()..])
                            .ok_or_else(|| self.fail(f, &path, format!("{other} has no V2 datatype")))?,
                    });
                }
                "dims" => {
                    let dim = self.integer(f, &path, -1, INT64_MAX)?;
                    dims.push(dim as i64);
                }
                "reshape" => {
                    return Err(self.fail(
                        f,
                        &path,
                        "reshape is not supported; write the model's own shape in dims and leave reshape out",
                    ));
                }
                "optional" => {
                    if self.boolean(f, &path)? {
                        tracing::warn!(
                            file = self.source,
                            line = f.pos.line,
                            field = path,
                            "optional inputs are not supported: requests must carry this input"
                        );
                    }
                }
                _ => self.ignored(f, &path),
            }
        }
        let name = name.ok_or_else(|| self.fail(field, path, "has no name"))?;
        if name.is_empty() {
            return Err(self.fail(field, path, "name is empty"));
        }
        let datatype =
            datatype.ok_or_else(|| self.fail(field, path, format!("'{name}' has no data_type")))?;
        Ok(TensorDecl { name, datatype, dims })
    }

    fn dynamic_batching(&self, field: &Field, path: &str) -> Result<DynamicBatching> {
        let message = self.message(field, path)?;
        let mut seen = Seen::default();
        let mut batching = DynamicBatching::default();
        for f in &message.fields {
            let path = join(path, &f.name);
            match f.name.as_str() {
                "preferred_batch_size" => {
                    let size = self.integer(f, &path, 1, INT32_MAX)?;
                    batching.preferred.push((size as usize, f.pos));
                }
                "max_queue_delay_microseconds" => {
                    self.once(&mut seen, f, &path)?;
                    batching.max_queue_delay_us = self.integer(f, &path, 0, UINT64_MAX)? as u64;
                }
                "default_queue_policy" => {
                    self.once(&mut seen, f, &path)?;
                    self.queue_policy(f, &path, &mut batching)?;
                }
                "priority_levels" => {
                    if self.integer(f, &path, 0, UINT64_MAX)? > 1 {
                        tracing::warn!(
                            file = self.source,
                            line = f.pos.line,
                            "request priorities are not supported: all requests share one queue"
                        );
                    }
                }
                _ => self.ignored(f, &path),
            }
        }
        Ok(batching)
    }

    fn queue_policy(&self, field: &Field, path: &str, batching: &mut DynamicBatching) -> Result<()> {
        let message = self.message(field, path)?;
        let mut seen = Seen::default();
        for f in &message.fields {
            let path = join(path, &f.name);
            match f.name.as_str() {
                "max_queue_size" => {
                    self.once(&mut seen, f, &path)?;
                    batching.max_queue_size = self.integer(f, &path, 0, UINT32_MAX)? as usize;
                }
                "default_timeout_microseconds" => {
                    self.once(&mut seen, f, &path)?;
                    batching.timeout_us = self.integer(f, &path, 0, UINT64_MAX)? as u64;
                }
                "timeout_action" => {
                    self.once(&mut seen, f, &path)?;
                    if self.enumeration(f, &path, TIMEOUT_ACTIONS)? == "DELAY" {
                        tracing::warn!(
                            file = self.source,
                            line = f.pos.line,
                            "timeout_action DELAY is not supported: a request past its timeout is refused \
                             (REJECT)"
                        );
                    }
                }
                _ => self.ignored(f, &path),
            }
        }
        Ok(())
    }

    /// The group's `count` (Triton makes a count below 1 into 1).
    fn instance_group(&self, field: &Field, path: &str) -> Result<usize> {
        let message = self.message(field, path)?;
        let mut seen = Seen::default();
        let mut count = 1;
        for f in &message.fields {
            let path = join(path, &f.name);
            match f.name.as_str() {
                "count" => {
                    self.once(&mut seen, f, &path)?;
                    count = self.integer(f, &path, i32::MIN.into(), INT32_MAX)?.max(1) as usize;
                }
                "kind" => {
                    self.once(&mut seen, f, &path)?;
                    if self.enumeration(f, &path, INSTANCE_KINDS)? == "KIND_GPU" {
                        tracing::warn!(
                            file = self.source,
                            line = f.pos.line,
                            "instance_group kind KIND_GPU: this build runs ONNX models on the CPU"
                        );
                    }
                }
                _ => self.ignored(f, &path),
            }
        }
        Ok(count)
    }

    fn version_policy(&self, field: &Field, path: &str) -> Result<VersionPolicy> {
        let message = self.message(field, path)?;
        let mut policy = None;
        for f in &message.fields {
            let path = join(path, &f.name);
            let chosen = match f.name.as_str() {
                "latest" => {
                    let mut num_versions = 1;
                    for g in &self.message(f, &path)?.fields {
                        let path = join(&path, &g.name);
                        match g.name.as_str() {
                            "num_versions" => num_versions = self.integer(g, &path, 1, UINT32_MAX)? as u32,
                            _ => self.ignored(g, &path),
                        }
                    }
                    VersionPolicy::Latest { num_versions }
                }
                "all" => {
                    for g in &self.message(f, &path)?.fields {
                        self.ignored(g, &join(&path, &g.name));
                    }
                    VersionPolicy::All
                }
                "specific" => {
                    let mut versions = Vec::new();
                    for g in &self.message(f, &path)?.fields {
                        let path = join(&path, &g.name);
                        match g.name.as_str() {
                            "versions" => versions.push(self.integer(g, &path, 0, INT64_MAX)? as u64),
                            _ => self.ignored(g, &path),
                        }
                    }
                    VersionPolicy::Specific { versions }
                }
                _ => {
                    self.ignored(f, &path);
                    continue;
                }
            };
            if policy.is_some() {
                return Err(self.fail(f, &path, "give only one of latest, all and specific"));
            }
            policy = Some(chosen);
        }
        Ok(policy.unwrap_or_default())
    }

    fn model_filename(&self, field: &Field, path: &str) -> Result<String> {
        let name = self.string(field, path)?;
        let relative = Path::new(&name);
        let inside =
            !name.is_empty() && relative.components().all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside {
            return Err(self.fail(
                field,
                path,
                format!("'{name}' must be a file name inside the version folder"),
            ));
        }
        Ok(name)
    }

    /// One `parameters { key: "…" value { string_value: "…" } }` map entry.
    fn parameter(&self, field: &Field, path: &str) -> Result<(String, String)> {
        let message = self.message(field, path)?;
        let mut key = None;
        let mut value = None;
        for f in &message.fields {
            let path = join(path, &f.name);
            match f.name.as_str() {
                "key" => key = Some(self.string(f, &path)?),
                "value" => {
                    for g in &self.message(f, &path)?.fields {
                        let path = join(&path, &g.name);
                        match g.name.as_str() {
                            "string_value" => value = Some(self.string(g, &path)?),
                            _ => self.ignored(g, &path),
                        }
                    }
                }
                _ => self.ignored(f, &path),
            }
        }
        let key = key.ok_or_else(|| self.fail(field, path, "map entry without a key"))?;
        Ok((key, value.unwrap_or_default()))
    }

    fn transaction_policy(&self, field: &Field, path: &str) -> Result<()> {
        for f in &self.message(field, path)?.fields {
            let path = join(path, &f.name);
            match f.name.as_str() {
                "decoupled" if self.boolean(f, &path)? => {
                    return Err(self.fail(
                        f,
                        &path,
                        "decoupled models (many responses per request) are not supported",
                    ));
                }
                "decoupled" => {}
                _ => self.ignored(f, &path),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TritonConfig> {
        TritonConfig::parse(text, "m/config.pbtxt", "m")
    }

    fn settings(text: &str) -> ModelSettings {
        parse(text).unwrap_or_else(|e| panic!("{}", e.message)).settings
    }

    /// The error message for `text`, which must fail.
    fn error(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("parsed, but should have failed: {config:?}"),
            Err(e) => e.message,
        }
    }

    fn spec(name: &str, datatype: DataType, shape: &[i64]) -> TensorSpec {
        TensorSpec { name: name.into(), datatype, shape: shape.to_vec() }
    }

    /// An image classifier laid out as in Triton's quick-start repository (its reshape left
    /// out), with the optional blocks real configs carry.
    #[test]
    fn reads_a_classifier_config_without_batching() {
        let s = settings(
            r#"
            # A DenseNet-style classifier exported to ONNX.
            name: "m"
            platform: "onnxruntime_onnx"
            max_batch_size : 0
            input [
              {
                name: "data_0"
                data_type: TYPE_FP32
                format: FORMAT_NCHW
                dims: [ 1, 3, 224, 224 ]
              }
            ]
            output [
              {
                name: "fc6_1"
                data_type: TYPE_FP32
                dims: [ 1, 1000, 1, 1 ]
                label_filename: "labels.txt"
              }
            ]
            optimization { execution_accelerators { cpu_execution_accelerator : [ { name : "openvino" } ] } }
            model_warmup [{ name: "w", batch_size: 1, inputs { key: "data_0" value { data_type: TYPE_FP32, dims: [1], zero_data: true } } }]
            "#,
        );
        assert_eq!(s.name.as_deref(), Some("m"));
        assert_eq!(s.implementation.as_deref(), Some("onnx"));
        assert_eq!(s.max_batch_size, 0);
        assert_eq!(s.instances, Some(1));
        assert_eq!(s.inputs, vec![spec("data_0", DataType::Fp32, &[1, 3, 224, 224])]);
        assert_eq!(s.outputs, vec![spec("fc6_1", DataType::Fp32, &[1, 1000, 1, 1])]);
        assert_eq!(s.parameters.uri, None);
    }

    /// Two inputs and two outputs with a batch dimension, a dynamic batcher with every field we
    /// map, two instance groups and a backend parameter.
    #[test]
    fn reads_a_batching_config() {
        let config = parse(
            r#"
            name: "m"
            backend: "onnxruntime"
            max_batch_size: 8
            input [
              { name: "INPUT0", data_type: TYPE_INT32, dims: [ 16 ] },
              { name: "INPUT1", data_type: TYPE_INT32, dims: [ 16 ] }
            ]
            output { name: "OUTPUT0" data_type: TYPE_INT32 dims: 16 }
            output { name: "OUTPUT1" data_type: TYPE_STRING dims: [ -1 ] }
            dynamic_batching {
              preferred_batch_size: [ 4, 8 ]
              max_queue_delay_microseconds: 2500
              preserve_ordering: true
              default_queue_policy { timeout_action: REJECT, default_timeout_microseconds: 1500000, max_queue_size: 64 }
            }
            instance_group [ { count: 2, kind: KIND_CPU }, { kind: KIND_GPU, gpus: [0] } ]
            parameters { key: "intra_op_thread_count" value: { string_value: "2" } }
            parameters [ { key: "enable_mem_arena", value { string_value: "1" } } ]
            "#,
        )
        .unwrap();
        let s = config.settings;
        assert_eq!(s.max_batch_size, 8);
        assert_eq!(s.preferred_batch_sizes, vec![4, 8]);
        assert!((s.max_batch_time - 0.0025).abs() < 1e-12);
        assert_eq!(s.max_queue_size, 64);
        assert!((s.timeout - 1.5).abs() < 1e-12);
        assert_eq!(s.instances, Some(3));
        assert_eq!(
            s.inputs,
            vec![spec("INPUT0", DataType::Int32, &[-1, 16]), spec("INPUT1", DataType::Int32, &[-1, 16])]
        );
        assert_eq!(
            s.outputs,
            vec![spec("OUTPUT0", DataType::Int32, &[-1, 16]), spec("OUTPUT1", DataType::Bytes, &[-1, -1])]
        );
        assert_eq!(s.parameters.extra["intra_op_threads"], "2");
        assert_eq!(s.parameters.extra["intra_op_thread_count"], "2");
        assert_eq!(s.parameters.extra["enable_mem_arena"], "1");
        assert_eq!(config.version_policy, VersionPolicy::Latest { num_versions: 1 });
        assert_eq!(config.model_filename, "model.onnx");
    }

    #[test]
    fn max_batch_size_without_dynamic_batching_keeps_the_batch_dimension_but_not_the_batcher() {
        let s = settings(r#"max_batch_size: 4 input { name: "x" data_type: TYPE_FP32 dims: [3] }"#);
        assert_eq!(s.max_batch_size, 0);
        assert_eq!(s.inputs, vec![spec("x", DataType::Fp32, &[-1, 3])]);
        assert_eq!(s.max_batch_time, 0.0);
    }

    #[test]
    fn dynamic_batching_without_a_batch_dimension_batches_nothing() {
        let s = settings(
            "max_batch_size: 0
             dynamic_batching { max_queue_delay_microseconds: 100 default_queue_policy { max_queue_size: 3 } }",
        );
        assert_eq!(s.max_batch_size, 0);
        assert_eq!(s.max_batch_time, 0.0);
        assert_eq!(s.max_queue_size, 3, "the queue policy applies without batching too");
    }

    #[test]
    fn an_empty_config_is_onnx_with_defaults() {
        let config = parse("# nothing but a comment\n").unwrap();
        assert_eq!(config.settings.name.as_deref(), Some("m"));
        assert_eq!(config.settings.instances, Some(1));
        assert!(config.settings.inputs.is_empty());
        assert_eq!(config.version_policy, VersionPolicy::default());
        let auto = TritonConfig::auto_complete("m");
        assert_eq!(auto.settings.name.as_deref(), Some("m"));
        assert_eq!(auto.model_filename, "model.onnx");
    }

    #[test]
    fn every_triton_datatype_maps_to_v2() {
        let expected = [
            ("TYPE_BOOL", DataType::Bool),
            ("TYPE_UINT8", DataType::Uint8),
            ("TYPE_UINT16", DataType::Uint16),
            ("TYPE_UINT32", DataType::Uint32),
            ("TYPE_UINT64", DataType::Uint64),
            ("TYPE_INT8", DataType::Int8),
            ("TYPE_INT16", DataType::Int16),
            ("TYPE_INT32", DataType::Int32),
            ("TYPE_INT64", DataType::Int64),
            ("TYPE_FP16", DataType::Fp16),
            ("TYPE_FP32", DataType::Fp32),
            ("TYPE_FP64", DataType::Fp64),
            ("TYPE_STRING", DataType::Bytes),
            ("TYPE_BF16", DataType::Bf16),
        ];
        for (i, (name, datatype)) in expected.into_iter().enumerate() {
            let by_name = settings(&format!("input {{ name: 'x' data_type: {name} dims: 1 }}"));
            assert_eq!(by_name.inputs[0].datatype, datatype, "{name}");
            // Protobuf also accepts an enum's number.
            let by_number = settings(&format!("input {{ name: 'x' data_type: {} dims: 1 }}", i + 1));
            assert_eq!(by_number.inputs[0].datatype, datatype, "{name} as {}", i + 1);
        }
    }

    #[test]
    fn reads_the_text_format_in_all_its_spellings() {
        let s = settings(
            "name: 'm';  # single quotes, ';' separator
             max_batch_size: 0x10,
             input: { name: \"a\" \"b\\x63\\144\\u00e9\\n\\t\\\\\\\"\\'\" data_type: TYPE_FP32 dims: [-1, 0x2, 010] }
             input < name: 'z' data_type: TYPE_INT64 dims: [] >
             input: [ { name: 'y' data_type: TYPE_FP32 } ]
             dynamic_batching: { }
             instance_group { count: 0 }
             some_future_field: -inf
             other: 1.5e-3f
             flag: true",
        );
        assert_eq!(s.inputs[0].name, "abcdé\n\t\\\"'");
        assert_eq!(s.inputs[0].shape, vec![-1, -1, 2, 8]);
        assert_eq!(s.inputs[1].shape, vec![-1]);
        assert_eq!(s.inputs[2].shape, vec![-1]);
        assert_eq!(s.max_batch_size, 16);
        assert_eq!(s.instances, Some(1), "a count below 1 counts as 1, as in Triton");
    }

    #[test]
    fn version_policies() {
        let policy = |text: &str| parse(text).unwrap().version_policy;
        assert_eq!(policy("version_policy {}"), VersionPolicy::Latest { num_versions: 1 });
        assert_eq!(
            policy("version_policy: { latest: { num_versions: 2 } }"),
            VersionPolicy::Latest { num_versions: 2 }
        );
        assert_eq!(policy("version_policy: { all { } }"), VersionPolicy::All);
        assert_eq!(
            policy("version_policy: { specific { versions: [1, 3] } }"),
            VersionPolicy::Specific { versions: vec![1, 3] }
        );

        let present = [10, 2, 1, 3];
        assert_eq!(VersionPolicy::default().select(&present), vec![10]);
        assert_eq!(VersionPolicy::Latest { num_versions: 2 }.select(&present), vec![3, 10]);
        assert_eq!(VersionPolicy::Latest { num_versions: 9 }.select(&present), vec![1, 2, 3, 10]);
        assert_eq!(VersionPolicy::All.select(&present), vec![1, 2, 3, 10]);
        assert_eq!(VersionPolicy::Specific { versions: vec![3, 5] }.select(&present), vec![3]);
        assert!(VersionPolicy::default().select(&[]).is_empty());
        assert_eq!(
            VersionPolicy::Specific { versions: vec![1, 3] }.to_string(),
            "specific { versions: [1, 3] }"
        );
    }

    #[test]
    fn default_model_filename() {
        assert_eq!(parse("default_model_filename: 'net.onnx'").unwrap().model_filename, "net.onnx");
        assert_eq!(parse("default_model_filename: 'dir/net.onnx'").unwrap().model_filename, "dir/net.onnx");
        for bad in ["", "/abs.onnx", "../up.onnx", "a/../../b.onnx"] {
            let message = error(&format!("default_model_filename: '{bad}'"));
            assert!(message.contains("m/config.pbtxt:1:1: default_model_filename:"), "{message}");
        }
    }

    /// Each syntax error names the file, line and column, and what was expected.
    #[test]
    fn syntax_errors() {
        let cases: &[(&str, &str)] = &[
            ("name: 'm", "m/config.pbtxt:1:7: string without its closing quote"),
            ("name: \"m\n\"", "m/config.pbtxt:1:7: string without its closing quote on the same line"),
            ("name: 'a\\qb'", "m/config.pbtxt:1:9: bad escape in string: unknown escape '\\q'"),
            ("name: '\\400'", "m/config.pbtxt:1:8: bad escape in string: octal escape above \\377"),
            ("name: '\\x'", "'\\x' needs hex digits"),
            ("name: '\\u12'", "'\\u' needs 4 hex digits"),
            ("name: '\\ud800'", "'\\u' needs 4 hex digits naming a character"),
            ("name: '\\xff'", "m/config.pbtxt:1:7: name: the string is not valid UTF-8"),
            (
                "dynamic_batching {\n  max_queue_delay_microseconds: 5\n",
                "m/config.pbtxt:3:1: end of file: missing '}' to close 'dynamic_batching' opened at line 1",
            ),
            (
                "input < name: 'x' }",
                "m/config.pbtxt:1:19: expected '>' to close 'input' opened at line 1, found '}'",
            ),
            ("name: 'm'\n}", "m/config.pbtxt:2:1: unexpected '}': no '{' is open here"),
            (
                "max_batch_size 8",
                "m/config.pbtxt:1:16: expected ':' or '{' after 'max_batch_size', found the number 8",
            ),
            ("dims [1, 2]", "m/config.pbtxt:1:7: expected ':' between 'dims' and its list of values"),
            ("dims: [1 2]", "m/config.pbtxt:1:10: expected ',' or ']' in the list 'dims' opened at line 1"),
            ("dims: [1,", "m/config.pbtxt:1:10: end of file: missing ']' to close the list 'dims'"),
            ("max_batch_size: 8x", "m/config.pbtxt:1:17: '8x' is not a number"),
            ("max_batch_size: 1e", "'1e' is not a number"),
            ("max_batch_size: 0xg", "'0xg' is not a number"),
            ("max_batch_size: $", "m/config.pbtxt:1:17: unexpected character '$'"),
            ("max_batch_size: - x", "m/config.pbtxt:1:19: expected a number after '-', found 'x'"),
            ("max_batch_size: }", "m/config.pbtxt:1:17: expected a value for 'max_batch_size', found '}'"),
            ("[ext.field]: 1", "m/config.pbtxt:1:1: extension and Any fields"),
            ("5: 1", "m/config.pbtxt:1:1: expected a field name, found the number 5"),
        ];
        for (text, needle) in cases {
            let message = error(text);
            assert!(message.contains(needle), "{text:?}: {message:?} lacks {needle:?}");
        }
        let deep = "a {".repeat(MAX_DEPTH + 1) + &"}".repeat(MAX_DEPTH + 1);
        assert!(error(&deep).contains(&format!("nested more than {MAX_DEPTH} deep")));
    }

    /// Each field error names the file, line, column and the field's path.
    #[test]
    fn field_errors() {
        let cases: &[(&str, &str)] = &[
            ("name: 'other'", "m/config.pbtxt:1:1: name: 'other' differs from the model folder's name 'm'"),
            ("name: m", "m/config.pbtxt:1:1: name: expected a quoted string, found 'm'"),
            ("name: 'm'\nname: 'm'", "m/config.pbtxt:2:1: name: given twice"),
            ("platform: 'tensorrt_plan'", "m/config.pbtxt:1:1: platform: 'tensorrt_plan' is not available"),
            (
                "backend: 'python'",
                "backend: 'python' is not available: this build of oxserve serves ONNX models",
            ),
            ("platform: 'onnxruntime_onnx'\nbackend: 'pytorch'", "m/config.pbtxt:2:1: backend: 'pytorch'"),
            ("max_batch_size: -1", "max_batch_size: -1 is out of range (0 to 2147483647)"),
            ("max_batch_size: 2147483648", "max_batch_size: 2147483648 is out of range"),
            ("max_batch_size: 1.5", "max_batch_size: expected an integer, found 1.5"),
            ("max_batch_size: 09", "max_batch_size: expected an integer, found 09"),
            ("max_batch_size: '8'", "max_batch_size: expected an integer, found the string \"8\""),
            ("max_batch_size { }", "max_batch_size: expected an integer, found a message"),
            ("input: 'x'", "m/config.pbtxt:1:1: input[0]: expected a message { … }, found the string \"x\""),
            ("input {\n  data_type: TYPE_FP32\n}", "m/config.pbtxt:1:1: input[0]: has no name"),
            ("input { name: '' data_type: TYPE_FP32 }", "input[0]: name is empty"),
            ("input { name: 'x' dims: 1 }", "input[0]: 'x' has no data_type"),
            (
                "input { name: 'x' data_type: TYPE_FP32 }\ninput {\n  name: 'y'\n  data_type: TYPE_FP23\n}",
                "m/config.pbtxt:4:3: input[1].data_type: unknown value 'TYPE_FP23'; expected one of TYPE_INVALID, TYPE_BOOL",
            ),
            ("output { name: 'x' data_type: 15 }", "output[0].data_type: unknown value the number 15"),
            (
                "output { name: 'x' data_type: TYPE_INVALID }",
                "output[0].data_type: TYPE_INVALID is not a datatype",
            ),
            (
                "output { name: 'x' data_type: TYPE_FP32 data_type: TYPE_FP32 }",
                "output[0].data_type: given twice",
            ),
            ("input { name: 'x' data_type: TYPE_FP32 dims: [ -2 ] }", "input[0].dims: -2 is out of range"),
            (
                "input { name: 'x' data_type: TYPE_FP32 dims: [3] reshape { shape: [1, 3] } }",
                "m/config.pbtxt:1:50: input[0].reshape: reshape is not supported",
            ),
            (
                "input { name: 'x' data_type: TYPE_FP32 }\ninput { name: 'x' data_type: TYPE_FP32 }",
                "m/config.pbtxt:2:1: input[1]: input 'x' is declared twice",
            ),
            (
                "output { name: 'x' data_type: TYPE_FP32 }, output { name: 'x' data_type: TYPE_FP32 }",
                "output[1]: output 'x' is declared twice",
            ),
            (
                "max_batch_size: 4\ndynamic_batching { preferred_batch_size: [2, 8] }",
                "m/config.pbtxt:2:46: dynamic_batching.preferred_batch_size: 8 is larger than max_batch_size (4)",
            ),
            (
                "dynamic_batching { preferred_batch_size: 0 }",
                "dynamic_batching.preferred_batch_size: 0 is out of range",
            ),
            (
                "dynamic_batching { preferred_batch_size: 2 }",
                "preferred_batch_size: 2 is larger than max_batch_size (0)",
            ),
            ("dynamic_batching: 1", "dynamic_batching: expected a message"),
            (
                "dynamic_batching { max_queue_delay_microseconds: -5 }",
                "dynamic_batching.max_queue_delay_microseconds: -5 is out of range",
            ),
            (
                "dynamic_batching { default_queue_policy { timeout_action: WAIT } }",
                "dynamic_batching.default_queue_policy.timeout_action: unknown value 'WAIT'; expected one of REJECT, DELAY",
            ),
            (
                "dynamic_batching { default_queue_policy { max_queue_size: 5000000000 } }",
                "dynamic_batching.default_queue_policy.max_queue_size: 5000000000 is out of range",
            ),
            (
                "instance_group [{ count: 1, kind: KIND_TPU }]",
                "m/config.pbtxt:1:29: instance_group.kind: unknown value 'KIND_TPU'; expected one of KIND_AUTO, KIND_GPU, KIND_CPU, KIND_MODEL",
            ),
            ("instance_group { count: 'two' }", "instance_group.count: expected an integer"),
            (
                "version_policy { latest { num_versions: 0 } }",
                "version_policy.latest.num_versions: 0 is out of range",
            ),
            (
                "version_policy { specific { versions: [-1] } }",
                "version_policy.specific.versions: -1 is out of range",
            ),
            (
                "version_policy { all {} latest {} }",
                "m/config.pbtxt:1:25: version_policy.latest: give only one of",
            ),
            ("version_policy: 'all'", "version_policy: expected a message"),
            ("parameters { value { string_value: 'x' } }", "parameters: map entry without a key"),
            (
                "sequence_batching { }",
                "m/config.pbtxt:1:1: sequence_batching: stateful (sequence) models are not supported",
            ),
            ("ensemble_scheduling { step [] }", "ensemble_scheduling: ensembles are not supported"),
            ("batch_input [{ kind: BATCH_ELEMENT_COUNT }]", "batch_input: ragged batching"),
            (
                "model_transaction_policy { decoupled: True }",
                "model_transaction_policy.decoupled: decoupled models",
            ),
            (
                "model_transaction_policy { decoupled: maybe }",
                "model_transaction_policy.decoupled: expected true or false",
            ),
        ];
        for (text, needle) in cases {
            let message = error(text);
            assert!(message.contains(needle), "{text:?}: {message:?} lacks {needle:?}");
        }
        // A decoupled: false policy is the default and fine.
        assert!(parse("model_transaction_policy { decoupled: false }").is_ok());
    }

    #[test]
    fn from_file_names_the_file() {
        let missing = Path::new("/nonexistent/oxserve/config.pbtxt");
        let e = TritonConfig::from_file(missing, "m").unwrap_err();
        assert!(e.message.starts_with("cannot read /nonexistent/oxserve/config.pbtxt"), "{}", e.message);
    }

    #[test]
    fn numbers() {
        for good in ["0", "7", "017", "0x1F", "1.5", ".5", "5.", "1e9", "1E-3", "2.5e+2f", "3f"] {
            assert!(is_number(good), "{good}");
        }
        for bad in ["0x", "1e", "1.2.3", "1e+", "12ab", "1_000", "."] {
            assert!(!is_number(bad), "{bad}");
        }
    }
}
