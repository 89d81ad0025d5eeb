//! The single-pass fast path: a request body validated straight from its
//! bytes against a program compiled from the schema at configure time, with
//! no `serde_json` tree and no allocation per value.
//!
//! It only ever *accepts*. Its answer is [`Fast::Valid`] (the body is strict
//! JSON, as [`crate::json::parse_strict`] reads it, and the schema accepts
//! it: the request goes on), or [`Fast::Invalid`] / [`Fast::Unsure`], on
//! which the caller runs the slow path (strict parse into a tree, then the
//! `jsonschema` validator), so every refusal, reason and problem body is
//! produced exactly as without the fast path. `jsonschema` stays the
//! authority: a schema gets a program only when every keyword in it is one
//! this module implements exactly (see [`compile`]); anything else is no
//! fast path for that schema, and anything at request time that would need
//! care (escaped keys, lone surrogate escapes, `-0`, integers of 19 digits or
//! more, floats near a bound, very long or very large numbers, integer-typed
//! numbers written with a fraction or exponent, objects with many undeclared
//! keys) is `Unsure`.
//!
//! The grammar enforced is `parse_strict`'s: UTF-8 (checked once, over the
//! whole body; outside strings only ASCII is grammatical), RFC 8259 syntax
//! as `serde_json` reads it (number grammar, escapes, no control characters
//! in strings), no duplicated key in an object, nesting at most `max_depth`
//! (bounded by [`crate::json::MAX_DEPTH_LIMIT`]), nothing but whitespace
//! after the document.
//!
//! `pattern` is not reimplemented: each one is compiled by `jsonschema`
//! itself (same draft, same translation of ECMA-262 syntax, same regex
//! engine) as a one-keyword validator over a borrowed-string instance type
//! ([`StrJson`]), so a string is matched without being copied.

use super::compile::{CompileOptions, Dialect};
use crate::json::MAX_DEPTH_LIMIT;
use jsonschema::json::{Array, Json, JsonNumber, Node as JsonNode, NodeIdentity, Object};
use jsonschema::{Draft, JsonType, Validator};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::HashMap;

/// The fast path's answer for one body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fast {
    /// Strict JSON and valid against the schema: no slow path needed.
    Valid,
    /// Refused by the grammar or the schema: the slow path says why.
    Invalid,
    /// Not decided here: the slow path decides.
    Unsure,
}

type NodeId = u32;
/// Any value (the `true` schema, `{}`, no schema at all).
const ANY: NodeId = u32::MAX;
/// No value (the `false` schema).
const NEVER: NodeId = u32::MAX - 1;

const T_NULL: u8 = 1;
const T_BOOL: u8 = 2;
/// `integer` (numbers written without fraction or exponent, here).
const T_INT: u8 = 4;
/// `number` (every number).
const T_NUM: u8 = 8;
const T_STR: u8 = 16;
const T_ARR: u8 = 32;
const T_OBJ: u8 = 64;
const T_ALL: u8 = 127;

/// Most properties one object schema may declare (the seen-set is a `u64`).
const MAX_PROPS: usize = 64;
/// Undeclared keys one object may hold before the duplicate check (linear)
/// gives up and says `Unsure`.
const MAX_UNDECLARED_KEYS: usize = 64;
/// Most nodes a program may hold (a bound on configure time).
const MAX_NODES: usize = 4096;
/// Largest |integer| compared exactly through `f64`.
const EXACT_F64: i64 = 1 << 53;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Bound {
    Int(i64),
    Float(f64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Ge,
    Gt,
    Le,
    Lt,
}

impl Cmp {
    /// Whether `value cmp bound` holds, given how value orders against bound.
    fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering;
        match self {
            Cmp::Ge => ord != Ordering::Less,
            Cmp::Gt => ord == Ordering::Greater,
            Cmp::Le => ord != Ordering::Greater,
            Cmp::Lt => ord == Ordering::Less,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Bool(bool),
    Str(Box<str>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Additional {
    Any,
    Deny,
    Schema(NodeId),
}

struct Node {
    types: u8,
    /// `enum` / `const` (scalars only; both may be present: each applies).
    enums: Vec<Vec<Scalar>>,
    min_len: Option<u64>,
    max_len: Option<u64>,
    patterns: Vec<Validator<StrJson>>,
    bounds: Vec<(Cmp, Bound)>,
    items: NodeId,
    min_items: Option<u64>,
    max_items: Option<u64>,
    /// Declared names: their schema, or None (named only by `required`: the
    /// value falls under `additionalProperties`).
    props: Vec<(Box<str>, Option<NodeId>)>,
    /// Bits of `props` that `required` lists.
    required: u64,
    additional: Additional,
    min_props: Option<u64>,
    max_props: Option<u64>,
}

impl Node {
    fn any() -> Node {
        Node {
            types: T_ALL,
            enums: Vec::new(),
            min_len: None,
            max_len: None,
            patterns: Vec::new(),
            bounds: Vec::new(),
            items: ANY,
            min_items: None,
            max_items: None,
            props: Vec::new(),
            required: 0,
            additional: Additional::Any,
            min_props: None,
            max_props: None,
        }
    }
}

/// A schema compiled for the fast path.
pub struct FastProgram {
    nodes: Vec<Node>,
    root: NodeId,
}

impl std::fmt::Debug for FastProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FastProgram({} nodes)", self.nodes.len())
    }
}

/// The program for "any strict JSON" (a body without a schema).
pub const ANY_JSON: FastProgram = FastProgram {
    nodes: Vec::new(),
    root: ANY,
};

/// Why a schema gets no fast path (logged at configure time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoFastPath {
    /// Pointer into the document where the compiler stopped.
    pub at: String,
    pub why: String,
}

impl std::fmt::Display for NoFastPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at {:?}", self.why, self.at)
    }
}

/// Keywords that never change what a schema accepts (annotations, and
/// containers of schemas reached only through `$ref`).
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "$comment",
    "default",
    "examples",
    "example",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$defs",
    "definitions",
    "$anchor",
];

/// Top-level fields of an OpenAPI document (the wrapper a schema inside one
/// is validated through: `contract::in_document`). None is a JSON Schema
/// keyword; `x-` extensions are not keywords either.
const OPENAPI_ROOT: &[&str] = &[
    "openapi",
    "info",
    "jsonSchemaDialect",
    "servers",
    "paths",
    "webhooks",
    "components",
    "security",
    "tags",
    "externalDocs",
];

/// Compiles the schema at `pointer` of `root` (`""`: the root itself; else
/// `root` is an OpenAPI document validated through `contract::in_document`).
pub fn compile(
    root: &Value,
    pointer: &str,
    opts: CompileOptions,
) -> Result<FastProgram, NoFastPath> {
    let no = |at: &str, why: &str| NoFastPath {
        at: at.to_string(),
        why: why.to_string(),
    };
    if !pointer.is_empty() {
        let Value::Object(m) = root else {
            return Err(no("", "the document is not an object"));
        };
        if let Some(k) = m
            .keys()
            .find(|k| !OPENAPI_ROOT.contains(&k.as_str()) && !k.starts_with("x-"))
        {
            return Err(no("", &format!("top-level field {k:?}")));
        }
    }
    if has_base_change(root, opts.dialect) {
        return Err(no(
            "",
            "an `$id` in the document (references would resolve against it)",
        ));
    }
    let mut c = Compiler {
        root,
        opts,
        nodes: Vec::new(),
        by_pointer: HashMap::new(),
    };
    let root_id = c.at(pointer, 0)?;
    Ok(FastProgram {
        nodes: c.nodes,
        root: root_id,
    })
}

/// Whether any object of the document sets `$id` (draft 4: a string `id`),
/// which would make `#/...` references resolve somewhere else. Values of
/// keywords that hold instances, not schemas, are skipped.
fn has_base_change(v: &Value, dialect: Dialect) -> bool {
    match v {
        Value::Object(m) => m.iter().any(|(k, x)| {
            if matches!(
                k.as_str(),
                "example" | "examples" | "default" | "enum" | "const"
            ) {
                return false;
            }
            k == "$id"
                || (dialect == Dialect::Draft4 && k == "id" && x.is_string())
                || has_base_change(x, dialect)
        }),
        Value::Array(a) => a.iter().any(|x| has_base_change(x, dialect)),
        _ => false,
    }
}

struct Compiler<'a> {
    root: &'a Value,
    opts: CompileOptions,
    nodes: Vec<Node>,
    by_pointer: HashMap<String, NodeId>,
}

fn escape_token(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

fn as_count(v: &Value) -> Option<u64> {
    v.as_u64()
}

impl Compiler<'_> {
    fn at(&mut self, pointer: &str, ref_hops: usize) -> Result<NodeId, NoFastPath> {
        let no = |why: String| NoFastPath {
            at: pointer.to_string(),
            why,
        };
        if let Some(id) = self.by_pointer.get(pointer) {
            return Ok(*id);
        }
        let Some(schema) = self.root.pointer(pointer) else {
            return Err(no("a reference that does not resolve".into()));
        };
        let m = match schema {
            Value::Bool(true) => return Ok(ANY),
            Value::Bool(false) => return Ok(NEVER),
            Value::Object(m) => m,
            _ => return Err(no("not a schema".into())),
        };
        if let Some(r) = m.get("$ref") {
            // A reference alone (annotations aside): the target is the node.
            if let Some(k) = m
                .keys()
                .find(|k| *k != "$ref" && !ANNOTATIONS.contains(&k.as_str()))
            {
                return Err(no(format!("`$ref` beside `{k}`")));
            }
            let Some(target) = r.as_str().and_then(|s| s.strip_prefix('#')) else {
                return Err(no("a non-local `$ref`".into()));
            };
            if !(target.is_empty() || target.starts_with('/')) || target.contains('%') {
                return Err(no("a `$ref` that is not a plain JSON pointer".into()));
            }
            if ref_hops > 32 {
                return Err(no("a `$ref` chain".into()));
            }
            let id = self.at(target, ref_hops + 1)?;
            self.by_pointer.insert(pointer.to_string(), id);
            return Ok(id);
        }
        if self.nodes.len() >= MAX_NODES {
            return Err(no("too many schemas".into()));
        }
        let id = self.nodes.len() as NodeId;
        self.nodes.push(Node::any());
        self.by_pointer.insert(pointer.to_string(), id);
        let node = self.build(pointer, m)?;
        if let Some(slot) = self.nodes.get_mut(id as usize) {
            *slot = node;
        }
        Ok(id)
    }

    fn build(&mut self, pointer: &str, m: &Map<String, Value>) -> Result<Node, NoFastPath> {
        let no = |why: String| NoFastPath {
            at: pointer.to_string(),
            why,
        };
        let draft4 = self.opts.dialect == Dialect::Draft4;
        let mut n = Node::any();
        // `required` names first seen before `properties` is read.
        let mut required: Vec<&str> = Vec::new();
        for (k, v) in m {
            let bad = || no(format!("`{k}` with a value the fast path does not take"));
            match k.as_str() {
                a if ANNOTATIONS.contains(&a) => {}
                "$schema" if pointer.is_empty() => {}
                "format" if !self.opts.formats => {}
                "type" => {
                    let mut t = 0u8;
                    let names: Vec<&Value> = match v {
                        Value::String(_) => vec![v],
                        Value::Array(a) => a.iter().collect(),
                        _ => return Err(bad()),
                    };
                    for name in names {
                        t |= match name.as_str() {
                            Some("null") => T_NULL,
                            Some("boolean") => T_BOOL,
                            Some("integer") => T_INT,
                            Some("number") => T_NUM | T_INT,
                            Some("string") => T_STR,
                            Some("array") => T_ARR,
                            Some("object") => T_OBJ,
                            _ => return Err(bad()),
                        };
                    }
                    n.types &= t;
                }
                "enum" | "const" => {
                    if k == "const" && draft4 {
                        return Err(no("`const` in draft 4".into()));
                    }
                    let list: Vec<&Value> = match (k.as_str(), v) {
                        ("enum", Value::Array(a)) => a.iter().collect(),
                        ("const", x) => vec![x],
                        _ => return Err(bad()),
                    };
                    let mut out = Vec::with_capacity(list.len());
                    for x in list {
                        out.push(match x {
                            Value::Null => Scalar::Null,
                            Value::Bool(b) => Scalar::Bool(*b),
                            Value::String(s) => Scalar::Str(s.as_str().into()),
                            _ => {
                                return Err(no(format!("`{k}` with a non-scalar or number value")))
                            }
                        });
                    }
                    n.enums.push(out);
                }
                "minLength" => n.min_len = Some(as_count(v).ok_or_else(bad)?),
                "maxLength" => n.max_len = Some(as_count(v).ok_or_else(bad)?),
                "pattern" => {
                    let Some(_) = v.as_str() else {
                        return Err(bad());
                    };
                    let mut one = Map::new();
                    one.insert("pattern".into(), v.clone());
                    let draft = match self.opts.dialect {
                        Dialect::Draft202012 => Draft::Draft202012,
                        Dialect::Draft7 => Draft::Draft7,
                        Dialect::Draft4 => Draft::Draft4,
                    };
                    let validator = jsonschema::options_for::<StrJson>()
                        .with_draft(draft)
                        .should_validate_formats(false)
                        .offline()
                        .build(&Value::Object(one))
                        .map_err(|_| no("a `pattern` that does not compile".into()))?;
                    n.patterns.push(validator);
                }
                "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" => {
                    if draft4 && k.starts_with("exclusive") {
                        return Err(no(format!("`{k}` in draft 4")));
                    }
                    let bound = match v {
                        Value::Number(x) => match (x.as_i64(), x.as_u64(), x.as_f64()) {
                            (Some(i), _, _) => Bound::Int(i),
                            (None, Some(_), _) => return Err(bad()),
                            (None, None, Some(f)) if f.is_finite() => Bound::Float(f),
                            _ => return Err(bad()),
                        },
                        _ => return Err(bad()),
                    };
                    let cmp = match k.as_str() {
                        "minimum" => Cmp::Ge,
                        "maximum" => Cmp::Le,
                        "exclusiveMinimum" => Cmp::Gt,
                        _ => Cmp::Lt,
                    };
                    n.bounds.push((cmp, bound));
                }
                "minItems" => n.min_items = Some(as_count(v).ok_or_else(bad)?),
                "maxItems" => n.max_items = Some(as_count(v).ok_or_else(bad)?),
                "uniqueItems" if v == &Value::Bool(false) => {}
                "items" => {
                    if v.is_array() {
                        return Err(no("`items` as an array".into()));
                    }
                    n.items = self.at(&format!("{pointer}/items"), 0)?;
                }
                "minProperties" => n.min_props = Some(as_count(v).ok_or_else(bad)?),
                "maxProperties" => n.max_props = Some(as_count(v).ok_or_else(bad)?),
                "required" => {
                    let Value::Array(a) = v else {
                        return Err(bad());
                    };
                    for x in a {
                        required.push(x.as_str().ok_or_else(bad)?);
                    }
                }
                "properties" => {
                    let Value::Object(p) = v else {
                        return Err(bad());
                    };
                    for name in p.keys() {
                        let child = format!("{pointer}/properties/{}", escape_token(name));
                        let id = self.at(&child, 0)?;
                        n.props.push((name.as_str().into(), Some(id)));
                    }
                }
                "additionalProperties" => {
                    n.additional = match v {
                        Value::Bool(true) => Additional::Any,
                        Value::Bool(false) => Additional::Deny,
                        Value::Object(_) => {
                            match self.at(&format!("{pointer}/additionalProperties"), 0)? {
                                ANY => Additional::Any,
                                NEVER => Additional::Deny,
                                id => Additional::Schema(id),
                            }
                        }
                        _ => return Err(bad()),
                    };
                }
                other => return Err(no(format!("keyword `{other}`"))),
            }
        }
        for r in required {
            let pos = match n.props.iter().position(|(p, _)| &**p == r) {
                Some(p) => p,
                None => {
                    n.props.push((r.into(), None));
                    n.props.len() - 1
                }
            };
            if pos >= MAX_PROPS {
                return Err(no("more than 64 properties".into()));
            }
            n.required |= 1u64 << pos;
        }
        if n.props.len() > MAX_PROPS {
            return Err(no("more than 64 properties".into()));
        }
        Ok(n)
    }
}

// ---- request time ------------------------------------------------------

/// Why the scan stopped (both send the body to the slow path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Invalid,
    Unsure,
}

type Step = Result<(), Stop>;

impl FastProgram {
    /// Whether the program was compiled from a schema (not [`ANY_JSON`]).
    pub fn nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Scans `body` once against the program, nesting at most `max_depth`.
    pub fn check(&self, body: &[u8], max_depth: usize) -> Fast {
        // JSON text is UTF-8 as a whole (`parse_strict` refuses it
        // otherwise): checked once here, so strings are sliced from `t`
        // without a UTF-8 pass of their own.
        let Ok(t) = std::str::from_utf8(body) else {
            return Fast::Invalid;
        };
        let mut s = Scan {
            prog: self,
            b: body,
            t,
            i: 0,
            depth_left: max_depth.min(MAX_DEPTH_LIMIT),
            keys: Vec::new(),
            scratch: String::new(),
        };
        let r = s.ws().and_then(|_| s.value(self.root)).and_then(|_| s.ws());
        match r {
            Ok(()) if s.i == body.len() => Fast::Valid,
            Ok(()) | Err(Stop::Invalid) => Fast::Invalid,
            Err(Stop::Unsure) => Fast::Unsure,
        }
    }

    fn node(&self, id: NodeId) -> Option<&Node> {
        self.nodes.get(id as usize)
    }
}

struct Scan<'p, 'b> {
    prog: &'p FastProgram,
    b: &'b [u8],
    /// `b` as text (checked UTF-8 once).
    t: &'b str,
    i: usize,
    depth_left: usize,
    /// Spans of the undeclared keys of the objects being read (a stack).
    keys: Vec<(usize, usize)>,
    /// Decoded text of the last string with escapes.
    scratch: String,
}

/// A string as read: a span of the body (and whether it is all ASCII), or
/// (escapes) the scratch buffer.
enum Text {
    Raw(usize, usize, bool),
    Decoded,
}

/// Bytes a string body can hold without a closer look: everything but `"`,
/// `\`, control characters and non-ASCII (checked as UTF-8 afterwards).
static PLAIN: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0x20;
    while c < 0x80 {
        t[c] = c != b'"' as usize && c != b'\\' as usize;
        c += 1;
    }
    t
};

impl<'b> Scan<'_, 'b> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) -> Step {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.i += 1;
        }
        Ok(())
    }

    fn value(&mut self, id: NodeId) -> Step {
        let prog = self.prog;
        let node = match id {
            ANY => None,
            NEVER => return Err(Stop::Invalid),
            _ => Some(prog.node(id).ok_or(Stop::Unsure)?),
        };
        match self.peek() {
            Some(b'{') => self.object(node),
            Some(b'[') => self.array(node),
            Some(b'"') => self.string_value(node),
            Some(b't') => self.literal(b"true", node, T_BOOL, &Scalar::Bool(true)),
            Some(b'f') => self.literal(b"false", node, T_BOOL, &Scalar::Bool(false)),
            Some(b'n') => self.literal(b"null", node, T_NULL, &Scalar::Null),
            Some(b'-' | b'0'..=b'9') => self.number(node),
            _ => Err(Stop::Invalid),
        }
    }

    fn literal(&mut self, word: &[u8], node: Option<&Node>, ty: u8, as_scalar: &Scalar) -> Step {
        if !self.b[self.i..].starts_with(word) {
            return Err(Stop::Invalid);
        }
        self.i += word.len();
        if let Some(n) = node {
            if n.types & ty == 0 || !n.enums.iter().all(|e| e.contains(as_scalar)) {
                return Err(Stop::Invalid);
            }
        }
        Ok(())
    }

    fn enter(&mut self) -> Step {
        match self.depth_left.checked_sub(1) {
            Some(d) => {
                self.depth_left = d;
                Ok(())
            }
            None => Err(Stop::Invalid),
        }
    }

    fn object(&mut self, node: Option<&Node>) -> Step {
        if let Some(n) = node {
            if n.types & T_OBJ == 0 || !n.enums.is_empty() {
                return Err(Stop::Invalid);
            }
        }
        self.enter()?;
        self.i += 1;
        self.ws()?;
        let base = self.keys.len();
        let mut seen: u64 = 0;
        let mut count: u64 = 0;
        // Where the next key is looked up first: after the last one found.
        let mut next_prop = 0;
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return Err(Stop::Invalid);
                }
                let (start, end) = match self.string()? {
                    Text::Raw(s, e, _) => (s, e),
                    // An escaped key: its duplicates are found after
                    // unescaping (the slow path's job).
                    Text::Decoded => return Err(Stop::Unsure),
                };
                let key = &self.b[start..end];
                self.ws()?;
                if self.peek() != Some(b':') {
                    return Err(Stop::Invalid);
                }
                self.i += 1;
                self.ws()?;
                let declared = node.and_then(|n| {
                    let pos = prop_position(&n.props, key, next_prop)?;
                    next_prop = pos + 1;
                    Some((pos, n.props.get(pos).and_then(|(_, s)| *s)))
                });
                let child = match declared {
                    Some((pos, schema)) => {
                        let bit = 1u64 << pos;
                        if seen & bit != 0 {
                            return Err(Stop::Invalid);
                        }
                        seen |= bit;
                        match schema {
                            Some(id) => id,
                            None => additional_of(node),
                        }
                    }
                    None => {
                        let mine = self.keys.get(base..).unwrap_or(&[]);
                        if mine.len() >= MAX_UNDECLARED_KEYS {
                            return Err(Stop::Unsure);
                        }
                        if mine.iter().any(|&(s, e)| &self.b[s..e] == key) {
                            return Err(Stop::Invalid);
                        }
                        self.keys.push((start, end));
                        additional_of(node)
                    }
                };
                self.value(child)?;
                count += 1;
                self.ws()?;
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws()?;
                    }
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Stop::Invalid),
                }
            }
        }
        self.keys.truncate(base);
        self.depth_left += 1;
        if let Some(n) = node {
            if n.required & !seen != 0
                || n.min_props.is_some_and(|m| count < m)
                || n.max_props.is_some_and(|m| count > m)
            {
                return Err(Stop::Invalid);
            }
        }
        Ok(())
    }

    fn array(&mut self, node: Option<&Node>) -> Step {
        if let Some(n) = node {
            if n.types & T_ARR == 0 || !n.enums.is_empty() {
                return Err(Stop::Invalid);
            }
        }
        self.enter()?;
        self.i += 1;
        self.ws()?;
        let items = node.map_or(ANY, |n| n.items);
        let mut count: u64 = 0;
        if self.peek() == Some(b']') {
            self.i += 1;
        } else {
            loop {
                self.value(items)?;
                count += 1;
                self.ws()?;
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        self.ws()?;
                    }
                    Some(b']') => {
                        self.i += 1;
                        break;
                    }
                    _ => return Err(Stop::Invalid),
                }
            }
        }
        self.depth_left += 1;
        if let Some(n) = node {
            if n.min_items.is_some_and(|m| count < m) || n.max_items.is_some_and(|m| count > m) {
                return Err(Stop::Invalid);
            }
        }
        Ok(())
    }

    /// Reads a string (at its opening quote): its raw span when it has no
    /// escape, else its decoded text in `scratch`.
    fn string(&mut self) -> Result<Text, Stop> {
        let start = self.i + 1;
        let mut i = start;
        let mut ascii = true;
        loop {
            // Runs of plain bytes first: most string bytes are.
            while self.b.get(i).is_some_and(|&c| PLAIN[usize::from(c)]) {
                i += 1;
            }
            match self.b.get(i) {
                None => return Err(Stop::Invalid),
                Some(b'"') => break,
                Some(b'\\') => {
                    self.i = i;
                    return self.escaped(start);
                }
                Some(&c) if c < 0x20 => return Err(Stop::Invalid),
                Some(_) => {
                    ascii = false;
                    i += 1;
                }
            }
        }
        self.i = i + 1;
        Ok(Text::Raw(start, i, ascii))
    }

    /// The rest of a string holding an escape, decoded into `scratch`.
    fn escaped(&mut self, start: usize) -> Result<Text, Stop> {
        let mut out = std::mem::take(&mut self.scratch);
        out.clear();
        // Both ends are at ASCII bytes (a quote, a backslash, a control byte
        // or the end of the body): character boundaries of the checked text.
        let head = self.t.get(start..self.i).ok_or(Stop::Invalid)?;
        out.push_str(head);
        loop {
            let run_start = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            let run = self.t.get(run_start..self.i).ok_or(Stop::Invalid)?;
            out.push_str(run);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    self.scratch = out;
                    return Ok(Text::Decoded);
                }
                Some(b'\\') => {
                    let e = self.b.get(self.i + 1).copied().ok_or(Stop::Invalid)?;
                    self.i += 2;
                    out.push(match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hex = self.b.get(self.i..self.i + 4).ok_or(Stop::Invalid)?;
                            let mut code = 0u32;
                            for h in hex {
                                let d = (*h as char).to_digit(16).ok_or(Stop::Invalid)?;
                                code = code * 16 + d;
                            }
                            self.i += 4;
                            // Surrogates (pairs, lone ones): the slow path.
                            char::from_u32(code).ok_or(Stop::Unsure)?
                        }
                        _ => return Err(Stop::Invalid),
                    });
                }
                _ => return Err(Stop::Invalid),
            }
        }
    }

    fn string_value(&mut self, node: Option<&Node>) -> Step {
        let text = self.string()?;
        let Some(n) = node else {
            return Ok(());
        };
        if n.types & T_STR == 0 {
            return Err(Stop::Invalid);
        }
        let (text, ascii): (&str, bool) = match text {
            Text::Raw(a, e, ascii) => (self.t.get(a..e).ok_or(Stop::Invalid)?, ascii),
            Text::Decoded => (self.scratch.as_str(), self.scratch.is_ascii()),
        };
        let in_enums = n.enums.iter().all(|e| {
            e.iter()
                .any(|x| matches!(x, Scalar::Str(v) if v.as_bytes() == text.as_bytes()))
        });
        if !in_enums {
            return Err(Stop::Invalid);
        }
        if n.min_len.is_some() || n.max_len.is_some() {
            let len = if ascii {
                text.len() as u64
            } else {
                text.chars().count() as u64
            };
            if n.min_len.is_some_and(|m| len < m) || n.max_len.is_some_and(|m| len > m) {
                return Err(Stop::Invalid);
            }
        }
        if n.patterns.iter().all(|p| p.is_valid(StrNode(text))) {
            Ok(())
        } else {
            Err(Stop::Invalid)
        }
    }

    fn number(&mut self, node: Option<&Node>) -> Step {
        let start = self.i;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let int_start = self.i;
        // The integer part's magnitude, exact while it has at most 18 digits.
        let mut mag: u64 = 0;
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while let Some(c @ b'0'..=b'9') = self.peek() {
                    mag = mag.wrapping_mul(10).wrapping_add(u64::from(c - b'0'));
                    self.i += 1;
                }
            }
            _ => return Err(Stop::Invalid),
        }
        let int_digits = self.i - int_start;
        let mut fraction = false;
        let mut exponent = false;
        let mut exp_too_big = false;
        if self.peek() == Some(b'.') {
            fraction = true;
            self.i += 1;
            let d = self.i;
            while let Some(b'0'..=b'9') = self.peek() {
                self.i += 1;
            }
            if self.i == d {
                return Err(Stop::Invalid);
            }
        }
        if let Some(b'e' | b'E') = self.peek() {
            exponent = true;
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            let d = self.i;
            let mut e: u32 = 0;
            while let Some(c @ b'0'..=b'9') = self.peek() {
                e = e.saturating_mul(10).saturating_add(u32::from(c - b'0'));
                self.i += 1;
            }
            if self.i == d {
                return Err(Stop::Invalid);
            }
            exp_too_big = e > 280;
        }
        let float = fraction || exponent;
        let Some(n) = node else {
            // Any number: only what serde_json could refuse matters (out of
            // range) or read as something else.
            let doubtful = if float {
                exp_too_big || self.i - start > 32
            } else {
                int_digits > 18
            };
            return if doubtful { Err(Stop::Unsure) } else { Ok(()) };
        };
        if n.types & (T_INT | T_NUM) == 0 || !n.enums.is_empty() {
            return Err(Stop::Invalid);
        }
        let value = if float {
            if n.types & T_NUM == 0 {
                // `integer` and `1.0`/`1e2`: drafts read these differently.
                return Err(Stop::Unsure);
            }
            if exp_too_big || self.i - start > 32 {
                return Err(Stop::Unsure);
            }
            // A plain decimal (no exponent, under 10^15: finite, and its
            // integer part exact in f64) is held to integer bounds by that
            // integer part alone wherever the answer cannot depend on
            // rounding; anything closer is parsed as before.
            if !exponent && int_digits <= 15 {
                if let Some(ok) = by_integer_part(n, neg, mag) {
                    return if ok { Ok(()) } else { Err(Stop::Invalid) };
                }
            }
            let text = self.t.get(start..self.i).ok_or(Stop::Invalid)?;
            let f: f64 = text.parse().map_err(|_| Stop::Unsure)?;
            if !f.is_finite() || f.abs() > 1e300 {
                return Err(Stop::Unsure);
            }
            Bound::Float(f)
        } else {
            // `-0` is a float to serde_json; 19+ digits may leave i64.
            if int_digits > 18 || (neg && mag == 0) {
                return Err(Stop::Unsure);
            }
            let m = i64::try_from(mag).map_err(|_| Stop::Unsure)?;
            Bound::Int(if neg { -m } else { m })
        };
        for (cmp, bound) in &n.bounds {
            if !compare(value, *cmp, *bound)? {
                return Err(Stop::Invalid);
            }
        }
        Ok(())
    }
}

/// The bounds of `n` against a plain decimal `±(mag + f)`, 0 <= f < 1,
/// `mag` < 10^15, decided from `mag` alone: `None` when a bound is not
/// an integer within 2^53, or lies within one of the value (where f64
/// rounding, which is monotonic and exact on integers this small, could
/// land on the bound).
fn by_integer_part(n: &Node, neg: bool, mag: u64) -> Option<bool> {
    use std::cmp::Ordering;
    let mag = i128::from(mag);
    let mut ok = true;
    for (cmp, bound) in &n.bounds {
        let Bound::Int(b) = *bound else {
            return None;
        };
        if b.unsigned_abs() > EXACT_F64 as u64 {
            return None;
        }
        // The value's magnitude against the bound on the value's side.
        let b = if neg { -i128::from(b) } else { i128::from(b) };
        let ord = if mag > b {
            Ordering::Greater
        } else if mag + 1 < b {
            Ordering::Less
        } else {
            return None;
        };
        ok &= cmp.holds(if neg { ord.reverse() } else { ord });
    }
    Some(ok)
}

/// The position of `key` among the declared properties, searched from
/// `from` on and then from the start: bodies mostly list properties in the
/// schema's order, so the first comparison usually matches. The names are
/// unique, so where the search starts does not change the answer.
fn prop_position(props: &[(Box<str>, Option<NodeId>)], key: &[u8], from: usize) -> Option<usize> {
    let from = from.min(props.len());
    let is_key = |(p, _): &(Box<str>, Option<NodeId>)| p.as_bytes() == key;
    match props
        .get(from..)
        .and_then(|tail| tail.iter().position(is_key))
    {
        Some(i) => Some(from + i),
        None => props.get(..from)?.iter().position(is_key),
    }
}

fn additional_of(node: Option<&Node>) -> NodeId {
    match node.map_or(Additional::Any, |n| n.additional) {
        Additional::Any => ANY,
        Additional::Deny => NEVER,
        Additional::Schema(id) => id,
    }
}

/// `value cmp bound`, exactly, or `Unsure` where this reading of the number
/// and `serde_json`'s (whose float parsing is not always correctly rounded)
/// could disagree.
fn compare(value: Bound, cmp: Cmp, bound: Bound) -> Result<bool, Stop> {
    let ord = match (value, bound) {
        (Bound::Int(a), Bound::Int(b)) => a.cmp(&b),
        (Bound::Int(a), Bound::Float(b)) => {
            if a.unsigned_abs() > EXACT_F64 as u64 {
                return Err(Stop::Unsure);
            }
            (a as f64).partial_cmp(&b).ok_or(Stop::Unsure)?
        }
        (Bound::Float(a), b) => {
            let b = match b {
                Bound::Int(i) if i.unsigned_abs() <= EXACT_F64 as u64 => i as f64,
                Bound::Int(_) => return Err(Stop::Unsure),
                Bound::Float(f) => f,
            };
            let scale = a.abs().max(b.abs());
            if (a - b).abs() <= scale * 1e-9 {
                return Err(Stop::Unsure);
            }
            a.partial_cmp(&b).ok_or(Stop::Unsure)?
        }
    };
    Ok(cmp.holds(ord))
}

// ---- a borrowed string as a `jsonschema` instance ------------------------

/// An instance representation holding one borrowed string: `pattern` is
/// checked by `jsonschema` itself without copying the string into a
/// `serde_json::Value`.
pub struct StrJson;

/// The one node kind of [`StrJson`].
#[derive(Clone, Copy)]
pub struct StrNode<'a>(&'a str);

/// [`StrJson`] has no objects, arrays or numbers.
pub enum Nothing {}

impl Json for StrJson {
    type Node<'a> = StrNode<'a>;
    type PreparedKey = ();
    type StringBuffer = String;

    fn prepare_key(_key: &str) {}

    fn with_string_node<T>(
        buffer: &mut String,
        string: &str,
        f: impl FnOnce(StrNode<'_>) -> T,
    ) -> T {
        buffer.clear();
        buffer.push_str(string);
        f(StrNode(buffer))
    }
}

impl JsonNumber for Nothing {
    fn as_u64(&self) -> Option<u64> {
        match *self {}
    }
    fn as_i64(&self) -> Option<i64> {
        match *self {}
    }
    fn as_f64(&self) -> Option<f64> {
        match *self {}
    }
    fn as_str(&self) -> Cow<'_, str> {
        match *self {}
    }
    fn to_number(&self) -> Cow<'_, serde_json::Number> {
        match *self {}
    }
}

/// Members of an object [`StrJson`] never has.
pub struct NoMembers<'a>(std::marker::PhantomData<&'a ()>, Nothing);

impl<'a> Iterator for NoMembers<'a> {
    type Item = (&'a str, StrNode<'a>);
    fn next(&mut self) -> Option<Self::Item> {
        match self.1 {}
    }
}

/// Elements of an array [`StrJson`] never has.
pub struct NoElements<'a>(std::marker::PhantomData<&'a ()>, Nothing);

impl<'a> Iterator for NoElements<'a> {
    type Item = StrNode<'a>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.1 {}
    }
}

/// An object or array [`StrJson`] never has.
pub struct NoContainer<'a>(std::marker::PhantomData<&'a ()>, Nothing);

impl<'a> Object<'a, StrJson> for NoContainer<'a> {
    type Node = StrNode<'a>;
    type MemberName = &'a str;
    type MembersIter = NoMembers<'a>;
    fn len(&self) -> usize {
        match self.1 {}
    }
    fn get(&self, _key: &()) -> Option<StrNode<'a>> {
        match self.1 {}
    }
    fn members(&self) -> NoMembers<'a> {
        match self.1 {}
    }
}

impl<'a> Array<'a, StrJson> for NoContainer<'a> {
    type Node = StrNode<'a>;
    type ElementsIter = NoElements<'a>;
    fn len(&self) -> usize {
        match self.1 {}
    }
    fn elements(&self) -> NoElements<'a> {
        match self.1 {}
    }
}

impl<'a> JsonNode<'a, StrJson> for StrNode<'a> {
    type Object = NoContainer<'a>;
    type Array = NoContainer<'a>;
    type Number = Nothing;

    fn as_object(&self) -> Option<NoContainer<'a>> {
        None
    }
    fn as_array(&self) -> Option<NoContainer<'a>> {
        None
    }
    fn as_string(&self) -> Option<Cow<'a, str>> {
        Some(Cow::Borrowed(self.0))
    }
    fn as_number(&self) -> Option<Nothing> {
        None
    }
    fn as_boolean(&self) -> Option<bool> {
        None
    }
    fn is_null(&self) -> bool {
        false
    }
    fn json_type(&self) -> JsonType {
        JsonType::String
    }
    fn to_value(&self) -> Cow<'a, Value> {
        Cow::Owned(Value::String(self.0.to_string()))
    }
    fn identity(&self) -> Option<NodeIdentity> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse_strict;
    use serde_json::json;

    fn opts() -> CompileOptions {
        CompileOptions {
            dialect: Dialect::Draft202012,
            formats: false,
        }
    }

    fn order_schema() -> Value {
        json!({"type": "object", "required": ["customer", "items"],
          "properties": {
            "customer": {"type": "object", "required": ["id"],
                         "properties": {"id": {"type": "string", "pattern": "^c-[0-9]+$"},
                                        "email": {"type": "string", "maxLength": 254}}},
            "items": {"type": "array", "maxItems": 5000, "items": {"$ref": "#/$defs/item"}},
            "note": {"type": "string", "maxLength": 5}},
          "$defs": {"item": {"type": "object", "required": ["sku", "qty"], "additionalProperties": false,
                             "properties": {"sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{3}$"},
                                            "qty": {"type": "integer", "minimum": 1, "maximum": 1000},
                                            "price": {"type": "number", "minimum": 0}}}}})
    }

    /// `fast == Valid` must imply the slow path accepts, for every body.
    #[test]
    fn valid_only_when_the_slow_path_accepts() {
        let schema = order_schema();
        let slow =
            super::super::compile::compile(&crate::config::Field::root("s"), &schema, opts())
                .unwrap();
        let prog = compile(&schema, "", opts()).unwrap();
        let base = br#"{"customer": {"id": "c-42", "email": "a@example.com"}, "items": [{"sku": "ABC-001", "qty": 2, "price": 9.5}], "note": "hi"}"#;
        assert_eq!(prog.check(base, 64), Fast::Valid);
        let mut bodies: Vec<Vec<u8>> = vec![base.to_vec()];
        // Every single-byte mutation of the base (replace, delete, insert).
        let alphabet = b"{}[]\",:0123456789-+.eE \\atrufnlsx\xff\xc3\xa9\x01";
        for i in 0..base.len() {
            for &c in alphabet {
                let mut r = base.to_vec();
                r[i] = c;
                bodies.push(r);
                let mut ins = base.to_vec();
                ins.insert(i, c);
                bodies.push(ins);
            }
            let mut d = base.to_vec();
            d.remove(i);
            bodies.push(d);
        }
        for extra in [
            &br#"{"customer":{"id":"c-1"},"items":[],"items":[]}"#[..],
            br#"{"customer":{"id":"c-1","x":1,"x":2},"items":[]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1.0}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":-0}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1000}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1001}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":-1e-300}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":1e400}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":-0.5}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":-0.0}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":0.0}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":0.5}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":-1.5}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":-0.99999999999999999999}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":-1.00000000000000000001}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":123456789012345.5}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[{"sku":"ABC-001","qty":1,"price":-123456789012345.5}]}"#,
            br#"{"customer":{"id":"c-1"},"items":[],"note":"\u00e9\u00e9\u00e9\u00e9\u00e9"}"#,
            br#"{"customer":{"id":"c-1"},"items":[],"note":"\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9"}"#,
            br#"{"customer":{"id":"c-1"},"items":[],"note":"\ud800"}"#,
            br#"{"customer":{"id":"c-1"},"items":[],"\u006eote":"toolong"}"#,
            br#"{"customer":{"id":"c-1"},"items":[],"n":{"a":[[[[1]]]]}}"#,
            b"{\"customer\":{\"id\":\"c-1\"},\"items\":[],\"note\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"}",
            b"{\"customer\":{\"id\":\"c-1\"},\"items\":[],\"note\":\"\xed\xa0\x80\"}",
            br#"{"customer":{"id":"c-1"},"items":[]} "#,
            br#"{"customer":{"id":"c-1"},"items":[]}{}"#,
        ] {
            bodies.push(extra.to_vec());
        }
        let mut valid = 0;
        for b in &bodies {
            for depth in [3, 64] {
                if prog.check(b, depth) == Fast::Valid {
                    valid += 1;
                    let v = parse_strict(b, depth);
                    assert!(
                        v.as_ref().is_ok_and(|v| slow.is_valid(v)),
                        "fast said Valid, slow refuses: {}",
                        String::from_utf8_lossy(b)
                    );
                }
                // And the other way for the any-JSON program.
                if ANY_JSON.check(b, depth) == Fast::Valid {
                    assert!(
                        parse_strict(b, depth).is_ok(),
                        "{}",
                        String::from_utf8_lossy(b)
                    );
                }
            }
        }
        assert!(valid > 10, "{valid}");
    }

    #[test]
    fn property_lookup_finds_each_name_from_any_start() {
        let props: Vec<(Box<str>, Option<NodeId>)> = ["sku", "qty", "price"]
            .iter()
            .map(|p| ((*p).into(), None))
            .collect();
        for from in 0..5 {
            assert_eq!(prop_position(&props, b"sku", from), Some(0));
            assert_eq!(prop_position(&props, b"qty", from), Some(1));
            assert_eq!(prop_position(&props, b"price", from), Some(2));
            assert_eq!(prop_position(&props, b"pric", from), None);
            assert_eq!(prop_position(&[], b"sku", from), None);
        }
    }

    #[test]
    fn declines_what_it_does_not_implement() {
        for s in [
            json!({"allOf": [{}]}),
            json!({"format": "email", "unevaluatedProperties": false}),
            json!({"$ref": "#/$defs/a", "type": "object", "$defs": {"a": {}}}),
            json!({"$id": "https://e/x", "type": "object"}),
            json!({"enum": [1, 2]}),
            json!({"prefixItems": [{}]}),
        ] {
            assert!(compile(&s, "", opts()).is_err(), "{s}");
        }
        let formats = CompileOptions {
            dialect: Dialect::Draft202012,
            formats: true,
        };
        assert!(compile(&json!({"format": "email"}), "", formats).is_err());
        assert!(compile(&json!({"format": "email"}), "", opts()).is_ok());
    }
}
