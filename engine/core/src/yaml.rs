//! YAML with positions: the source is parsed with `saphyr` (a maintained YAML 1.2 parser that
//! keeps a span for every node) into plain JSON values plus an index from JSON pointer to
//! position. Structural checking (JSON Schema) and deserialisation (serde) then work on the
//! JSON value, and every problem they find is mapped back to a line and column.

use std::collections::HashMap;

use saphyr::{LoadableYamlNode, MarkedYaml, Scalar, YamlData};
use serde_json::{Map, Number, Value};

use crate::diag::{Diagnostics, Pos};

/// Where a node starts, and where its key starts if it is a mapping value.
#[derive(Debug, Clone, Copy, Default)]
pub struct NodePos {
    pub key: Option<Pos>,
    pub value: Pos,
}

/// One parsed YAML document.
#[derive(Debug, Clone)]
pub struct Doc {
    pub value: Value,
    positions: HashMap<String, NodePos>,
}

impl Doc {
    /// Position of the value at a JSON pointer; falls back to the nearest parent that is known.
    pub fn value_pos(&self, pointer: &str) -> Pos {
        self.lookup(pointer).map(|p| p.value).unwrap_or(Pos::START)
    }

    /// Position of the key of the value at a JSON pointer (or of the value when it has no key).
    pub fn key_pos(&self, pointer: &str) -> Pos {
        self.lookup(pointer)
            .map(|p| p.key.unwrap_or(p.value))
            .unwrap_or(Pos::START)
    }

    fn lookup(&self, pointer: &str) -> Option<NodePos> {
        let mut p = pointer;
        loop {
            if let Some(pos) = self.positions.get(p) {
                return Some(*pos);
            }
            if p.is_empty() {
                return None;
            }
            p = match p.rfind('/') {
                Some(i) => &p[..i],
                None => "",
            };
        }
    }
}

/// Escapes one JSON pointer segment.
pub fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The largest YAML text read (a flow of 20,000 fields is about 2 MB).
pub const MAX_YAML_BYTES: usize = 8 * 1024 * 1024;
/// How deep mappings and sequences may nest (a group inside a group takes two levels).
pub const MAX_YAML_DEPTH: usize = 64;
/// How many nodes a document may hold, counting what aliases (`*x`) repeat.
pub const MAX_YAML_NODES: u64 = 2_000_000;

/// Checks the size of `source` before anything is built from it: its length, how deep it
/// nests and how many nodes it holds once aliases are expanded (a "billion laughs" of a few
/// hundred bytes expands to billions). One pass over the parser's events, with no tree and
/// no recursion, so it is linear in the text and bounded in memory. Syntax errors are left to
/// the real parse, which reports them with their position.
fn within_limits(file: &str, source: &str, diags: &mut Diagnostics) -> bool {
    use saphyr_parser::{Event, Parser};
    if source.len() > MAX_YAML_BYTES {
        diags.error(
            file,
            Pos::START,
            format!(
                "the file is {} bytes; at most {} MB of YAML is read",
                source.len(),
                MAX_YAML_BYTES / 1024 / 1024
            ),
        );
        return false;
    }
    let at = |m: &saphyr_parser::Marker| Pos {
        line: m.line().max(1),
        col: m.col() + 1,
    };
    let mut nodes: u64 = 0;
    // Open collections: (anchor id, node count when it opened).
    let mut open: Vec<(usize, u64)> = Vec::new();
    // Anchor id → how many nodes the anchored node stands for.
    let mut anchors: HashMap<usize, u64> = HashMap::new();
    for event in Parser::new_from_str(source) {
        let Ok((event, span)) = event else {
            return true;
        };
        match event {
            Event::Scalar(_, _, anchor, _) => {
                nodes += 1;
                if anchor > 0 {
                    anchors.insert(anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                nodes += 1;
                open.push((anchor, nodes));
                if open.len() > MAX_YAML_DEPTH {
                    diags.error(
                        file,
                        at(&span.start),
                        format!(
                            "mappings and lists nest more than {MAX_YAML_DEPTH} deep here; flatten the definition"
                        ),
                    );
                    return false;
                }
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((anchor, start)) = open.pop()
                    && anchor > 0
                {
                    anchors.insert(anchor, nodes - start + 1);
                }
            }
            Event::Alias(id) => {
                nodes = nodes.saturating_add(anchors.get(&id).copied().unwrap_or(1));
            }
            _ => {}
        }
        if nodes > MAX_YAML_NODES {
            diags.error(
                file,
                at(&span.start),
                format!(
                    "the file holds more than {MAX_YAML_NODES} values (counting what aliases such as `*x` repeat); at most that many are read"
                ),
            );
            return false;
        }
    }
    true
}

/// Parses every document in `source`. Problems are reported into `diags`; `None` when the
/// text is not valid YAML at all, or larger than the limits ([`MAX_YAML_BYTES`],
/// [`MAX_YAML_DEPTH`], [`MAX_YAML_NODES`]).
pub fn parse(file: &str, source: &str, diags: &mut Diagnostics) -> Option<Vec<Doc>> {
    if !within_limits(file, source, diags) {
        return None;
    }
    let docs = match MarkedYaml::load_from_str(source) {
        Ok(d) => d,
        Err(e) => {
            let m = e.marker();
            diags.error(
                file,
                Pos {
                    line: m.line(),
                    col: m.col() + 1,
                },
                format!("YAML syntax error: {}", e.info()),
            );
            return None;
        }
    };
    let mut out = Vec::with_capacity(docs.len());
    for doc in docs {
        let mut positions = HashMap::new();
        let before = diags.error_count();
        let value = convert(file, &doc, String::new(), None, &mut positions, diags);
        if diags.error_count() > before {
            return None;
        }
        out.push(Doc { value, positions });
    }
    Some(out)
}

/// Parses a file that must hold exactly one document.
pub fn parse_one(file: &str, source: &str, diags: &mut Diagnostics) -> Option<Doc> {
    let mut docs = parse(file, source, diags)?;
    match docs.len() {
        0 => {
            diags.error(file, Pos::START, "the file is empty");
            None
        }
        1 => docs.pop(),
        _ => {
            diags.error(
                file,
                Pos::START,
                "the file holds several YAML documents (`---`); expected one",
            );
            None
        }
    }
}

fn pos_of(node: &MarkedYaml<'_>) -> Pos {
    Pos {
        line: node.span.start.line().max(1),
        col: node.span.start.col() + 1,
    }
}

fn convert(
    file: &str,
    node: &MarkedYaml<'_>,
    pointer: String,
    key: Option<Pos>,
    positions: &mut HashMap<String, NodePos>,
    diags: &mut Diagnostics,
) -> Value {
    let here = pos_of(node);
    positions.insert(pointer.clone(), NodePos { key, value: here });
    match &node.data {
        YamlData::Value(s) => scalar(file, s, here, diags),
        YamlData::Representation(raw, _, _) => Value::String(raw.to_string()),
        YamlData::Sequence(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    convert(file, item, format!("{pointer}/{i}"), None, positions, diags)
                })
                .collect(),
        ),
        YamlData::Mapping(map) => {
            let mut obj = Map::new();
            for (k, v) in map {
                let kpos = pos_of(k);
                let Some(name) = key_string(&k.data) else {
                    diags.error(file, kpos, "mapping keys must be plain text");
                    continue;
                };
                let child = format!("{pointer}/{}", pointer_segment(&name));
                let value = convert(file, v, child, Some(kpos), positions, diags);
                obj.insert(name, value);
            }
            Value::Object(obj)
        }
        YamlData::Tagged(tag, inner) => {
            diags.error(
                file,
                here,
                format!(
                    "YAML tags such as `!{}` are not supported in flows",
                    tag.suffix
                ),
            );
            convert(file, inner, pointer, key, positions, diags)
        }
        YamlData::Alias(_) => {
            diags.error(
                file,
                here,
                "YAML anchors and aliases (`&x`, `*x`) are not supported; use `use:` with a form-def to reuse fields",
            );
            Value::Null
        }
        YamlData::BadValue => {
            diags.error(file, here, "this value cannot be read");
            Value::Null
        }
    }
}

fn key_string<'i>(data: &YamlData<'i, MarkedYaml<'i>>) -> Option<String> {
    match data {
        YamlData::Value(Scalar::String(s)) => Some(s.to_string()),
        YamlData::Value(Scalar::Integer(i)) => Some(i.to_string()),
        YamlData::Value(Scalar::Boolean(b)) => Some(b.to_string()),
        YamlData::Value(Scalar::FloatingPoint(f)) => Some(f.to_string()),
        YamlData::Representation(raw, _, _) => Some(raw.to_string()),
        _ => None,
    }
}

fn scalar(file: &str, s: &Scalar<'_>, here: Pos, diags: &mut Diagnostics) -> Value {
    match s {
        Scalar::Null => Value::Null,
        Scalar::Boolean(b) => Value::Bool(*b),
        Scalar::Integer(i) => Value::Number((*i).into()),
        Scalar::FloatingPoint(f) => match Number::from_f64(f.into_inner()) {
            Some(n) => Value::Number(n),
            None => {
                diags.error(file, here, "numbers must be finite (no .inf or .nan)");
                Value::Null
            }
        },
        Scalar::String(s) => Value::String(s.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_keys_and_values() {
        let src = "a: 1\nb:\n  - x\n  - { c: true }\n";
        let mut d = Diagnostics::new();
        let doc = parse_one("f.yaml", src, &mut d).unwrap_or_else(|| unreachable!());
        assert!(d.is_empty());
        assert_eq!(doc.value_pos("/a"), Pos { line: 1, col: 4 });
        assert_eq!(doc.key_pos("/a"), Pos { line: 1, col: 1 });
        assert_eq!(doc.value_pos("/b/1"), Pos { line: 4, col: 5 });
        assert_eq!(doc.key_pos("/b/1/c"), Pos { line: 4, col: 7 });
        // an unknown pointer falls back to its nearest known parent
        assert_eq!(doc.value_pos("/b/1/zzz"), Pos { line: 4, col: 5 });
    }

    #[test]
    fn syntax_errors_and_duplicate_keys_are_reported_with_position() {
        let mut d = Diagnostics::new();
        assert!(parse_one("f.yaml", "a: [1, 2\n", &mut d).is_none());
        assert!(d.has_errors());
        let mut d = Diagnostics::new();
        assert!(parse_one("f.yaml", "a: 1\nb: 2\na: 3\n", &mut d).is_none());
        let diag = d.sorted();
        assert!(diag[0].message.contains("duplicated key"), "{diag:?}");
        assert_eq!(diag[0].pos.line, 3);
    }

    #[test]
    fn nesting_expansion_and_size_are_bounded_with_a_position() {
        let deep = format!("a: {}1{}\n", "[".repeat(100), "]".repeat(100));
        let mut d = Diagnostics::new();
        assert!(parse_one("f.yaml", &deep, &mut d).is_none());
        let diag = d.sorted();
        assert!(diag[0].message.contains("nest more than 64"), "{diag:?}");
        // the top mapping is the first level, so the 64th `[` opens the 65th
        assert_eq!((diag[0].pos.line, diag[0].pos.col), (1, 4 + 63));

        // a "billion laughs": nine lists of nine aliases of the one before
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 9].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let mut d = Diagnostics::new();
        assert!(parse_one("f.yaml", &bomb, &mut d).is_none());
        let diag = d.sorted();
        assert!(diag[0].message.contains("aliases"), "{diag:?}");
        assert!(diag[0].pos.line > 1, "{diag:?}");

        let mut d = Diagnostics::new();
        let big = "a: 1\n".repeat(MAX_YAML_BYTES / 5 + 1);
        assert!(parse_one("f.yaml", &big, &mut d).is_none());
        assert!(d.sorted()[0].message.contains("at most 8 MB"));
    }

    #[test]
    fn aliases_are_resolved_to_copies() {
        let mut d = Diagnostics::new();
        let doc = parse_one("f.yaml", "a: &x { k: 1 }\nb: *x\n", &mut d);
        assert_eq!(
            doc.map(|d| d.value),
            Some(serde_json::json!({"a": {"k": 1}, "b": {"k": 1}}))
        );
    }
}
