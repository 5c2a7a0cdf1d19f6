//! The resource graph of one environment: a node per resource instance, an
//! edge from each dependency to its dependent (`main → orders`: `main` is
//! created first). Built by small steps, each tested on its own:
//!
//! 1. [`add_nodes`] — one node per instance, addresses unique;
//! 2. [`add_edges`] — one edge per `depends_on` entry (references and explicit);
//! 3. [`find_cycles`] — every cycle becomes one diagnostic naming all its resources.
//!
//! Rendering ([`to_dot`], [`to_json`], [`to_text`]) produces text; printing is the CLI's.

use std::collections::{HashMap, HashSet};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;

use tpt_lang::source::Span;
use tpt_lang::{Code, Diagnostic, ResourceInstance};

/// A resource instance in the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// `shop`, `cluster["eu-west-1"]`
    pub address: String,
    /// `k8s.App`
    pub schema: String,
    /// The resource declaration.
    pub span: Span,
}

/// The dependency graph of one environment.
#[derive(Debug, Default)]
pub struct ResourceGraph {
    pub graph: DiGraph<Node, ()>,
    index: HashMap<String, NodeIndex>,
}

impl ResourceGraph {
    /// The node of an address.
    pub fn node(&self, address: &str) -> Option<NodeIndex> {
        self.index.get(address).copied()
    }

    pub fn len(&self) -> usize {
        self.graph.node_count()
    }

    pub fn is_empty(&self) -> bool {
        self.graph.node_count() == 0
    }

    /// Addresses a resource depends on, sorted.
    pub fn dependencies(&self, address: &str) -> Vec<&str> {
        self.neighbours(address, Direction::Incoming)
    }

    /// Addresses that depend on a resource, sorted.
    pub fn dependents(&self, address: &str) -> Vec<&str> {
        self.neighbours(address, Direction::Outgoing)
    }

    fn neighbours(&self, address: &str, dir: Direction) -> Vec<&str> {
        let Some(n) = self.node(address) else {
            return Vec::new();
        };
        let mut out: Vec<&str> = self
            .graph
            .neighbors_directed(n, dir)
            .filter_map(|m| self.graph.node_weight(m))
            .map(|w| w.address.as_str())
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The addresses in an order where every dependency comes before its
    /// dependents (ties in declaration order); `None` if there is a cycle.
    pub fn creation_order(&self) -> Option<Vec<&str>> {
        // Kahn's algorithm over declaration order keeps the result stable.
        let mut indegree: Vec<usize> = self
            .graph
            .node_indices()
            .map(|n| self.graph.neighbors_directed(n, Direction::Incoming).count())
            .collect();
        let mut ready: std::collections::BTreeSet<usize> = indegree
            .iter()
            .enumerate()
            .filter(|(_, d)| **d == 0)
            .map(|(i, _)| i)
            .collect();
        let mut out = Vec::with_capacity(self.len());
        while let Some(i) = ready.pop_first() {
            let n = NodeIndex::new(i);
            out.push(
                self.graph
                    .node_weight(n)
                    .map(|w| w.address.as_str())
                    .unwrap_or(""),
            );
            for m in self.graph.neighbors_directed(n, Direction::Outgoing) {
                if let Some(d) = indegree.get_mut(m.index()) {
                    *d = d.saturating_sub(1);
                    if *d == 0 {
                        ready.insert(m.index());
                    }
                }
            }
        }
        (out.len() == self.len()).then_some(out)
    }
}

/// Builds the graph of an evaluated environment; cycles are diagnostics.
pub fn build(resources: &[ResourceInstance]) -> Result<ResourceGraph, Vec<Diagnostic>> {
    let mut g = ResourceGraph::default();
    add_nodes(&mut g, resources);
    add_edges(&mut g, resources);
    let cycles = find_cycles(&g);
    if cycles.is_empty() {
        Ok(g)
    } else {
        Err(cycles)
    }
}

/// Step 1: a node per instance (the evaluator guarantees unique addresses;
/// a repeated one keeps its first node).
pub fn add_nodes(g: &mut ResourceGraph, resources: &[ResourceInstance]) {
    for r in resources {
        if g.index.contains_key(&r.address) {
            continue;
        }
        let n = g.graph.add_node(Node {
            address: r.address.clone(),
            schema: r.schema_name.clone(),
            span: r.span,
        });
        g.index.insert(r.address.clone(), n);
    }
}

/// Step 2: an edge from each dependency to its dependent. Dependencies on
/// addresses that are not in the graph are left out (they failed to evaluate
/// and were reported then).
///
/// An instance's dependencies are a set, so its edges are distinct; a repeated
/// address (whose node is the first one's) adds none, as it adds no node.
/// (Asking the graph whether an edge exists walks all edges of its node: with
/// one resource that every other depends on, that was quadratic.)
pub fn add_edges(g: &mut ResourceGraph, resources: &[ResourceInstance]) {
    let mut seen = HashSet::with_capacity(resources.len());
    for r in resources {
        if !seen.insert(r.address.as_str()) {
            continue;
        }
        let Some(to) = g.node(&r.address) else { continue };
        for dep in &r.depends_on {
            if let Some(from) = g.node(dep) {
                g.graph.add_edge(from, to, ());
            }
        }
    }
}

/// Step 3: every strongly connected component with more than one node, or a
/// node depending on itself, is a cycle; one diagnostic per cycle names every
/// resource on it, in the order of the cycle.
pub fn find_cycles(g: &ResourceGraph) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let mut components = tarjan_scc(&g.graph);
    // Report in declaration order.
    for c in &mut components {
        c.sort();
    }
    components.sort();
    for component in components {
        let self_loop = component.len() == 1
            && component
                .first()
                .is_some_and(|n| g.graph.find_edge(*n, *n).is_some());
        if component.len() < 2 && !self_loop {
            continue;
        }
        let path = cycle_path(g, &component);
        let names: Vec<&str> = path
            .iter()
            .filter_map(|n| g.graph.node_weight(*n))
            .map(|w| w.address.as_str())
            .collect();
        let mut shown = names.clone();
        if let Some(first) = names.first() {
            shown.push(first);
        }
        let mut d = Diagnostic::error(
            Code::DependencyCycle,
            format!("dependency cycle: {}", shown.join(" → ")),
        );
        for (i, n) in path.iter().enumerate() {
            let Some(w) = g.graph.node_weight(*n) else {
                continue;
            };
            let next = path
                .get(i + 1)
                .or(path.first())
                .and_then(|m| g.graph.node_weight(*m));
            let label = match next {
                Some(nx) => format!("`{}` is needed by `{}`", w.address, nx.address),
                None => format!("`{}` is on the cycle", w.address),
            };
            d = d.label(w.span, label);
        }
        out.push(d.help(
            "resources must be creatable in some order: remove one reference or `depends_on` of the cycle, or pass the value through a param",
        ));
    }
    out
}

/// One simple cycle through the nodes of a strongly connected component,
/// starting at its first node (a depth-first search inside the component).
fn cycle_path(g: &ResourceGraph, component: &[NodeIndex]) -> Vec<NodeIndex> {
    let Some(&start) = component.first() else {
        return Vec::new();
    };
    if component.len() == 1 {
        return vec![start];
    }
    let inside = |n: NodeIndex| component.contains(&n);
    // Iterative DFS for a path start → … → start.
    let mut stack: Vec<(NodeIndex, Vec<NodeIndex>)> = vec![(start, successors(g, start, &inside))];
    let mut on_path = vec![start];
    while let Some((_, next)) = stack.last_mut() {
        match next.pop() {
            Some(m) if m == start => return on_path,
            Some(m) if !on_path.contains(&m) => {
                on_path.push(m);
                let succ = successors(g, m, &inside);
                stack.push((m, succ));
            }
            Some(_) => {}
            None => {
                stack.pop();
                on_path.pop();
            }
        }
    }
    component.to_vec()
}

fn successors(g: &ResourceGraph, n: NodeIndex, inside: &dyn Fn(NodeIndex) -> bool) -> Vec<NodeIndex> {
    let mut v: Vec<NodeIndex> = g
        .graph
        .edges_directed(n, Direction::Outgoing)
        .map(|e| e.target())
        .filter(|m| inside(*m))
        .collect();
    // Popped from the end: visit in declaration order.
    v.sort_by(|a, b| b.cmp(a));
    v
}

// ------------------------------------------------------------------ rendering

/// Graphviz DOT: one node per resource (address and type), edges from
/// dependency to dependent. `dot -Tsvg` renders it.
pub fn to_dot(g: &ResourceGraph, title: &str) -> String {
    let mut out = String::new();
    out.push_str(&format!("digraph {} {{\n", dot_id(title)));
    out.push_str("  rankdir=LR;\n  node [shape=box, fontname=\"Helvetica\"];\n");
    for n in g.graph.node_indices() {
        if let Some(w) = g.graph.node_weight(n) {
            out.push_str(&format!(
                "  {} [label={}];\n",
                dot_id(&w.address),
                dot_id(&format!("{}\n{}", w.address, w.schema))
            ));
        }
    }
    for e in sorted_edges(g) {
        out.push_str(&format!("  {} -> {};\n", dot_id(e.0), dot_id(e.1)));
    }
    out.push_str("}\n");
    out
}

/// `{"nodes": [{"address", "type", "depends_on"}], "edges": [{"from", "to"}]}`
pub fn to_json(g: &ResourceGraph) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = g
        .graph
        .node_indices()
        .filter_map(|n| g.graph.node_weight(n))
        .map(|w| {
            serde_json::json!({
                "address": w.address,
                "type": w.schema,
                "depends_on": g.dependencies(&w.address),
            })
        })
        .collect();
    let edges: Vec<serde_json::Value> = sorted_edges(g)
        .into_iter()
        .map(|(from, to)| serde_json::json!({ "from": from, "to": to }))
        .collect();
    serde_json::json!({ "nodes": nodes, "edges": edges })
}

/// One line per resource in creation order: `address (type) ← dependencies`.
pub fn to_text(g: &ResourceGraph) -> String {
    let order: Vec<String> = match g.creation_order() {
        Some(o) => o.into_iter().map(str::to_string).collect(),
        None => g
            .graph
            .node_indices()
            .filter_map(|n| g.graph.node_weight(n))
            .map(|w| w.address.clone())
            .collect(),
    };
    let mut out = String::new();
    for address in order {
        let Some(w) = g.node(&address).and_then(|n| g.graph.node_weight(n)) else {
            continue;
        };
        let deps = g.dependencies(&address);
        if deps.is_empty() {
            out.push_str(&format!("{} ({})\n", w.address, w.schema));
        } else {
            out.push_str(&format!("{} ({}) ← {}\n", w.address, w.schema, deps.join(", ")));
        }
    }
    out
}

fn sorted_edges(g: &ResourceGraph) -> Vec<(&str, &str)> {
    let mut edges: Vec<(NodeIndex, NodeIndex)> = g
        .graph
        .edge_references()
        .map(|e| (e.source(), e.target()))
        .collect();
    edges.sort();
    edges
        .into_iter()
        .filter_map(|(a, b)| {
            Some((
                g.graph.node_weight(a)?.address.as_str(),
                g.graph.node_weight(b)?.address.as_str(),
            ))
        })
        .collect()
}

/// A DOT identifier: always quoted, with `"` and `\` escaped.
fn dot_id(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use tpt_lang::program::SchemaId;

    fn r(address: &str, deps: &[&str]) -> ResourceInstance {
        ResourceInstance {
            address: address.into(),
            name: address.split('[').next().unwrap_or(address).into(),
            schema: SchemaId(0),
            schema_name: "test.S".into(),
            kind: "test.S".into(),
            inputs: Default::default(),
            depends_on: deps.iter().map(|d| d.to_string()).collect::<BTreeSet<_>>(),
            span: Span::default(),
            lifecycle: Default::default(),
        }
    }

    #[test]
    fn nodes_are_unique_per_address() {
        let mut g = ResourceGraph::default();
        add_nodes(&mut g, &[r("a", &[]), r("b", &[]), r("a", &[])]);
        assert_eq!(g.len(), 2);
        assert!(g.node("a").is_some() && g.node("c").is_none());
    }

    #[test]
    fn edges_go_from_dependency_to_dependent() {
        let rs = [
            r("db", &[]),
            r("app", &["db", "missing"]),
            r("dns", &["app", "app"]),
        ];
        let mut g = ResourceGraph::default();
        add_nodes(&mut g, &rs);
        add_edges(&mut g, &rs);
        assert_eq!(
            g.graph.edge_count(),
            2,
            "unknown addresses and repeats add no edge"
        );
        // A repeated address adds neither a node nor edges.
        let again = [r("db", &[]), r("app", &["db"]), r("app", &["db"])];
        let mut g2 = ResourceGraph::default();
        add_nodes(&mut g2, &again);
        add_edges(&mut g2, &again);
        assert_eq!(g2.graph.edge_count(), 1);
        assert_eq!(g.dependencies("app"), ["db"]);
        assert_eq!(g.dependents("db"), ["app"]);
        assert_eq!(g.creation_order(), Some(vec!["db", "app", "dns"]));
    }

    #[test]
    fn creation_order_keeps_declaration_order_among_independent_resources() {
        let g = build(&[r("z", &[]), r("a", &["z"]), r("m", &[]), r("b", &["m"])]).ok();
        let order = g.as_ref().and_then(|g| g.creation_order());
        assert_eq!(order, Some(vec!["z", "a", "m", "b"]));
    }

    #[test]
    fn each_cycle_is_one_diagnostic_naming_all_its_resources() {
        let rs = [
            r("a", &["c"]),
            r("b", &["a"]),
            r("c", &["b"]),
            r("self", &["self"]),
            r("ok", &["a"]),
        ];
        let diags = build(&rs).err().unwrap_or_default();
        assert_eq!(diags.len(), 2);
        assert_eq!(diags[0].message, "dependency cycle: a → b → c → a");
        assert_eq!(diags[0].labels.len(), 3);
        assert_eq!(diags[1].message, "dependency cycle: self → self");
        assert!(diags
            .iter()
            .all(|d| d.code == Code::DependencyCycle && d.help.is_some()));
    }

    #[test]
    fn renderings() {
        let g = build(&[r("db", &[]), r(r#"app["x"]"#, &["db"])]).unwrap_or_default();
        let dot = to_dot(&g, "prod");
        assert!(dot.starts_with("digraph \"prod\" {"));
        assert!(dot.contains(r#""db" -> "app[\"x\"]";"#), "{dot}");
        assert_eq!(to_text(&g), "db (test.S)\napp[\"x\"] (test.S) ← db\n");
        let json = to_json(&g);
        assert_eq!(json["edges"][0]["from"], "db");
        assert_eq!(json["nodes"][1]["depends_on"][0], "db");
    }
}
