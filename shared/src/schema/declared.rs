//! Which object properties a schema declares, for strict mode (refuse the
//! undeclared ones: a mass-assignment guard) and for stripping undeclared
//! response fields (so internal fields cannot leak).
//!
//! The rule, the same for every draft: at each object of the instance, the
//! schemas that apply are the one at that position and every schema it
//! combines in place: `allOf`, `anyOf`, `oneOf` (every branch, not only the
//! one that matched), `$ref` (local: `#/pointer` or `#anchor`),
//! `if`/`then`/`else`, `dependentSchemas` / `dependencies`. A property is
//! declared when one of them lists it in `properties` or matches it by
//! `patternProperties`. An object is *closed* when one of them lists
//! `properties` or `patternProperties` and none sets `additionalProperties`
//! or `unevaluatedProperties` to anything but `false` (that is the explicit
//! way to keep an object open). Objects whose schemas list no properties
//! (free-form values such as `{}`) stay open. Children are followed through
//! the properties' schemas, `additionalProperties` schemas, `items`,
//! `prefixItems` (and draft 7 `items` arrays with `additionalItems`).
//!
//! The graph of positions is built once at configure time (cycles through
//! `$ref` are fine: a position is compiled once).

use super::compile::{compile, CompileOptions, CompiledSchema};
use crate::config::{ConfigError, Field};
use serde_json::{Map, Value};
use std::collections::HashMap;

type NodeId = usize;

#[derive(Debug, Default)]
struct Node {
    /// Declared names and the positions their values take.
    props: Vec<(String, Vec<NodeId>)>,
    /// `patternProperties`: a string validator per pattern, and positions.
    patterns: Vec<(CompiledSchema, Vec<NodeId>)>,
    /// `additionalProperties` schemas (open objects' other properties).
    additional: Vec<NodeId>,
    /// Some schema lists properties.
    lists: bool,
    /// Some schema keeps the object open explicitly.
    open: bool,
    /// Array items by index (`prefixItems`, draft 7 `items` arrays).
    prefix: Vec<Vec<NodeId>>,
    /// Items past the prefix (`items` schema, `additionalItems`).
    items: Vec<NodeId>,
}

impl Node {
    fn closed(&self) -> bool {
        self.lists && !self.open
    }
}

/// The compiled declaration graph of one schema.
#[derive(Debug)]
pub struct Declared {
    nodes: Vec<Node>,
}

/// An undeclared property found in strict mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undeclared {
    /// Pointer to the object holding it.
    pub object: String,
    /// The property's pointer when its name is safe to show (letters,
    /// digits, `_-.`, at most 64 bytes), else None.
    pub property: Option<String>,
}

struct Builder<'a> {
    root: &'a Value,
    anchors: HashMap<String, String>,
    opts: CompileOptions,
    field: &'a Field,
    nodes: Vec<Node>,
    /// Position (sorted pointer set of its schemas) -> node.
    by_key: HashMap<Vec<String>, NodeId>,
    pending: Vec<(NodeId, Vec<String>)>,
}

/// Most positions one schema may expand into (a bound on configure time).
const MAX_NODES: usize = 10_000;

impl Declared {
    /// Builds the graph of the schema at `pointer` inside `root`.
    pub fn build(
        field: &Field,
        root: &Value,
        pointer: &str,
        opts: CompileOptions,
    ) -> Result<Declared, ConfigError> {
        let mut anchors = HashMap::new();
        collect_anchors(root, String::new(), &mut anchors);
        let mut b = Builder {
            root,
            anchors,
            opts,
            field,
            nodes: Vec::new(),
            by_key: HashMap::new(),
            pending: Vec::new(),
        };
        b.node_for(vec![pointer.to_string()])?;
        while let Some((id, pointers)) = b.pending.pop() {
            let node = b.compile_node(&pointers)?;
            if let Some(slot) = b.nodes.get_mut(id) {
                *slot = node;
            }
        }
        Ok(Declared { nodes: b.nodes })
    }

    /// Strict mode: the undeclared properties of `instance` (at most `max`).
    pub fn undeclared(&self, instance: &Value, max: usize) -> Vec<Undeclared> {
        let mut out = Vec::new();
        let mut pointer = String::new();
        self.walk_check(&[0], instance, &mut pointer, max, &mut out);
        out
    }

    /// Removes every undeclared property; returns how many were removed.
    pub fn strip(&self, instance: &mut Value) -> usize {
        self.walk_strip(&[0], instance)
    }

    fn walk_check(
        &self,
        ids: &[NodeId],
        v: &Value,
        pointer: &mut String,
        max: usize,
        out: &mut Vec<Undeclared>,
    ) {
        if out.len() >= max {
            return;
        }
        match v {
            Value::Object(map) => {
                let closed = ids
                    .iter()
                    .filter_map(|i| self.nodes.get(*i))
                    .any(Node::closed);
                let any_open = ids
                    .iter()
                    .filter_map(|i| self.nodes.get(*i))
                    .any(|n| n.open || !n.lists);
                for (k, child) in map {
                    let next = self.children_of(ids, k);
                    if next.is_empty() && closed && !any_open {
                        if out.len() < max {
                            out.push(Undeclared {
                                object: pointer.clone(),
                                property: safe_name(k).then(|| format!("{pointer}/{}", escape(k))),
                            });
                        }
                        continue;
                    }
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&escape(k));
                    self.walk_check(&next, child, pointer, max, out);
                    pointer.truncate(len);
                }
            }
            Value::Array(items) => {
                for (i, child) in items.iter().enumerate() {
                    let next = self.item_children(ids, i);
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&i.to_string());
                    self.walk_check(&next, child, pointer, max, out);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }

    fn walk_strip(&self, ids: &[NodeId], v: &mut Value) -> usize {
        let mut removed = 0usize;
        match v {
            Value::Object(map) => {
                let nodes: Vec<&Node> = ids.iter().filter_map(|i| self.nodes.get(*i)).collect();
                let closed =
                    nodes.iter().any(|n| n.closed()) && !nodes.iter().any(|n| n.open || !n.lists);
                let mut kept = Map::new();
                for (k, mut child) in std::mem::take(map) {
                    let next = self.children_of(ids, &k);
                    if next.is_empty() && closed {
                        removed = removed.saturating_add(1);
                        continue;
                    }
                    removed = removed.saturating_add(self.walk_strip(&next, &mut child));
                    kept.insert(k, child);
                }
                *map = kept;
            }
            Value::Array(items) => {
                for (i, child) in items.iter_mut().enumerate() {
                    let next = self.item_children(ids, i);
                    removed = removed.saturating_add(self.walk_strip(&next, child));
                }
            }
            _ => {}
        }
        removed
    }

    /// Positions the value of property `name` takes; empty when no schema
    /// declares it (nor gives it an `additionalProperties` schema).
    fn children_of(&self, ids: &[NodeId], name: &str) -> Vec<NodeId> {
        let mut out = Vec::new();
        let mut declared = false;
        for n in ids.iter().filter_map(|i| self.nodes.get(*i)) {
            let mut here = false;
            for (p, kids) in &n.props {
                if p == name {
                    here = true;
                    out.extend_from_slice(kids);
                }
            }
            for (re, kids) in &n.patterns {
                if re.is_valid(&Value::String(name.to_string())) {
                    here = true;
                    out.extend_from_slice(kids);
                }
            }
            if !here {
                out.extend_from_slice(&n.additional);
            }
            declared |= here;
        }
        if !declared && out.is_empty() {
            return out;
        }
        out.sort_unstable();
        out.dedup();
        if out.is_empty() {
            // Declared as `true` / `{}` with nothing to follow: a leaf.
            out.push(usize::MAX);
        }
        out
    }

    fn item_children(&self, ids: &[NodeId], i: usize) -> Vec<NodeId> {
        let mut out = Vec::new();
        for n in ids.iter().filter_map(|i| self.nodes.get(*i)) {
            match n.prefix.get(i) {
                Some(kids) => out.extend_from_slice(kids),
                None => out.extend_from_slice(&n.items),
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

impl Builder<'_> {
    fn node_for(&mut self, mut pointers: Vec<String>) -> Result<NodeId, ConfigError> {
        pointers.sort();
        pointers.dedup();
        if let Some(id) = self.by_key.get(&pointers) {
            return Ok(*id);
        }
        if self.nodes.len() >= MAX_NODES {
            return Err(self.field.error(format!(
                "the schema expands into more than {MAX_NODES} positions"
            )));
        }
        let id = self.nodes.len();
        self.nodes.push(Node::default());
        self.by_key.insert(pointers.clone(), id);
        self.pending.push((id, pointers));
        Ok(id)
    }

    /// The schema at `pointer` and everything it combines in place.
    fn closure(&self, pointer: &str, out: &mut Vec<String>) -> Result<(), ConfigError> {
        if out.iter().any(|p| p == pointer) {
            return Ok(());
        }
        out.push(pointer.to_string());
        let Some(Value::Object(s)) = self.root.pointer(pointer) else {
            return Ok(());
        };
        for key in ["allOf", "anyOf", "oneOf"] {
            if let Some(Value::Array(list)) = s.get(key) {
                for i in 0..list.len() {
                    self.closure(&format!("{pointer}/{key}/{i}"), out)?;
                }
            }
        }
        for key in ["if", "then", "else"] {
            if s.contains_key(key) {
                self.closure(&format!("{pointer}/{key}"), out)?;
            }
        }
        for key in ["dependentSchemas", "dependencies"] {
            if let Some(Value::Object(m)) = s.get(key) {
                for (name, sub) in m {
                    if sub.is_object() {
                        self.closure(&format!("{pointer}/{key}/{}", escape(name)), out)?;
                    }
                }
            }
        }
        for key in ["$ref", "$dynamicRef", "$recursiveRef"] {
            if let Some(r) = s.get(key) {
                let target = self.resolve(pointer, key, r)?;
                self.closure(&target, out)?;
            }
        }
        Ok(())
    }

    fn resolve(&self, at: &str, key: &str, r: &Value) -> Result<String, ConfigError> {
        let fail = |why: &str| {
            self.field.error(format!(
                "strict mode / field stripping cannot follow {key} {r} at {at:?}: {why}"
            ))
        };
        let text = r.as_str().ok_or_else(|| fail("not a string"))?;
        let frag = text
            .strip_prefix('#')
            .ok_or_else(|| fail("only local references (#/pointer or #anchor) are followed"))?;
        let frag = crate::http::percent_decode(&frag.replace('+', "%2B"));
        let target = if frag.is_empty() || frag.starts_with('/') {
            frag
        } else {
            self.anchors
                .get(&frag)
                .cloned()
                .ok_or_else(|| fail("no such anchor"))?
        };
        if self.root.pointer(&target).is_none() {
            return Err(fail("nothing at that location"));
        }
        Ok(target)
    }

    fn compile_node(&mut self, pointers: &[String]) -> Result<Node, ConfigError> {
        let mut all = Vec::new();
        for p in pointers {
            self.closure(p, &mut all)?;
        }
        let mut node = Node::default();
        let mut prefix: Vec<Vec<String>> = Vec::new();
        let mut items: Vec<String> = Vec::new();
        let mut props: Vec<(String, Vec<String>)> = Vec::new();
        let mut patterns: Vec<(String, String)> = Vec::new();
        let mut additional: Vec<String> = Vec::new();
        for p in &all {
            let Some(s) = self.root.pointer(p) else {
                continue;
            };
            let s = match s {
                Value::Object(s) => s,
                // `true` / `false` schemas declare nothing.
                _ => continue,
            };
            if let Some(Value::Object(m)) = s.get("properties") {
                node.lists = true;
                for name in m.keys() {
                    let child = format!("{p}/properties/{}", escape(name));
                    match props.iter_mut().find(|(n, _)| n == name) {
                        Some((_, v)) => v.push(child),
                        None => props.push((name.clone(), vec![child])),
                    }
                }
            }
            if let Some(Value::Object(m)) = s.get("patternProperties") {
                node.lists = true;
                for pat in m.keys() {
                    patterns.push((
                        pat.clone(),
                        format!("{p}/patternProperties/{}", escape(pat)),
                    ));
                }
            }
            for key in ["additionalProperties", "unevaluatedProperties"] {
                match s.get(key) {
                    None | Some(Value::Bool(false)) => {}
                    Some(Value::Object(_)) => {
                        node.open = true;
                        if key == "additionalProperties" {
                            additional.push(format!("{p}/{key}"));
                        }
                    }
                    Some(_) => node.open = true,
                }
            }
            match s.get("prefixItems") {
                Some(Value::Array(list)) => {
                    for i in 0..list.len() {
                        if prefix.len() <= i {
                            prefix.push(Vec::new());
                        }
                        if let Some(slot) = prefix.get_mut(i) {
                            slot.push(format!("{p}/prefixItems/{i}"));
                        }
                    }
                    if s.get("items").is_some_and(Value::is_object) {
                        items.push(format!("{p}/items"));
                    }
                }
                _ => match s.get("items") {
                    Some(Value::Array(list)) => {
                        for i in 0..list.len() {
                            if prefix.len() <= i {
                                prefix.push(Vec::new());
                            }
                            if let Some(slot) = prefix.get_mut(i) {
                                slot.push(format!("{p}/items/{i}"));
                            }
                        }
                        if s.get("additionalItems").is_some_and(Value::is_object) {
                            items.push(format!("{p}/additionalItems"));
                        }
                    }
                    Some(Value::Object(_)) => items.push(format!("{p}/items")),
                    _ => {}
                },
            }
        }
        for (name, ptrs) in props {
            let id = self.node_for(ptrs)?;
            node.props.push((name, vec![id]));
        }
        for (pat, ptr) in patterns {
            let re = compile(
                self.field,
                &serde_json::json!({"type": "string", "pattern": pat}),
                self.opts,
            )?;
            let id = self.node_for(vec![ptr])?;
            node.patterns.push((re, vec![id]));
        }
        for ptr in additional {
            node.additional.push(self.node_for(vec![ptr])?);
        }
        for (i, ptrs) in prefix.into_iter().enumerate() {
            let id = self.node_for(ptrs)?;
            if node.prefix.len() <= i {
                node.prefix.push(Vec::new());
            }
            if let Some(slot) = node.prefix.get_mut(i) {
                slot.push(id);
            }
        }
        if !items.is_empty() {
            node.items.push(self.node_for(items)?);
        }
        Ok(node)
    }
}

/// `$anchor` (2020-12) and `$id: "#name"` (drafts 4-7) locations.
fn collect_anchors(v: &Value, at: String, out: &mut HashMap<String, String>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(a)) = m.get("$anchor") {
                out.entry(a.clone()).or_insert_with(|| at.clone());
            }
            for key in ["$id", "id"] {
                if let Some(a) = m
                    .get(key)
                    .and_then(Value::as_str)
                    .and_then(|s| s.strip_prefix('#'))
                {
                    out.entry(a.to_string()).or_insert_with(|| at.clone());
                }
            }
            for (k, child) in m {
                collect_anchors(child, format!("{at}/{}", escape(k)), out);
            }
        }
        Value::Array(list) => {
            for (i, child) in list.iter().enumerate() {
                collect_anchors(child, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

/// RFC 6901 escaping of one reference token.
pub fn escape(token: &str) -> String {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1")
    } else {
        token.to_string()
    }
}

fn safe_name(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::compile::Dialect;
    use serde_json::json;

    fn build(s: &Value) -> Declared {
        Declared::build(
            &Field::root("x"),
            s,
            "",
            CompileOptions {
                dialect: Dialect::Draft202012,
                formats: false,
            },
        )
        .unwrap()
    }

    #[test]
    fn strict_sees_through_compositions() {
        let s = json!({
            "$defs": {"base": {"properties": {"id": {"type": "integer"}}}},
            "allOf": [{"$ref": "#/$defs/base"}, {"properties": {"name": {}, "tags": {"items": {"properties": {"k": {}}}}}}],
            "oneOf": [{"properties": {"a": {}}}, {"properties": {"b": {}}}]
        });
        let d = build(&s);
        assert!(d
            .undeclared(&json!({"id": 1, "name": "x", "a": 1, "b": 2}), 10)
            .is_empty());
        let u = d.undeclared(
            &json!({"id": 1, "isAdmin": true, "tags": [{"k": 1, "x": 2}]}),
            10,
        );
        assert_eq!(
            u,
            vec![
                Undeclared {
                    object: "".into(),
                    property: Some("/isAdmin".into())
                },
                Undeclared {
                    object: "/tags/0".into(),
                    property: Some("/tags/0/x".into())
                },
            ]
        );
        assert_eq!(
            d.undeclared(&json!({"a b": 1}), 10)[0].property,
            None,
            "names that are not safe to show are left out"
        );
        assert_eq!(d.undeclared(&json!({"x": 1, "y": 2}), 1).len(), 1);
    }

    #[test]
    fn open_objects_and_free_form_values() {
        let s = json!({"properties": {"meta": {}, "extra": {"properties": {"a": {}}, "additionalProperties": true},
                                      "labels": {"properties": {}, "additionalProperties": {"properties": {"v": {}}}}}});
        let d = build(&s);
        assert!(d
            .undeclared(&json!({"meta": {"anything": 1}, "extra": {"b": 1}}), 10)
            .is_empty());
        assert_eq!(
            d.undeclared(&json!({"labels": {"x": {"v": 1, "w": 2}}}), 10)
                .len(),
            1
        );
    }

    #[test]
    fn strips_undeclared_fields_recursively() {
        let s = json!({"$defs": {"item": {"$anchor": "it", "properties": {"sku": {}}}},
                       "properties": {"id": {}, "items": {"items": {"$ref": "#it"}}}});
        let d = build(&s);
        let mut v = json!({"id": 1, "internal_cost": 3, "items": [{"sku": "a", "margin": 0.3}]});
        assert_eq!(d.strip(&mut v), 2);
        assert_eq!(v, json!({"id": 1, "items": [{"sku": "a"}]}));
    }

    #[test]
    fn recursive_refs_and_bad_refs() {
        let s = json!({"$defs": {"node": {"properties": {"kids": {"items": {"$ref": "#/$defs/node"}}, "v": {}}}},
                       "$ref": "#/$defs/node"});
        let d = build(&s);
        assert_eq!(
            d.undeclared(&json!({"kids": [{"kids": [{"z": 1}]}]}), 10)
                .len(),
            1
        );
        let bad = json!({"$ref": "other.json#/x"});
        assert!(Declared::build(
            &Field::root("x"),
            &bad,
            "",
            CompileOptions {
                dialect: Dialect::Draft202012,
                formats: false
            }
        )
        .is_err());
    }
}
