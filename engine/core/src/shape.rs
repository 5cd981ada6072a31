//! The shape of the names an expression may read: which answers a flow has, and of which
//! kind, as a tree of objects, lists (repeating groups) and leaves. Linking checks names
//! against it; validation and dry runs make default values of the right shape from it.

use indexmap::IndexMap;
use serde_json::{Map, Value, json};

use crate::def::FieldType;
use crate::model::Field;

/// What a name in an expression refers to.
#[derive(Debug, Clone)]
pub(crate) enum Shape {
    /// A single answer (or a builtin value).
    Leaf(Option<FieldType>),
    /// An object: a step's answers, a `use … as` prefix, a builtin such as `case`.
    Obj(IndexMap<String, Shape>),
    /// A repeating group: a list of item objects.
    List(IndexMap<String, Shape>),
}

pub(crate) fn insert_at(
    root: &mut IndexMap<String, Shape>,
    path: &[String],
    key: String,
    shape: Shape,
) {
    match path.split_first() {
        None => {
            root.insert(key, shape);
        }
        Some((head, rest)) => {
            let entry = root
                .entry(head.clone())
                .or_insert_with(|| Shape::Obj(IndexMap::new()));
            // A field and a prefix sharing a name is reported by `check_siblings`.
            if let Shape::Obj(m) = entry {
                insert_at(m, rest, key, shape);
            }
        }
    }
}

pub(crate) fn shape_of(fields: &[Field]) -> IndexMap<String, Shape> {
    let mut root = IndexMap::new();
    for f in fields {
        if !f.has_value() {
            continue;
        }
        let shape = if f.kind == FieldType::Group {
            Shape::List(shape_of(&f.children))
        } else {
            Shape::Leaf(Some(f.kind))
        };
        insert_at(&mut root, &f.parent, f.id.clone(), shape);
    }
    root
}

/// A default value of the right shape, for dry-run evaluation.
pub(crate) fn default_of(shape: &IndexMap<String, Shape>) -> Value {
    let mut m = Map::new();
    for (k, s) in shape {
        m.insert(k.clone(), default_value(s));
    }
    Value::Object(m)
}

/// The empty value of one shape: null, an empty list, or an object of empty values.
pub(crate) fn default_value(s: &Shape) -> Value {
    match s {
        Shape::Leaf(Some(FieldType::MultiChoice)) => json!([]),
        Shape::Leaf(_) => Value::Null,
        Shape::Obj(o) => default_of(o),
        Shape::List(_) => json!([]),
    }
}
