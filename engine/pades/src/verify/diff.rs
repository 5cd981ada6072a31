//! What an incremental update changes, and whether PAdES allows it.
//!
//! Two consecutive revisions are compared object by object. A changed object is judged by the
//! role it plays in the newer revision (catalog, page, form field, DSS, ...); a new object is
//! judged through the changed object that refers to it (a new page content stream only matters
//! once a page's `/Contents` points at it, and that change is what gets reported).
//!
//! Allowed: new signature fields (and their widgets, appearances and signature dictionaries)
//! added to the form and to a page's `/Annots`, values and appearances for empty signature
//! fields, document timestamps, and the DSS. Metadata (`/Info`, XMP, the catalog's
//! `/Extensions` and `/Version`) may change alongside such an addition, as signing software
//! stamps a modification date; in a revision that adds nothing of the kind, a metadata change
//! is reported like any other change.

use std::collections::{HashMap, HashSet};

use lopdf::{Dictionary, Document, Object, ObjectId};

use super::pdf::{catalog, get, get_dict, get_name, resolve, text};

/// What an object is in the document.
#[derive(Clone, Copy, Debug)]
enum Role {
    Catalog,
    PageTree,
    /// A page (numbered from 1).
    Page(usize),
    /// A page's `/Annots` array.
    Annots(usize),
    /// An annotation on a page that is not a form field.
    Annotation(usize),
    AcroForm,
    /// The form's `/Fields` array.
    Fields,
    Field,
    Metadata,
    Info,
    Dss,
}

/// The changes from `old` to `new` (the revision numbered `revision`) that PAdES does not
/// allow after a signature.
pub(super) fn disallowed_changes(old: &Document, new: &Document, revision: usize) -> Vec<String> {
    let mut diff = Diff {
        old,
        new,
        roles: roles(new),
        adds_signature_data: false,
        metadata: Vec::new(),
        disallowed: Vec::new(),
    };
    diff.trailer();
    for (id, object) in &new.objects {
        if let Some(previous) = old.objects.get(id)
            && !same(previous, object)
            && !is_structural(object)
        {
            diff.changed(*id, previous, object);
        }
    }
    for (id, object) in &old.objects {
        if !new.objects.contains_key(id) && !is_structural(object) {
            diff.disallow(format!("object {} {} was deleted", id.0, id.1));
        }
    }
    if !diff.adds_signature_data {
        let metadata = std::mem::take(&mut diff.metadata);
        diff.disallowed.extend(metadata.into_iter().map(|change| {
            format!("{change}, in a revision that adds no signature, timestamp or validation data")
        }));
    }
    diff.disallowed
        .into_iter()
        .map(|change| format!("revision {revision}: {change}"))
        .collect()
}

/// Equal as PDF objects (a stream's position in the file does not count).
fn same(a: &Object, b: &Object) -> bool {
    match (a, b) {
        (Object::Stream(a), Object::Stream(b)) => a.dict == b.dict && a.content == b.content,
        _ => a == b,
    }
}

/// Cross-reference and object streams: the file's structure, not its content.
fn is_structural(object: &Object) -> bool {
    let Object::Stream(stream) = object else {
        return false;
    };
    matches!(
        stream.dict.get(b"Type").and_then(Object::as_name),
        Ok(b"XRef" | b"ObjStm")
    )
}

fn name(key: &[u8]) -> String {
    String::from_utf8_lossy(key).into_owned()
}

/// The keys whose values differ between `old` and `new` (references compared as references).
fn changed_keys(old: &Dictionary, new: &Dictionary) -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = old
        .iter()
        .filter(|(key, value)| new.get(key).ok() != Some(*value))
        .map(|(key, _)| key.clone())
        .collect();
    keys.extend(
        new.iter()
            .filter(|(key, _)| !old.has(key))
            .map(|(key, _)| key.clone()),
    );
    keys
}

/// `dict[key]` as an array, resolved (empty when missing).
fn array<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> &'a [Object] {
    match get(doc, dict, key) {
        Some(Object::Array(items)) => items,
        _ => &[],
    }
}

/// The roles of the indirect objects of `doc`. Where an object has several, the first assigned
/// wins: a merged signature field and widget is judged as a field.
fn roles(doc: &Document) -> HashMap<ObjectId, Role> {
    let mut roles = Roles::default();
    roles.assign(doc.trailer.get(b"Root").ok(), Role::Catalog);
    let Some(catalog) = catalog(doc) else {
        return roles.roles;
    };
    let mut pages = Vec::new();
    collect_pages(doc, catalog.get(b"Pages").ok(), &mut roles, &mut pages, 0);
    for (number, page) in pages.iter().enumerate() {
        roles.assign(page.get(b"Annots").ok(), Role::Annots(number + 1));
    }
    if let Ok(form) = catalog.get(b"AcroForm") {
        roles.assign(Some(form), Role::AcroForm);
        if let Some(form) = resolve(doc, form).and_then(|form| form.as_dict().ok()) {
            roles.assign(form.get(b"Fields").ok(), Role::Fields);
            let mut fields: Vec<&Object> = array(doc, form, b"Fields").iter().collect();
            let mut visited = 0;
            while let Some(field) = fields.pop()
                && visited < 10_000
            {
                visited += 1;
                if roles.assign(Some(field), Role::Field)
                    && let Some(field) = resolve(doc, field).and_then(|field| field.as_dict().ok())
                {
                    fields.extend(array(doc, field, b"Kids"));
                }
            }
        }
    }
    for (number, page) in pages.iter().enumerate() {
        for annotation in array(doc, page, b"Annots") {
            roles.assign(Some(annotation), Role::Annotation(number + 1));
        }
    }
    // Metadata and validation data may change more freely than content, so these roles only go
    // to objects the content cannot reach: pointing the DSS or /Metadata at, say, a page's
    // content stream must not make changing that stream allowed.
    roles.content = reachable_from_catalog(doc, catalog);
    roles.assign(catalog.get(b"Metadata").ok(), Role::Metadata);
    roles.assign(doc.trailer.get(b"Info").ok(), Role::Info);
    if let Ok(dss) = catalog.get(b"DSS") {
        roles.assign(Some(dss), Role::Dss);
        if let Some(dss) = resolve(doc, dss).and_then(|dss| dss.as_dict().ok()) {
            assign_dss(doc, dss, &mut roles);
            if let Some(vri) = get_dict(doc, dss, b"VRI") {
                roles.assign(dss.get(b"VRI").ok(), Role::Dss);
                for (_, entry) in vri.iter() {
                    roles.assign(Some(entry), Role::Dss);
                    if let Some(entry) = resolve(doc, entry).and_then(|entry| entry.as_dict().ok())
                    {
                        assign_dss(doc, entry, &mut roles);
                    }
                }
            }
        }
    }
    roles.roles
}

/// The objects reachable from the catalog other than through `/DSS` and `/Metadata`.
fn reachable_from_catalog(doc: &Document, catalog: &Dictionary) -> HashSet<ObjectId> {
    let mut reached = HashSet::new();
    if let Ok(Object::Reference(root)) = doc.trailer.get(b"Root") {
        reached.insert(*root);
    }
    let mut pending: Vec<&Object> = catalog
        .iter()
        .filter(|(key, _)| !matches!(key.as_slice(), b"DSS" | b"Metadata"))
        .map(|(_, value)| value)
        .collect();
    while let Some(object) = pending.pop() {
        match object {
            Object::Reference(id) => {
                if reached.insert(*id)
                    && let Some(target) = doc.objects.get(id)
                {
                    pending.push(target);
                }
            }
            Object::Array(items) => pending.extend(items),
            Object::Dictionary(dict) => pending.extend(dict.iter().map(|(_, value)| value)),
            Object::Stream(stream) => pending.extend(stream.dict.iter().map(|(_, value)| value)),
            _ => {}
        }
    }
    reached
}

/// The arrays of validation data in a DSS or VRI dictionary, and their streams.
fn assign_dss(doc: &Document, dict: &Dictionary, roles: &mut Roles) {
    for key in [
        b"Certs".as_slice(),
        b"CRLs",
        b"OCSPs",
        b"Cert",
        b"CRL",
        b"OCSP",
        b"TS",
    ] {
        roles.assign(dict.get(key).ok(), Role::Dss);
        for item in array(doc, dict, key) {
            roles.assign(Some(item), Role::Dss);
        }
    }
}

#[derive(Default)]
struct Roles {
    roles: HashMap<ObjectId, Role>,
    /// Objects that are part of the content: no metadata or DSS role for them.
    content: HashSet<ObjectId>,
}

impl Roles {
    /// Gives the object `object` refers to the role, unless it has one; whether it was given.
    fn assign(&mut self, object: Option<&Object>, role: Role) -> bool {
        let Some(Object::Reference(id)) = object else {
            return false;
        };
        let free_role = matches!(role, Role::Metadata | Role::Info | Role::Dss);
        if self.roles.contains_key(id) || (free_role && self.content.contains(id)) {
            return false;
        }
        self.roles.insert(*id, role);
        true
    }
}

fn collect_pages<'a>(
    doc: &'a Document,
    node: Option<&'a Object>,
    roles: &mut Roles,
    pages: &mut Vec<&'a Dictionary>,
    depth: usize,
) {
    let Some(node) = node else {
        return;
    };
    let Some(dict) = resolve(doc, node).and_then(|node| node.as_dict().ok()) else {
        return;
    };
    if get_name(doc, dict, b"Type") == Some(b"Page".as_slice()) {
        roles.assign(Some(node), Role::Page(pages.len() + 1));
        pages.push(dict);
        return;
    }
    let first_visit = roles.assign(Some(node), Role::PageTree);
    if depth > 32 || (matches!(node, Object::Reference(_)) && !first_visit) {
        return;
    }
    for kid in array(doc, dict, b"Kids") {
        collect_pages(doc, Some(kid), roles, pages, depth + 1);
    }
}

struct Diff<'a> {
    old: &'a Document,
    new: &'a Document,
    roles: HashMap<ObjectId, Role>,
    /// The revision adds a signature, a document timestamp or validation data.
    adds_signature_data: bool,
    /// Metadata changes: allowed only alongside such an addition.
    metadata: Vec<String>,
    disallowed: Vec<String>,
}

impl Diff<'_> {
    fn disallow(&mut self, change: String) {
        self.disallowed.push(change);
    }

    fn trailer(&mut self) {
        let (old, new) = (&self.old.trailer, &self.new.trailer);
        let old_root = old.get(b"Root").ok();
        if old_root != new.get(b"Root").ok() {
            match (catalog(self.old), catalog(self.new)) {
                (Some(old), Some(new)) => self.catalog(old, new),
                _ => self.disallow("the document catalog changed".into()),
            }
        }
        if old.get(b"Info").ok() != new.get(b"Info").ok()
            && get_dict(self.old, old, b"Info") != get_dict(self.new, new, b"Info")
        {
            self.metadata
                .push("the document information dictionary (/Info) changed".into());
        }
        if old.get(b"Encrypt").ok() != new.get(b"Encrypt").ok() {
            self.disallow("the encryption changed".into());
        }
    }

    fn changed(&mut self, id: ObjectId, old: &Object, new: &Object) {
        let role = self.roles.get(&id).copied();
        let dicts = (old.as_dict().ok(), new.as_dict().ok());
        match (role, dicts) {
            (Some(Role::Catalog), (Some(old), Some(new))) => self.catalog(old, new),
            (Some(Role::Page(number)), (Some(old), Some(new))) => self.page(number, old, new),
            (Some(Role::Annotation(number)), (Some(old), Some(new))) => {
                self.annotation(number, old, new);
            }
            (Some(Role::AcroForm), (Some(old), Some(new))) => self.form(Some(old), new),
            (Some(Role::Field), (Some(old), Some(new))) => self.field(old, new),
            (Some(Role::Annots(number)), _) => match (old.as_array(), new.as_array()) {
                (Ok(old), Ok(new)) => self.annots(number, old, new),
                _ => self.disallow(format!("page {number}: /Annots changed")),
            },
            (Some(Role::Fields), _) => match (old.as_array(), new.as_array()) {
                (Ok(old), Ok(new)) => self.fields(old, new),
                _ => self.disallow("the form's /Fields changed".into()),
            },
            (Some(Role::PageTree), _) => self.disallow("the page tree changed".into()),
            (Some(Role::Metadata), _) => {
                self.metadata.push("the XMP metadata stream changed".into())
            }
            (Some(Role::Info), _) => self
                .metadata
                .push("the document information dictionary (/Info) changed".into()),
            (Some(Role::Dss), _) => self.adds_signature_data = true,
            _ => self.disallow(format!(
                "object {} {} ({}) changed",
                id.0,
                id.1,
                describe(new)
            )),
        }
    }

    fn catalog(&mut self, old: &Dictionary, new: &Dictionary) {
        for key in changed_keys(old, new) {
            match key.as_slice() {
                b"AcroForm" => match get_dict(self.new, new, b"AcroForm") {
                    Some(form) => self.form(get_dict(self.old, old, b"AcroForm"), form),
                    None => self.disallow("the interactive form was removed".into()),
                },
                b"DSS" => self.adds_signature_data = true,
                b"Metadata" | b"Extensions" | b"Version" => self
                    .metadata
                    .push(format!("the catalog's /{} changed", name(&key))),
                _ => self.disallow(format!("the catalog's /{} changed", name(&key))),
            }
        }
    }

    fn form(&mut self, old: Option<&Dictionary>, new: &Dictionary) {
        let empty = Dictionary::new();
        let old = old.unwrap_or(&empty);
        for key in changed_keys(old, new) {
            match key.as_slice() {
                b"Fields" => {
                    let (old_doc, new_doc) = (self.old, self.new);
                    self.fields(
                        array(old_doc, old, b"Fields"),
                        array(new_doc, new, b"Fields"),
                    );
                }
                b"SigFlags" | b"DR" | b"DA" => {}
                _ => self.disallow(format!("the form's /{} changed", name(&key))),
            }
        }
    }

    fn fields(&mut self, old: &[Object], new: &[Object]) {
        if old.iter().any(|field| !new.contains(field)) {
            self.disallow("a form field was removed".into());
        }
        for field in new.iter().filter(|field| !old.contains(field)) {
            let dict = resolve(self.new, field).and_then(|field| field.as_dict().ok());
            match dict {
                Some(dict) if get_name(self.new, dict, b"FT") == Some(b"Sig".as_slice()) => {
                    if dict.has(b"V") {
                        self.adds_signature_data = true;
                    }
                }
                _ => self.disallow("a form field other than a signature field was added".into()),
            }
        }
    }

    fn page(&mut self, number: usize, old: &Dictionary, new: &Dictionary) {
        for key in changed_keys(old, new) {
            if key == b"Annots" {
                let (old_doc, new_doc) = (self.old, self.new);
                self.annots(
                    number,
                    array(old_doc, old, b"Annots"),
                    array(new_doc, new, b"Annots"),
                );
            } else {
                self.disallow(format!("page {number}: /{} changed", name(&key)));
            }
        }
    }

    fn annots(&mut self, number: usize, old: &[Object], new: &[Object]) {
        if old.iter().any(|annotation| !new.contains(annotation)) {
            self.disallow(format!("page {number}: an annotation was removed"));
        }
        for annotation in new.iter().filter(|annotation| !old.contains(annotation)) {
            let dict =
                resolve(self.new, annotation).and_then(|annotation| annotation.as_dict().ok());
            if !dict.is_some_and(|dict| self.is_signature_widget(dict)) {
                self.disallow(format!(
                    "page {number}: an annotation other than a signature widget was added"
                ));
            }
        }
    }

    /// A widget annotation of a signature field (merged with it or a kid of it).
    fn is_signature_widget(&self, dict: &Dictionary) -> bool {
        get_name(self.new, dict, b"Subtype") == Some(b"Widget".as_slice())
            && self.field_type(dict) == Some(b"Sig".as_slice())
    }

    /// `/FT`, inherited from the parent fields.
    fn field_type<'d>(&'d self, mut dict: &'d Dictionary) -> Option<&'d [u8]> {
        for _ in 0..32 {
            if let Some(field_type) = get_name(self.new, dict, b"FT") {
                return Some(field_type);
            }
            dict = get_dict(self.new, dict, b"Parent")?;
        }
        None
    }

    /// An existing annotation changed: only a signature widget's appearance, while its field is
    /// being signed.
    fn annotation(&mut self, number: usize, old: &Dictionary, new: &Dictionary) {
        let being_signed = self.is_signature_widget(new)
            && new
                .get(b"Parent")
                .is_ok_and(|parent| self.newly_signed(parent));
        let only_appearance = changed_keys(old, new)
            .iter()
            .all(|key| matches!(key.as_slice(), b"AP" | b"AS" | b"F"));
        if !(being_signed && only_appearance) {
            self.disallow(format!("page {number}: an annotation changed"));
        }
    }

    /// Whether the field `field` refers to has a value now and had none before.
    fn newly_signed(&self, field: &Object) -> bool {
        let has_value = |doc: &Document| {
            resolve(doc, field)
                .and_then(|field| field.as_dict().ok())
                .is_some_and(|field| field.has(b"V"))
        };
        has_value(self.new) && !has_value(self.old)
    }

    /// An existing form field changed: only an empty signature field getting its value (and
    /// appearance).
    fn field(&mut self, old: &Dictionary, new: &Dictionary) {
        let field = new
            .get(b"T")
            .and_then(Object::as_str)
            .map_or_else(|_| "(unnamed)".to_owned(), text);
        if self.field_type(new) != Some(b"Sig".as_slice()) {
            self.disallow(format!("form field {field:?} changed"));
            return;
        }
        let was_signed = old.has(b"V");
        for key in changed_keys(old, new) {
            match key.as_slice() {
                b"V" if !was_signed => self.adds_signature_data = true,
                b"AP" | b"AS" | b"F" | b"MK" if !was_signed => {}
                _ => self.disallow(format!(
                    "signature field {field:?}: /{} changed{}",
                    name(&key),
                    if was_signed {
                        " after it was signed"
                    } else {
                        ""
                    }
                )),
            }
        }
    }
}

/// A short description of an object for the report.
fn describe(object: &Object) -> String {
    let (kind, dict) = match object {
        Object::Stream(stream) => ("stream", Some(&stream.dict)),
        Object::Dictionary(dict) => ("dictionary", Some(dict)),
        Object::Array(_) => ("array", None),
        _ => ("value", None),
    };
    match dict.and_then(|dict| dict.get(b"Type").and_then(Object::as_name).ok()) {
        Some(type_name) => format!("/Type /{} {kind}", name(type_name)),
        None => kind.to_owned(),
    }
}
