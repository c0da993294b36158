//! Reading what a client submits, as Oozie checks it: the Hadoop
//! configuration XML of a submission, a workflow.xml against the XSDs of the
//! workflow and of each action type (element order and counts, as Xerces
//! checks a sequence), and a coordinator.xml.
//!
//! Public so that tests can validate the workflow an engine uploaded and read
//! what it holds.

use roxmltree::{Document, Node as XNode};

/// An XML or schema error as Oozie reports it: a code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    pub code: &'static str,
    pub message: String,
}

impl std::fmt::Display for SchemaError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

fn schema(message: impl Into<String>) -> SchemaError {
    SchemaError { code: "E0701", message: format!("XML schema error, {}", message.into()) }
}

fn xml_error(message: impl Into<String>) -> SchemaError {
    SchemaError { code: "E0700", message: format!("XML error, {}", message.into()) }
}

pub const WORKFLOW_NAMESPACES: &[&str] = &[
    "uri:oozie:workflow:0.1",
    "uri:oozie:workflow:0.2",
    "uri:oozie:workflow:0.2.5",
    "uri:oozie:workflow:0.3",
    "uri:oozie:workflow:0.4",
    "uri:oozie:workflow:0.4.5",
    "uri:oozie:workflow:0.5",
    "uri:oozie:workflow:1.0",
];

/// One element, as the tests read it back.
#[derive(Debug, Clone)]
pub struct Element {
    pub name: String,
    pub namespace: String,
    pub attrs: Vec<(String, String)>,
    /// The text directly inside, trimmed.
    pub text: String,
    pub children: Vec<Element>,
}

impl Element {
    fn from(node: XNode<'_, '_>) -> Self {
        let text: String = node.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect();
        Self {
            name: node.tag_name().name().to_string(),
            namespace: node.tag_name().namespace().unwrap_or_default().to_string(),
            attrs: node.attributes().map(|a| (a.name().to_string(), a.value().to_string())).collect(),
            text: text.trim().to_string(),
            children: node.children().filter(|c| c.is_element()).map(Element::from).collect(),
        }
    }

    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child called `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The texts of every child called `name`, in order.
    pub fn texts(&self, name: &str) -> Vec<&str> {
        self.children.iter().filter(|c| c.name == name).map(|c| c.text.as_str()).collect()
    }

    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// `<configuration><property><name/><value/></property>*` as pairs.
    pub fn properties(&self) -> Vec<(String, String)> {
        self.child("configuration")
            .map(|c| {
                c.children
                    .iter()
                    .filter(|p| p.name == "property")
                    .map(|p| {
                        (p.text_of("name").unwrap_or("").to_string(), p.text_of("value").unwrap_or("").to_string())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn property(&self, name: &str) -> Option<String> {
        self.properties().into_iter().rev().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

#[derive(Debug, Clone)]
pub struct ActionDef {
    /// `map-reduce`, `java`, `pig`, `shell`, `hive`, `spark`, `fs`, ...
    pub kind: String,
    /// The action element as submitted (Oozie shows it as the action's `conf`).
    pub xml: String,
    pub element: Element,
    pub ok: String,
    pub error: String,
}

#[derive(Debug, Clone)]
pub enum NodeKind {
    Action(ActionDef),
    Kill { message: String },
    End,
    Fork { paths: Vec<String> },
    Join { to: String },
    Decision { targets: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
}

#[derive(Debug, Clone)]
pub struct WorkflowDef {
    pub name: String,
    pub namespace: String,
    pub start: String,
    pub nodes: Vec<Node>,
    /// `<parameters>`: name and default.
    pub parameters: Vec<(String, Option<String>)>,
}

impl WorkflowDef {
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn actions(&self) -> Vec<&ActionDef> {
        self.nodes
            .iter()
            .filter_map(|n| match &n.kind {
                NodeKind::Action(a) => Some(a),
                _ => None,
            })
            .collect()
    }
}

/// One entry of a sequence in an XSD: which element names (a choice when
/// several), how many times.
#[derive(Clone, Copy)]
struct Slot {
    names: &'static [&'static str],
    min: u32,
    max: u32,
}

const MANY: u32 = u32::MAX;

const fn opt(names: &'static [&'static str]) -> Slot {
    Slot { names, min: 0, max: 1 }
}
const fn one(names: &'static [&'static str]) -> Slot {
    Slot { names, min: 1, max: 1 }
}
const fn many(names: &'static [&'static str]) -> Slot {
    Slot { names, min: 0, max: MANY }
}
const fn some(names: &'static [&'static str]) -> Slot {
    Slot { names, min: 1, max: MANY }
}

// `resource-manager` and `launcher` are workflow 1.0's; accepted everywhere.
const HEAD: [Slot; 4] =
    [opt(&["job-tracker", "resource-manager"]), opt(&["name-node"]), opt(&["prepare"]), opt(&["launcher"])];

const MAP_REDUCE: &[Slot] = &[
    opt(&["job-tracker", "resource-manager"]),
    opt(&["name-node"]),
    opt(&["prepare"]),
    opt(&["launcher"]),
    opt(&["streaming", "pipes"]),
    many(&["job-xml"]),
    opt(&["configuration"]),
    opt(&["config-class"]),
    many(&["file"]),
    many(&["archive"]),
];
const JAVA: &[Slot] = &[
    HEAD[0],
    HEAD[1],
    HEAD[2],
    HEAD[3],
    many(&["job-xml"]),
    opt(&["configuration"]),
    one(&["main-class"]),
    // (java-opts | java-opt+)?
    many(&["java-opts", "java-opt"]),
    many(&["arg"]),
    many(&["file"]),
    many(&["archive"]),
    opt(&["capture-output"]),
];
const PIG: &[Slot] = &[
    HEAD[0],
    HEAD[1],
    HEAD[2],
    HEAD[3],
    many(&["job-xml"]),
    opt(&["configuration"]),
    one(&["script"]),
    many(&["param"]),
    many(&["argument"]),
    many(&["file"]),
    many(&["archive"]),
];
const SHELL: &[Slot] = &[
    HEAD[0],
    HEAD[1],
    HEAD[2],
    HEAD[3],
    many(&["job-xml"]),
    opt(&["configuration"]),
    one(&["exec"]),
    many(&["argument"]),
    many(&["env-var"]),
    many(&["file"]),
    many(&["archive"]),
    opt(&["capture-output"]),
];
const HIVE: &[Slot] = &[
    HEAD[0],
    HEAD[1],
    HEAD[2],
    HEAD[3],
    many(&["job-xml"]),
    opt(&["configuration"]),
    one(&["script"]),
    many(&["param"]),
    many(&["argument"]),
    many(&["file"]),
    many(&["archive"]),
];
const SPARK_0_2: &[Slot] = &[
    HEAD[0],
    HEAD[1],
    HEAD[2],
    HEAD[3],
    many(&["job-xml"]),
    opt(&["configuration"]),
    one(&["master"]),
    opt(&["mode"]),
    one(&["name"]),
    opt(&["class"]),
    one(&["jar"]),
    opt(&["spark-opts"]),
    many(&["arg"]),
    many(&["file"]),
    many(&["archive"]),
];
const SPARK_0_1: &[Slot] = &[
    one(&["job-tracker"]),
    one(&["name-node"]),
    opt(&["prepare"]),
    many(&["job-xml"]),
    opt(&["configuration"]),
    one(&["master"]),
    opt(&["mode"]),
    one(&["name"]),
    opt(&["class"]),
    one(&["jar"]),
    opt(&["spark-opts"]),
    many(&["arg"]),
];
const FS: &[Slot] = &[
    opt(&["name-node"]),
    many(&["job-xml"]),
    opt(&["configuration"]),
    many(&["delete", "mkdir", "move", "chmod", "touchz", "chgrp", "setrep"]),
];
const SUB_WORKFLOW: &[Slot] = &[one(&["app-path"]), opt(&["propagate-configuration"]), opt(&["configuration"])];
const STREAMING: &[Slot] =
    &[opt(&["mapper"]), opt(&["reducer"]), opt(&["record-reader"]), many(&["record-reader-mapping"]), many(&["env"])];
const CONFIGURATION: &[Slot] = &[some(&["property"])];
const PROPERTY: &[Slot] = &[one(&["name"]), one(&["value"]), opt(&["description"])];
const PREPARE: &[Slot] = &[many(&["delete"]), many(&["mkdir"])];

/// The schema of an action type element, by namespace and name; `None` for
/// types accepted without a check of their content.
fn action_schema(namespace: &str, name: &str) -> Result<Option<&'static [Slot]>, SchemaError> {
    let version = |prefix: &str, known: &[&str]| -> Result<(), SchemaError> {
        let v = namespace.strip_prefix(prefix).unwrap_or_default();
        if known.contains(&v) {
            Ok(())
        } else {
            Err(schema(format!(
                "cvc-complex-type.2.4.c: The matching wildcard is strict, but no declaration can be found for element '{name}'."
            )))
        }
    };
    if WORKFLOW_NAMESPACES.contains(&namespace) {
        return match name {
            "map-reduce" => Ok(Some(MAP_REDUCE)),
            "java" => Ok(Some(JAVA)),
            "pig" => Ok(Some(PIG)),
            "fs" => Ok(Some(FS)),
            "sub-workflow" => Ok(Some(SUB_WORKFLOW)),
            other => Err(schema(format!(
                "cvc-complex-type.2.4.a: Invalid content was found starting with element '{other}'. One of \
                 '{{\"{namespace}\":map-reduce, \"{namespace}\":pig, \"{namespace}\":sub-workflow, \
                 \"{namespace}\":fs, \"{namespace}\":java, WC[##other:\"{namespace}\"]}}' is expected."
            ))),
        };
    }
    match name {
        "shell" => version("uri:oozie:shell-action:", &["0.1", "0.2", "0.3", "1.0"]).map(|_| Some(SHELL)),
        "hive" => version("uri:oozie:hive-action:", &["0.2", "0.3", "0.4", "0.5", "0.6", "1.0"]).map(|_| Some(HIVE)),
        "spark" => version("uri:oozie:spark-action:", &["0.1", "0.2", "1.0"])
            .map(|_| Some(if namespace.ends_with(":0.1") { SPARK_0_1 } else { SPARK_0_2 })),
        "hive2" => version("uri:oozie:hive2-action:", &["0.1", "0.2", "1.0"]).map(|_| None),
        "sqoop" => version("uri:oozie:sqoop-action:", &["0.2", "0.3", "0.4", "1.0"]).map(|_| None),
        "email" => version("uri:oozie:email-action:", &["0.1", "0.2"]).map(|_| None),
        "distcp" => version("uri:oozie:distcp-action:", &["0.1", "0.2", "1.0"]).map(|_| None),
        "ssh" => version("uri:oozie:ssh-action:", &["0.1", "0.2"]).map(|_| None),
        _ => Err(schema(format!(
            "cvc-complex-type.2.4.c: The matching wildcard is strict, but no declaration can be found for element '{name}'."
        ))),
    }
}

/// Checks `parent`'s element children against a sequence, Xerces-style.
fn check_sequence(parent: XNode<'_, '_>, slots: &[Slot]) -> Result<(), SchemaError> {
    let ns = parent.tag_name().namespace().unwrap_or_default();
    let expected = |from: usize, count: u32| -> String {
        let mut names = Vec::new();
        for (i, slot) in slots.iter().enumerate().skip(from) {
            if i == from && count >= slot.max {
                continue;
            }
            names.extend(slot.names.iter().map(|n| format!("\"{ns}\":{n}")));
            if slot.min > 0 && !(i == from && count >= slot.min) {
                break;
            }
        }
        names.join(", ")
    };
    let mut at = 0;
    let mut count = 0;
    for child in parent.children().filter(|c| c.is_element()) {
        let name = child.tag_name().name();
        if child.tag_name().namespace().unwrap_or_default() != ns {
            return Err(schema(format!(
                "cvc-complex-type.2.4.a: Invalid content was found starting with element '{name}' in namespace '{}'. \
                 One of '{{{}}}' is expected.",
                child.tag_name().namespace().unwrap_or_default(),
                expected(at, count)
            )));
        }
        loop {
            let Some(slot) = slots.get(at) else {
                return Err(schema(format!(
                    "cvc-complex-type.2.4.d: Invalid content was found starting with element '{name}'. \
                     No child element is expected at this point."
                )));
            };
            if slot.names.contains(&name) && count < slot.max {
                count += 1;
                break;
            }
            if count >= slot.min {
                at += 1;
                count = 0;
                continue;
            }
            return Err(schema(format!(
                "cvc-complex-type.2.4.a: Invalid content was found starting with element '{name}'. \
                 One of '{{{}}}' is expected.",
                expected(at, count)
            )));
        }
    }
    while let Some(slot) = slots.get(at) {
        if count < slot.min {
            return Err(schema(format!(
                "cvc-complex-type.2.4.b: The content of element '{}' is not complete. One of '{{{}}}' is expected.",
                parent.tag_name().name(),
                expected(at, count)
            )));
        }
        at += 1;
        count = 0;
    }
    Ok(())
}

fn check_nested(node: XNode<'_, '_>) -> Result<(), SchemaError> {
    for child in node.children().filter(|c| c.is_element()) {
        match child.tag_name().name() {
            "configuration" => {
                check_sequence(child, CONFIGURATION)?;
                for property in child.children().filter(|c| c.is_element()) {
                    check_sequence(property, PROPERTY)?;
                }
            }
            "streaming" => check_sequence(child, STREAMING)?,
            "prepare" => {
                check_sequence(child, PREPARE)?;
                for step in child.children().filter(|c| c.is_element()) {
                    if step.attribute("path").is_none() {
                        return Err(schema(format!(
                            "cvc-complex-type.4: Attribute 'path' must appear on element '{}'.",
                            step.tag_name().name()
                        )));
                    }
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn attribute<'a>(node: XNode<'a, '_>, name: &str) -> Result<&'a str, SchemaError> {
    node.attribute(name).ok_or_else(|| {
        schema(format!("cvc-complex-type.4: Attribute '{name}' must appear on element '{}'.", node.tag_name().name()))
    })
}

fn transition(node: XNode<'_, '_>, element: &str) -> Result<String, SchemaError> {
    let child = node
        .children()
        .find(|c| c.is_element() && c.tag_name().name() == element)
        .ok_or_else(|| schema(format!("cvc-complex-type.2.4.b: The content of element 'action' is not complete. One of '{{{element}}}' is expected.")))?;
    attribute(child, "to").map(str::to_string)
}

/// Parses and checks a workflow.xml.
pub fn parse(xml: &str) -> Result<WorkflowDef, SchemaError> {
    let doc = Document::parse(xml).map_err(|e| xml_error(e.to_string()))?;
    let root = doc.root_element();
    let namespace = root.tag_name().namespace().unwrap_or_default().to_string();
    if root.tag_name().name() != "workflow-app" || !WORKFLOW_NAMESPACES.contains(&namespace.as_str()) {
        return Err(schema(format!("cvc-elt.1: Cannot find the declaration of element '{}'.", root.tag_name().name())));
    }
    let name = attribute(root, "name")?.to_string();
    let mut start = None;
    let mut nodes = Vec::new();
    let mut parameters = Vec::new();
    let mut seen_end = false;
    for child in root.children().filter(|c| c.is_element()) {
        let tag = child.tag_name().name();
        if child.tag_name().namespace().unwrap_or_default() != namespace {
            // sla:info is the one foreign element a workflow may hold.
            if tag == "info" {
                continue;
            }
            return Err(schema(format!(
                "cvc-complex-type.2.4.a: Invalid content was found starting with element '{tag}'."
            )));
        }
        let order_error =
            || schema(format!("cvc-complex-type.2.4.a: Invalid content was found starting with element '{tag}'."));
        match tag {
            "parameters" | "global" | "credentials" if start.is_none() => {
                if tag == "parameters" {
                    for property in child.children().filter(|c| c.is_element()) {
                        let text = |n: &str| {
                            property
                                .children()
                                .find(|c| c.is_element() && c.tag_name().name() == n)
                                .map(|c| c.text().unwrap_or("").trim().to_string())
                        };
                        let pname = text("name").ok_or_else(|| schema("a parameter has no name"))?;
                        parameters.push((pname, text("value")));
                    }
                }
            }
            "start" if start.is_none() => start = Some(attribute(child, "to")?.to_string()),
            "action" | "kill" | "decision" | "fork" | "join" if start.is_some() && !seen_end => {
                let node_name = attribute(child, "name")?.to_string();
                let kind = match tag {
                    "action" => NodeKind::Action(action(xml, child)?),
                    "kill" => NodeKind::Kill {
                        message: child
                            .children()
                            .find(|c| c.is_element() && c.tag_name().name() == "message")
                            .and_then(|m| m.text())
                            .unwrap_or("")
                            .to_string(),
                    },
                    "fork" => NodeKind::Fork {
                        paths: child
                            .children()
                            .filter(|c| c.is_element())
                            .map(|p| attribute(p, "start").map(str::to_string))
                            .collect::<Result<_, _>>()?,
                    },
                    "join" => NodeKind::Join { to: attribute(child, "to")?.to_string() },
                    _ => NodeKind::Decision {
                        targets: child
                            .descendants()
                            .filter(|c| c.is_element() && matches!(c.tag_name().name(), "case" | "default"))
                            .map(|c| attribute(c, "to").map(str::to_string))
                            .collect::<Result<_, _>>()?,
                    },
                };
                if nodes.iter().any(|n: &Node| n.name == node_name) {
                    return Err(SchemaError {
                        code: "E0705",
                        message: format!("E0705: Nnode already defined, node [{node_name}]"),
                    });
                }
                nodes.push(Node { name: node_name, kind });
            }
            "end" if start.is_some() && !seen_end => {
                seen_end = true;
                nodes.push(Node { name: attribute(child, "name")?.to_string(), kind: NodeKind::End });
            }
            _ => return Err(order_error()),
        }
    }
    let Some(start) = start else {
        return Err(schema(
            "cvc-complex-type.2.4.b: The content of element 'workflow-app' is not complete. One of '{start}' is expected.",
        ));
    };
    if !seen_end {
        return Err(schema(
            "cvc-complex-type.2.4.b: The content of element 'workflow-app' is not complete. One of '{end}' is expected.",
        ));
    }
    let def = WorkflowDef { name, namespace, start, nodes, parameters };
    check_transitions(&def)?;
    Ok(def)
}

fn check_transitions(def: &WorkflowDef) -> Result<(), SchemaError> {
    let exists = |from: &str, to: &str| {
        if def.node(to).is_some() {
            Ok(())
        } else {
            Err(SchemaError {
                code: "E0708",
                message: format!("E0708: Invalid transition, node [{from}] transition [{to}]"),
            })
        }
    };
    exists(":start:", &def.start)?;
    for node in &def.nodes {
        let targets: Vec<&String> = match &node.kind {
            NodeKind::Action(a) => vec![&a.ok, &a.error],
            NodeKind::Fork { paths } => paths.iter().collect(),
            NodeKind::Join { to } => vec![to],
            NodeKind::Decision { targets } => targets.iter().collect(),
            NodeKind::Kill { .. } | NodeKind::End => vec![],
        };
        for to in targets {
            if *to == node.name {
                return Err(SchemaError {
                    code: "E0706",
                    message: format!("E0706: Node cannot transition to itself node [{to}]"),
                });
            }
            exists(&node.name, to)?;
        }
    }
    Ok(())
}

fn action(source: &str, node: XNode<'_, '_>) -> Result<ActionDef, SchemaError> {
    let elements: Vec<XNode<'_, '_>> = node.children().filter(|c| c.is_element()).collect();
    let Some(body) = elements.first() else {
        return Err(schema("cvc-complex-type.2.4.b: The content of element 'action' is not complete."));
    };
    let kind = body.tag_name().name().to_string();
    if let Some(slots) = action_schema(body.tag_name().namespace().unwrap_or_default(), &kind)? {
        check_sequence(*body, slots)?;
        check_nested(*body)?;
    }
    let rest: Vec<&str> = elements[1..].iter().map(|e| e.tag_name().name()).collect();
    if rest.len() < 2 || rest[0] != "ok" || rest[1] != "error" || rest[2..].iter().any(|n| *n != "info") {
        return Err(schema(format!(
            "cvc-complex-type.2.4.a: Invalid content in action '{}': after <{kind}> come <ok> and <error>, found {rest:?}.",
            node.attribute("name").unwrap_or_default()
        )));
    }
    Ok(ActionDef {
        kind,
        xml: source[body.range()].to_string(),
        element: Element::from(*body),
        ok: transition(node, "ok")?,
        error: transition(node, "error")?,
    })
}

/// A submission's Hadoop configuration: `(name, value)` in document order.
pub fn parse_configuration(xml: &str) -> Result<Vec<(String, String)>, SchemaError> {
    let doc = Document::parse(xml).map_err(|e| xml_error(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "configuration" {
        return Err(xml_error(format!(
            "bad conf file: top-level element not <configuration>: {}",
            root.tag_name().name()
        )));
    }
    let mut pairs = Vec::new();
    for property in root.children().filter(|c| c.is_element()) {
        if property.tag_name().name() != "property" {
            return Err(xml_error(format!("bad conf file: element not <property>: {}", property.tag_name().name())));
        }
        let text = |n: &str| {
            property
                .children()
                .find(|c| c.is_element() && c.tag_name().name() == n)
                .map(|c| c.children().filter_map(|t| t.text()).collect::<String>())
        };
        let name = text("name").ok_or_else(|| xml_error("bad conf file: a property has no <name>"))?;
        pairs.push((name.trim().to_string(), text("value").unwrap_or_default()));
    }
    Ok(pairs)
}

#[derive(Debug, Clone)]
pub struct CoordinatorDef {
    pub name: String,
    /// Oozie's frequency and unit: `coord:days(1)` is `1` `DAY`, `60` is `60` `MINUTE`.
    pub frequency: String,
    pub time_unit: String,
    pub start: String,
    pub end: String,
    pub timezone: String,
    pub timeout: i64,
    pub concurrency: i64,
    pub execution: String,
    pub throttle: i64,
    pub app_path: String,
}

pub fn parse_coordinator(xml: &str) -> Result<CoordinatorDef, SchemaError> {
    let doc = Document::parse(xml).map_err(|e| xml_error(e.to_string()))?;
    let root = doc.root_element();
    let ns = root.tag_name().namespace().unwrap_or_default();
    if root.tag_name().name() != "coordinator-app" || !ns.starts_with("uri:oozie:coordinator:") {
        return Err(schema(format!("cvc-elt.1: Cannot find the declaration of element '{}'.", root.tag_name().name())));
    }
    let freq = attribute(root, "frequency")?.trim();
    let (frequency, time_unit) = if let Ok(n) = freq.parse::<i64>() {
        (n.to_string(), "MINUTE".to_string())
    } else {
        let call = freq.trim_start_matches("${").trim_end_matches('}');
        let arg =
            |f: &str| call.strip_prefix(f).and_then(|r| r.strip_suffix(')')).and_then(|n| n.trim().parse::<i64>().ok());
        if let Some(n) = arg("coord:minutes(") {
            (n.to_string(), "MINUTE".into())
        } else if let Some(n) = arg("coord:hours(") {
            ((n * 60).to_string(), "MINUTE".into())
        } else if let Some(n) = arg("coord:days(") {
            (n.to_string(), "DAY".into())
        } else if let Some(n) = arg("coord:months(") {
            (n.to_string(), "MONTH".into())
        } else {
            return Err(SchemaError {
                code: "E1003",
                message: format!("E1003: Invalid coordinator application attributes, frequency [{freq}] is not valid"),
            });
        }
    };
    let find = |parent: XNode<'_, '_>, name: &str| {
        parent
            .children()
            .find(|c| c.is_element() && c.tag_name().name() == name)
            .and_then(|c| c.text())
            .map(|t| t.trim().to_string())
    };
    let controls = root.children().find(|c| c.is_element() && c.tag_name().name() == "controls");
    let number =
        |name: &str, default: i64| controls.and_then(|c| find(c, name)).and_then(|v| v.parse().ok()).unwrap_or(default);
    let app_path = root
        .descendants()
        .find(|c| c.is_element() && c.tag_name().name() == "workflow")
        .and_then(|w| find(w, "app-path"))
        .ok_or_else(|| schema("cvc-complex-type.2.4.b: The content of element 'coordinator-app' is not complete. One of '{action}' is expected."))?;
    Ok(CoordinatorDef {
        name: attribute(root, "name")?.to_string(),
        frequency,
        time_unit,
        start: attribute(root, "start")?.to_string(),
        end: attribute(root, "end")?.to_string(),
        timezone: attribute(root, "timezone")?.to_string(),
        timeout: number("timeout", 120),
        concurrency: number("concurrency", 1),
        execution: controls.and_then(|c| find(c, "execution")).unwrap_or_else(|| "FIFO".into()),
        throttle: number("throttle", 12),
        app_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHELL_WF: &str = r#"<workflow-app xmlns="uri:oozie:workflow:0.5" name="wf">
  <start to="job-node"/>
  <action name="job-node">
    <shell xmlns="uri:oozie:shell-action:0.3">
      <job-tracker>${jobTracker}</job-tracker>
      <name-node>${nameNode}</name-node>
      <configuration><property><name>a</name><value>1</value></property></configuration>
      <exec>run.sh</exec>
      <argument>x</argument>
      <env-var>K=V</env-var>
      <file>run.sh</file>
    </shell>
    <ok to="end"/>
    <error to="fail"/>
  </action>
  <kill name="fail"><message>failed [${wf:errorMessage(wf:lastErrorNode())}]</message></kill>
  <end name="end"/>
</workflow-app>"#;

    #[test]
    fn a_shell_workflow_parses() {
        let wf = parse(SHELL_WF).unwrap();
        assert_eq!(wf.name, "wf");
        let action = wf.actions()[0];
        assert_eq!(action.kind, "shell");
        assert_eq!(action.element.text_of("exec"), Some("run.sh"));
        assert_eq!(action.element.properties(), [("a".to_string(), "1".to_string())]);
        assert!(action.xml.starts_with("<shell") && action.xml.ends_with("</shell>"));
        assert_eq!((action.ok.as_str(), action.error.as_str()), ("end", "fail"));
    }

    #[test]
    fn element_order_is_checked() {
        let bad = SHELL_WF
            .replace("<exec>run.sh</exec>\n      <argument>x</argument>", "<argument>x</argument><exec>run.sh</exec>");
        let e = parse(&bad).unwrap_err();
        assert_eq!(e.code, "E0701");
        assert!(e.message.contains("'argument'"), "{e}");
        let missing = SHELL_WF.replace("<exec>run.sh</exec>", "");
        assert!(parse(&missing).unwrap_err().message.contains("exec"));
        let unknown_ns = SHELL_WF.replace("shell-action:0.3", "shell-action:9.9");
        assert_eq!(parse(&unknown_ns).unwrap_err().code, "E0701");
        let bad_to = SHELL_WF.replace("<ok to=\"end\"/>", "<ok to=\"nowhere\"/>");
        assert_eq!(parse(&bad_to).unwrap_err().code, "E0708");
        assert_eq!(parse("<workflow-app").unwrap_err().code, "E0700");
    }

    #[test]
    fn java_and_map_reduce_sequences() {
        let java = r#"<workflow-app xmlns="uri:oozie:workflow:0.5" name="j"><start to="a"/>
          <action name="a"><java><job-tracker>x</job-tracker><name-node>y</name-node><main-class>M</main-class>
          <java-opts>-Xmx1g</java-opts><arg>1</arg><arg>2</arg></java><ok to="e"/><error to="k"/></action>
          <kill name="k"><message>m</message></kill><end name="e"/></workflow-app>"#;
        let wf = parse(java).unwrap();
        assert_eq!(wf.actions()[0].element.texts("arg"), ["1", "2"]);
        let no_main = java.replace("<main-class>M</main-class>", "");
        assert!(parse(&no_main).is_err());
        let mr = r#"<workflow-app xmlns="uri:oozie:workflow:0.5" name="m"><start to="a"/>
          <action name="a"><map-reduce><job-tracker>x</job-tracker><name-node>y</name-node>
          <streaming><mapper>cat</mapper><reducer>wc</reducer></streaming>
          <configuration><property><name>mapred.input.dir</name><value>/in</value></property></configuration>
          </map-reduce><ok to="e"/><error to="k"/></action>
          <kill name="k"><message>m</message></kill><end name="e"/></workflow-app>"#;
        assert!(parse(mr).is_ok());
        let streaming_late = mr.replace(
            "<streaming><mapper>cat</mapper><reducer>wc</reducer></streaming>\n          <configuration><property><name>mapred.input.dir</name><value>/in</value></property></configuration>",
            "<configuration><property><name>a</name><value>b</value></property></configuration><streaming><mapper>cat</mapper></streaming>",
        );
        assert!(parse(&streaming_late).is_err());
    }

    #[test]
    fn configuration_and_coordinator() {
        let conf = parse_configuration(
            "<configuration><property><name>user.name</name><value>u</value></property>\
             <property><name>x</name><value>a&amp;b</value></property></configuration>",
        )
        .unwrap();
        assert_eq!(conf[1], ("x".to_string(), "a&b".to_string()));
        let coord = parse_coordinator(
            r#"<coordinator-app name="c" frequency="${coord:days(1)}" start="2020-01-01T00:00Z" end="2030-01-01T00:00Z"
                timezone="UTC" xmlns="uri:oozie:coordinator:0.4"><controls><execution>LAST_ONLY</execution></controls>
                <action><workflow><app-path>hdfs://nn/app</app-path></workflow></action></coordinator-app>"#,
        )
        .unwrap();
        assert_eq!(
            (coord.frequency.as_str(), coord.time_unit.as_str(), coord.execution.as_str()),
            ("1", "DAY", "LAST_ONLY")
        );
    }
}
