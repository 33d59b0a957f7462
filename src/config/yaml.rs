//! A YAML tree that remembers where every node came from and keeps scalars as
//! the text the user wrote. melange decodes into Go string fields, so
//! `version: 0.17` must stay "0.17" and `extract: true` "true"; a typed YAML
//! decoder would lose that. Nulls (`~`, `null`, empty) become "".

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use super::error::{LResult, Located, Pos};

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// The node's content.
    pub value: Value,
}

/// The three YAML shapes, plus null kept apart so an empty `key:` can mean
/// "empty list" or "empty string" depending on what the schema wants.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// Any scalar, as written (quotes removed, escapes applied).
    Scalar(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping in source order; keys are scalars.
    Map(Vec<(Key, Node)>),
}

/// A mapping key with its position (for "unknown key" errors).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// The key's text.
    pub text: String,
    /// Where the key is.
    pub pos: Pos,
}

impl Node {
    /// A short noun for error messages ("a mapping", "a list", …).
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// How deep lists and mappings may nest. The tree is built and walked
/// recursively, so unbounded nesting (`- - - - …` is two bytes a level)
/// would overflow the stack; real build files nest about ten levels.
const MAX_DEPTH: usize = 128;

/// How many nodes anchors and aliases may copy in all. Each alias is a copy
/// of its anchor's subtree (and each anchor keeps one), so a few lines of
/// nested aliases (a "billion laughs") would otherwise take gigabytes.
const MAX_COPIED_NODES: usize = 100_000;

/// Mappings up to this many keys find duplicates by scanning (most do).
const SMALL_MAPPING: usize = 16;

/// Parse one YAML document. An empty file is an empty mapping.
pub fn parse(text: &str) -> LResult<Node> {
    let mut builder = Builder {
        parser: Parser::new_from_str(text),
        anchors: BTreeMap::new(),
        depth: 0,
        copied_nodes: 0,
    };
    builder.document()
}

fn pos_of(mark: &Marker) -> Pos {
    // yaml-rust2 lines are 1-based, columns 0-based.
    Pos {
        line: mark.line(),
        col: mark.col() + 1,
    }
}

struct Builder<'a> {
    parser: Parser<std::str::Chars<'a>>,
    /// Anchored nodes with their size (nodes, depth).
    anchors: BTreeMap<usize, (Node, Size)>,
    /// Lists and mappings open around the current node.
    depth: usize,
    /// Nodes copied for anchors and aliases so far.
    copied_nodes: usize,
}

/// How many nodes a subtree holds and how deep its lists and mappings nest.
#[derive(Clone, Copy)]
struct Size {
    nodes: usize,
    depth: usize,
}

impl Size {
    fn of(node: &Node) -> Size {
        let children: Box<dyn Iterator<Item = &Node>> = match &node.value {
            Value::Null | Value::Scalar(_) => return Size { nodes: 1, depth: 0 },
            Value::Seq(items) => Box::new(items.iter()),
            Value::Map(entries) => Box::new(entries.iter().map(|(_, value)| value)),
        };
        children
            .map(Size::of)
            .fold(Size { nodes: 1, depth: 1 }, |size, child| Size {
                nodes: size.nodes + child.nodes,
                depth: size.depth.max(child.depth + 1),
            })
    }
}

impl Builder<'_> {
    fn next(&mut self) -> LResult<(Event, Pos)> {
        match self.parser.next_token() {
            Ok((event, mark)) => Ok((event, pos_of(&mark))),
            Err(e) => Err(Located::new(
                pos_of(e.marker()),
                format!("YAML syntax error: {}", e.info()),
            )),
        }
    }

    fn document(&mut self) -> LResult<Node> {
        let root = loop {
            match self.next()? {
                (Event::StreamStart, _) | (Event::DocumentStart, _) => continue,
                (Event::StreamEnd, pos) => {
                    return Ok(Node {
                        pos,
                        value: Value::Map(Vec::new()),
                    })
                }
                (event, pos) => break self.node(event, pos)?,
            }
        };
        loop {
            match self.next()? {
                (Event::DocumentEnd, _) => continue,
                (Event::StreamEnd, _) => return Ok(root),
                (_, pos) => {
                    return Err(Located::new(
                        pos,
                        "the build file must hold a single YAML document",
                    ))
                }
            }
        }
    }

    fn node(&mut self, event: Event, pos: Pos) -> LResult<Node> {
        let (node, anchor) = match event {
            Event::Scalar(text, style, anchor, _tag) => {
                let value = if style == TScalarStyle::Plain && is_null(&text) {
                    Value::Null
                } else {
                    Value::Scalar(text)
                };
                (Node { pos, value }, anchor)
            }
            Event::SequenceStart(anchor, _) => (self.sequence(pos)?, anchor),
            Event::MappingStart(anchor, _) => (self.mapping(pos)?, anchor),
            Event::Alias(id) => {
                let size = match self.anchors.get(&id) {
                    Some((_, size)) => *size,
                    None => return Err(Located::new(pos, "alias to an unknown anchor")),
                };
                if self.depth + size.depth > MAX_DEPTH {
                    return Err(Located::new(
                        pos,
                        format!(
                            "this alias nests YAML lists and mappings deeper than {MAX_DEPTH} levels"
                        ),
                    ));
                }
                self.copied(size.nodes, pos)?;
                return Ok(self.anchors[&id].0.clone());
            }
            other => {
                return Err(Located::new(
                    pos,
                    format!("unexpected YAML event {other:?}"),
                ))
            }
        };
        if anchor != 0 {
            let size = Size::of(&node);
            self.copied(size.nodes, pos)?;
            self.anchors.insert(anchor, (node.clone(), size));
        }
        Ok(node)
    }

    /// Count `nodes` more copied for an anchor or an alias at `pos`.
    fn copied(&mut self, nodes: usize, pos: Pos) -> LResult<()> {
        self.copied_nodes = self.copied_nodes.saturating_add(nodes);
        if self.copied_nodes > MAX_COPIED_NODES {
            return Err(Located::new(
                pos,
                format!("YAML anchors and aliases copy more than {MAX_COPIED_NODES} nodes"),
            ));
        }
        Ok(())
    }

    /// Open a list or mapping at `pos`, refusing nesting past [`MAX_DEPTH`].
    fn enter(&mut self, pos: Pos) -> LResult<()> {
        if self.depth >= MAX_DEPTH {
            return Err(Located::new(
                pos,
                format!("YAML lists and mappings nest deeper than {MAX_DEPTH} levels"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn sequence(&mut self, pos: Pos) -> LResult<Node> {
        self.enter(pos)?;
        let mut items = Vec::new();
        loop {
            match self.next()? {
                (Event::SequenceEnd, _) => {
                    self.depth -= 1;
                    return Ok(Node {
                        pos,
                        value: Value::Seq(items),
                    });
                }
                (event, item_pos) => items.push(self.node(event, item_pos)?),
            }
        }
    }

    fn mapping(&mut self, pos: Pos) -> LResult<Node> {
        self.enter(pos)?;
        let mut entries: Vec<(Key, Node)> = Vec::new();
        // Keys by hash once the mapping is big (a `data:` set of 100,000
        // items would make the scan quadratic); a scan while it is small.
        let mut by_hash: HashMap<u64, usize> = HashMap::new();
        loop {
            let (event, key_pos) = self.next()?;
            if matches!(event, Event::MappingEnd) {
                self.depth -= 1;
                return Ok(Node {
                    pos,
                    value: Value::Map(entries),
                });
            }
            let key_node = self.node(event, key_pos)?;
            let text = match key_node.value {
                Value::Scalar(text) => text,
                Value::Null => String::new(),
                _ => return Err(Located::new(key_pos, "mapping keys must be scalars")),
            };
            let earlier = if entries.len() < SMALL_MAPPING {
                entries.iter().position(|(k, _)| k.text == text)
            } else {
                if by_hash.is_empty() {
                    for (i, (key, _)) in entries.iter().enumerate() {
                        by_hash.entry(hash(&key.text)).or_insert(i);
                    }
                }
                match by_hash.entry(hash(&text)) {
                    Entry::Occupied(i) if entries[*i.get()].0.text == text => Some(*i.get()),
                    // Another key with the same hash: rare, so scan.
                    Entry::Occupied(_) => entries.iter().position(|(k, _)| k.text == text),
                    Entry::Vacant(slot) => {
                        slot.insert(entries.len());
                        None
                    }
                }
            };
            if let Some(i) = earlier {
                return Err(Located::new(
                    key_pos,
                    format!(
                        "key {text:?} is already defined at line {}",
                        entries[i].0.pos.line
                    ),
                ));
            }
            let (event, value_pos) = self.next()?;
            let value = self.node(event, value_pos)?;
            entries.push((Key { text, pos: key_pos }, value));
        }
    }
}

fn hash(text: &str) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(text)
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(node: &Node) -> &str {
        match &node.value {
            Value::Scalar(s) => s,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    fn get<'a>(node: &'a Node, key: &str) -> &'a Node {
        match &node.value {
            Value::Map(entries) => &entries.iter().find(|(k, _)| k.text == key).unwrap().1,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn scalars_keep_their_raw_text() {
        let doc = parse("version: 0.17\nkey: 3.10\nflag: true\nn: 0x10\nq: '07'\n").unwrap();
        assert_eq!(scalar(get(&doc, "version")), "0.17");
        assert_eq!(scalar(get(&doc, "key")), "3.10");
        assert_eq!(scalar(get(&doc, "flag")), "true");
        assert_eq!(scalar(get(&doc, "n")), "0x10");
        assert_eq!(scalar(get(&doc, "q")), "07");
    }

    #[test]
    fn nulls_are_distinguished_but_quoted_null_is_text() {
        let doc = parse("a:\nb: ~\nc: 'null'\n").unwrap();
        assert_eq!(get(&doc, "a").value, Value::Null);
        assert_eq!(get(&doc, "b").value, Value::Null);
        assert_eq!(scalar(get(&doc, "c")), "null");
    }

    #[test]
    fn positions_are_one_based() {
        let doc = parse("package:\n  name: hello\n").unwrap();
        let name = get(get(&doc, "package"), "name");
        assert_eq!(name.pos, Pos { line: 2, col: 9 });
        let Value::Map(entries) = &get(&doc, "package").value else {
            panic!()
        };
        assert_eq!(entries[0].0.pos, Pos { line: 2, col: 3 });
    }

    #[test]
    fn aliases_resolve_to_their_anchor() {
        let doc = parse("a: &x [1, 2]\nb: *x\n").unwrap();
        assert_eq!(get(&doc, "a").value, get(&doc, "b").value);
    }

    #[test]
    fn duplicate_keys_are_rejected_with_both_lines() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos, Pos { line: 3, col: 1 });
        assert!(
            err.message.contains("already defined at line 1"),
            "{}",
            err.message
        );
    }

    #[test]
    fn duplicate_keys_in_a_big_mapping_are_found_by_hash() {
        let mut text: String = (0..1000).map(|i| format!("k{i}: v\n")).collect();
        text.push_str("k500: again\n");
        let err = parse(&text).unwrap_err();
        assert_eq!(err.pos, Pos { line: 1001, col: 1 });
        assert!(
            err.message.contains("already defined at line 501"),
            "{}",
            err.message
        );
        assert!(parse(&text[..text.len() - 12]).is_ok());
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let err = parse("a: [1, 2\nb: c\n").unwrap_err();
        assert!(
            err.message.starts_with("YAML syntax error"),
            "{}",
            err.message
        );
        assert!(err.pos.line >= 1);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // Found with the fuzz target (fuzz/, `plan`): `- ` is one more
        // level per two bytes, and 20,000 levels overflowed the stack.
        let err = parse(&"- ".repeat(100_000)).unwrap_err();
        assert_eq!(err.pos, Pos { line: 1, col: 257 });
        assert!(
            err.message.contains("deeper than 128 levels"),
            "{}",
            err.message
        );
        let mappings: String = (0..200).map(|i| format!("{}a:\n", " ".repeat(i))).collect();
        assert_eq!(parse(&mappings).unwrap_err().pos.line, MAX_DEPTH + 1);
        assert!(parse(&format!("{}x", "- ".repeat(MAX_DEPTH))).is_ok());
    }

    #[test]
    fn alias_expansion_is_bounded() {
        // Found with the fuzz target (fuzz/, `plan`): nine aliases of nine
        // aliases … eight levels down took more than 2 GB.
        let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
        for i in 1..8 {
            let aliases = vec![format!("*a{}", i - 1); 9].join(", ");
            text += &format!("a{i}: &a{i} [{aliases}]\n");
        }
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("copy more than 100000 nodes"),
            "{}",
            err.message
        );
        // a4 (66,430 nodes): 66,429 copied by its aliases, 66,430 by its anchor.
        assert_eq!(err.pos.line, 5);
        // So do nested anchors, each keeping a copy of what it holds.
        let open: String = (0..120).map(|i| format!("&a{i} [")).collect();
        let text = format!(
            "a: {open}{}{}",
            vec!["x"; 25_000].join(", "),
            "]".repeat(120)
        );
        let err = parse(&text).unwrap_err();
        assert!(err.message.contains("copy more than"), "{}", err.message);
        // Depth through aliases counts too: each anchor adds its own levels.
        let mut text = String::from("a0: &a0 x\n");
        for i in 1..4 {
            let open = "[".repeat(60);
            let close = "]".repeat(60);
            text += &format!("a{i}: &a{i} {open}*a{}{close}\n", i - 1);
        }
        let err = parse(&text).unwrap_err();
        assert!(
            err.message.contains("deeper than 128 levels"),
            "{}",
            err.message
        );
        // a1 reaches 61 levels, a2 121, a3 would reach 181.
        assert_eq!(err.pos.line, 4);
    }

    #[test]
    fn empty_file_is_an_empty_mapping() {
        assert_eq!(parse("").unwrap().value, Value::Map(Vec::new()));
    }
}
