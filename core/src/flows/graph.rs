//! Inferring a flow's dependencies from its jobs' data: job B depends on
//! job A when B reads what A writes, the same data source or the same
//! location, where an output directory also covers the paths below it.

use std::collections::{BTreeMap, BTreeSet};

use crate::error::{Error, Result};

/// Where a data source points, normalised so that spellings of one place
/// compare equal: `file:///a/b/` and `/a/b` for files; `hdfs://nn:8020/x`
/// and `/x` on the cluster's own HDFS.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Location {
    scheme: String,
    /// `host:port`, or empty for "the cluster's default".
    authority: String,
    segments: Vec<String>,
}

impl Location {
    pub fn parse(kind: &str, url: &str) -> Result<Self> {
        if url.contains("%JOB_EXEC_ID%") || url.contains("%RANDSTR(") {
            return Err(Error::Validation(format!(
                "'{url}' changes with every execution (%JOB_EXEC_ID%, %RANDSTR%): a flow needs fixed locations to see who reads what another writes"
            )));
        }
        let (scheme, rest) = match url.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => (kind.to_ascii_lowercase(), url),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let segments = path.split('/').filter(|s| !s.is_empty() && *s != ".").map(str::to_string).collect();
        Ok(Self { scheme, authority: authority.to_ascii_lowercase(), segments })
    }

    /// Whether reading `self` reads (part of) what writing `output` writes.
    pub fn within(&self, output: &Location) -> bool {
        self.scheme == output.scheme
            && (self.authority == output.authority || self.authority.is_empty() || output.authority.is_empty())
            && self.segments.starts_with(&output.segments)
    }

    /// Whether two outputs would write over each other.
    pub fn overlaps(&self, other: &Location) -> bool {
        self.within(other) || other.within(self)
    }
}

/// One job of a flow, as the graph sees it.
pub struct Node<'a> {
    pub key: &'a str,
    /// (data source id, location) pairs.
    pub inputs: Vec<(&'a str, Location)>,
    pub outputs: Vec<(&'a str, Location)>,
}

/// An inferred dependency: `to` reads `via`, which `from` writes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    /// The data source id the consumer reads.
    pub via: String,
}

/// The edges, after checking that no two jobs write the same place and
/// that there is no cycle. Errors name the jobs.
pub fn infer(nodes: &[Node<'_>]) -> Result<Vec<Edge>> {
    for (i, a) in nodes.iter().enumerate() {
        for b in &nodes[i + 1..] {
            for (a_ds, a_loc) in &a.outputs {
                for (b_ds, b_loc) in &b.outputs {
                    if a_ds == b_ds || a_loc.overlaps(b_loc) {
                        return Err(Error::Validation(format!(
                            "jobs '{}' and '{}' both write the same output ({} and {})",
                            a.key, b.key, a_ds, b_ds
                        )));
                    }
                }
            }
        }
    }
    let mut edges = Vec::new();
    for consumer in nodes {
        for producer in nodes {
            for (in_ds, in_loc) in &consumer.inputs {
                let reads = producer.outputs.iter().any(|(out_ds, out_loc)| out_ds == in_ds || in_loc.within(out_loc));
                if reads && !edges.iter().any(|e: &Edge| e.from == producer.key && e.to == consumer.key) {
                    edges.push(Edge {
                        from: producer.key.to_string(),
                        to: consumer.key.to_string(),
                        via: in_ds.to_string(),
                    });
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(nodes, &edges) {
        return Err(Error::Validation(format!("the jobs' data form a cycle: {}", cycle.join(" → "))));
    }
    Ok(edges)
}

/// A cycle as the keys along it (first key repeated at the end), if any.
fn find_cycle(nodes: &[Node<'_>], edges: &[Edge]) -> Option<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for e in edges {
        next.entry(e.from.as_str()).or_default().push(e.to.as_str());
    }
    // Depth-first, keeping the path: a node met again on the path closes a cycle.
    fn visit<'a>(
        node: &'a str,
        next: &BTreeMap<&'a str, Vec<&'a str>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| *n == node) {
            let mut cycle: Vec<String> = path[start..].iter().map(|s| s.to_string()).collect();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node);
        for to in next.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(to, next, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node);
        None
    }
    let mut done = BTreeSet::new();
    nodes.iter().find_map(|n| visit(n.key, &next, &mut Vec::new(), &mut done))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loc(url: &str) -> Location {
        Location::parse("file", url).unwrap()
    }

    fn node<'a>(key: &'a str, inputs: &[(&'a str, &str)], outputs: &[(&'a str, &str)]) -> Node<'a> {
        Node {
            key,
            inputs: inputs.iter().map(|(id, url)| (*id, loc(url))).collect(),
            outputs: outputs.iter().map(|(id, url)| (*id, loc(url))).collect(),
        }
    }

    #[test]
    fn spellings_of_one_place_compare_equal() {
        assert_eq!(loc("file:///data/x/"), loc("/data/x"));
        assert_eq!(loc("/data//x/./"), loc("/data/x"));
        assert!(
            Location::parse("hdfs", "/user/a/in")
                .unwrap()
                .within(&Location::parse("hdfs", "hdfs://nn:8020/user/a").unwrap())
        );
        assert!(!loc("/data/xy").within(&loc("/data/x")));
    }

    #[test]
    fn reading_below_an_output_directory_is_a_dependency() {
        let nodes = [
            node("a", &[], &[("ds1", "/w/out")]),
            node("b", &[("ds2", "file:///w/out/part-00000")], &[("ds3", "/w/b")]),
        ];
        assert_eq!(infer(&nodes).unwrap(), vec![Edge { from: "a".into(), to: "b".into(), via: "ds2".into() }]);
    }

    #[test]
    fn cycles_and_double_writers_are_refused_by_name() {
        let cycle = [node("a", &[("y", "/y")], &[("x", "/x")]), node("b", &[("x2", "/x")], &[("y2", "/y")])];
        let e = infer(&cycle).unwrap_err().to_string();
        assert!(e.contains("cycle") && e.contains('a') && e.contains('b'), "{e}");
        let twice = [node("a", &[], &[("o", "/o")]), node("b", &[], &[("o2", "/o/")])];
        let e = infer(&twice).unwrap_err().to_string();
        assert!(e.contains("'a'") && e.contains("'b'"), "{e}");
    }

    #[test]
    fn placeholders_cannot_take_part() {
        assert!(Location::parse("file", "/out/%JOB_EXEC_ID%").is_err());
    }
}
